#!/usr/bin/env bash
# Instructions per event, full path against the floor, counted by callgrind
# (repeatable on a noisy machine): (count for N passes - count for 0) / events.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p trailrelay-shared --example per_event
bin=target/release/examples/per_event
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 >/dev/null | grep -o 'Collected : [0-9]*' | grep -o '[0-9]*$'; }
# row NAME FILE PASSES EVENTS_PER_PASS
row() {
  local name=$1 file=$2 passes=$3 events=$(( $3 * $4 ))
  declare -A per
  for mode in floor full; do
    zero=$(count "$mode" "$file" 0)
    many=$(count "$mode" "$file" "$passes")
    per[$mode]=$(( (many - zero) / events ))
  done
  printf '%-8s %12d %12d %6s\n' "$name" "${per[floor]}" "${per[full]}" "$(python3 -c "print(f'{${per[full]}/${per[floor]}:.2f}x')")"
}
printf '%-8s %12s %12s %6s\n' event floor full ratio
row small benches/events/small.json 2000 1
row typical benches/events/typical.json 2000 1
row large benches/events/large.json 100 1
# The mix (benches/make_mix.py): every one of its 400 events per pass.
row mix benches/events/mix.jsonl 10 "$(grep -c . benches/events/mix.jsonl)"
