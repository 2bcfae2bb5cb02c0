//! One event through the relay's per-event path (or the floor), many
//! times: for `valgrind --tool=callgrind`, whose instruction counts are
//! repeatable on a noisy machine. `make bench` runs it.
//!
//!     per_event full|floor EVENT_FILE ITERATIONS   (events: benches/events/)
//!
//! A `.jsonl` file (the mix, benches/events/mix.jsonl) is one event a line:
//! each iteration sends every line.

#[path = "../benches/common/mod.rs"]
mod paths;

use paths::{floor, full};
use std::hint::black_box;
use trailrelay_shared::{ReceivedAt, Relay, Settings};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, file, n) = match args.as_slice() {
        [_, mode, file, n] => (
            mode.as_str(),
            file.as_str(),
            n.parse::<usize>().expect("a count"),
        ),
        _ => panic!("usage: per_event full|floor EVENT_FILE ITERATIONS"),
    };
    let text = std::fs::read_to_string(file).expect("readable");
    let events: Vec<&str> = if file.ends_with(".jsonl") {
        text.lines().filter(|l| !l.trim().is_empty()).collect()
    } else {
        vec![text.trim()]
    };
    let relay = Relay::load(Settings::default()).expect("embedded config");
    let received = ReceivedAt::now();
    let mut bytes = 0;
    for _ in 0..n {
        for raw in &events {
            let out = match mode {
                "full" => full(&relay, black_box(raw), &received),
                "floor" => floor(black_box(raw)),
                _ => panic!("mode is full or floor"),
            };
            bytes += black_box(out).len();
        }
    }
    println!("{mode}: {} events, {bytes} bytes out", n * events.len());
}
