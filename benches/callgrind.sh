#!/usr/bin/env bash
# Instructions per event, full path against the floor, counted by callgrind
# (repeatable on a noisy machine): (count for N events - count for 0) / N.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p trailrelay-shared --example per_event
bin=target/release/examples/per_event
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 >/dev/null | grep -o 'Collected : [0-9]*' | grep -o '[0-9]*$'; }
printf '%-8s %12s %12s %6s\n' event floor full ratio
for event in small typical large; do
  n=2000; [ "$event" = large ] && n=100
  declare -A per
  for mode in floor full; do
    zero=$(count "$mode" "benches/events/$event.json" 0)
    many=$(count "$mode" "benches/events/$event.json" "$n")
    per[$mode]=$(( (many - zero) / n ))
  done
  printf '%-8s %12d %12d %6s\n' "$event" "${per[floor]}" "${per[full]}" "$(python3 -c "print(f'{${per[full]}/${per[floor]}:.2f}x')")"
done
# The mix (benches/make_mix.py): every one of its 400 events per pass.
declare -A per
for mode in floor full; do
  zero=$(count "$mode" benches/events/mix.jsonl 0)
  many=$(count "$mode" benches/events/mix.jsonl 10)
  per[$mode]=$(( (many - zero) / 4000 ))
done
printf '%-8s %12d %12d %6s\n' mix "${per[floor]}" "${per[full]}" "$(python3 -c "print(f'{${per[full]}/${per[floor]}:.2f}x')")"
