#!/usr/bin/env bash
# What `trailrelay route` writes for the bundled fixtures and for a large
# generated file, as SHA-256 sums, with the time the relay received the
# events (the one thing that changes from run to run) blanked. A refactoring that must not change
# behaviour compares these sums before and after:
#   tools/route-baseline.sh > /tmp/after && diff tests/fixtures/route-baseline.sha256 /tmp/after
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p trailrelay
mkdir -p target/baseline
large=target/baseline/events-50k.jsonl
python3 - "$large" <<'PY'
import sys
# Every fixture line (bare records, malformed ones and our own output
# included), then the typical, small and large bench events, cycled.
lines = open("tests/fixtures/events.jsonl").read().splitlines(keepends=True)
for name in ("typical", "small", "large"):
    lines.append(open(f"benches/events/{name}.json").read().strip() + "\n")
with open(sys.argv[1], "w") as f:
    for i in range(50000):
        f.write(lines[i % len(lines)])
PY
for input in tests/fixtures/events.jsonl "$large"; do
  ./target/release/trailrelay route "$input" 2>/dev/null \
    | python3 tools/blank-received-at.py \
    | sha256sum | sed "s|-\$|$(basename "$input")|"
done
