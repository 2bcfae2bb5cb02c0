#!/usr/bin/env bash
# Events per second of `trailrelay route` on one core, and of the Python
# reference (benches/reference.py) on the same 200,000 events.
set -euo pipefail
cd "$(dirname "$0")/.."
events=target/bench/events-200k.jsonl
mkdir -p target/bench
python3 - "$events" <<'PY'
import sys
lines = [l for l in open("tests/fixtures/events.jsonl")
         if l.startswith('{"version"') and '"detail":{' in l and '"source":"trailrelay' not in l and "fx-messy" not in l]
typical = open("benches/events/typical.json").read()
with open(sys.argv[1], "w") as f:
    for i in range(200000):
        f.write(lines[i % len(lines)] if i % 4 else typical)
PY
cargo build -q --release -p trailrelay
run() { local start end; start=$(date +%s.%N); taskset -c 0 "$@" > /dev/null; end=$(date +%s.%N); python3 -c "print(f'{$end - $start:.2f}')"; }
rust=$(run ./target/release/trailrelay route "$events")
python=$(run python3 benches/reference.py "$events")
python3 -c "
r, p = $rust, $python
print(f'trailrelay route: {r:.2f} s, {200000 / r:,.0f} events/s')
print(f'python reference: {p:.2f} s, {200000 / p:,.0f} events/s')
print(f'ratio: {p / r:.1f}x')"
