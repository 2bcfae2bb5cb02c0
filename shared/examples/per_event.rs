//! One event through the relay's per-event path (or the floor), many
//! times: for `valgrind --tool=callgrind`, whose instruction counts are
//! repeatable on a noisy machine. `make bench` runs it.
//!
//!     per_event full|floor EVENT_FILE ITERATIONS   (events: benches/events/)

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::hint::black_box;
use trailrelay_shared::{Prepared, ReceivedAt, Relay, Settings};

/// The floor: read the envelope with the detail kept raw, write an entry
/// with that detail as its string. No classification, no enrichment.
#[derive(Deserialize)]
struct FloorEnvelope<'a> {
    #[serde(rename = "detail-type", borrow)]
    detail_type: &'a str,
    #[serde(borrow)]
    time: &'a str,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(borrow)]
    detail: &'a RawValue,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct FloorEntry<'a> {
    event_bus_name: &'a str,
    source: &'a str,
    detail_type: &'a str,
    detail: &'a str,
    time: &'a str,
    resources: &'a [String],
}

pub fn floor(raw: &str) -> String {
    let envelope: FloorEnvelope = serde_json::from_str(raw).expect("a valid event");
    serde_json::to_string(&FloorEntry {
        event_bus_name: "trailrelay-other",
        source: "trailrelay",
        detail_type: envelope.detail_type,
        detail: envelope.detail.get(),
        time: envelope.time,
        resources: &envelope.resources,
    })
    .expect("serializable")
}

pub fn full(relay: &Relay, raw: &str, received: &ReceivedAt) -> String {
    match relay.prepare(raw, received) {
        Prepared::Entry(e) => serde_json::to_string(&e.entry).expect("serializable"),
        other => panic!("not an entry: {other:?}"),
    }
}

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
    let raw = std::fs::read_to_string(file).expect("readable");
    let raw = raw.trim();
    let relay = Relay::load(Settings::default()).expect("embedded config");
    let received = ReceivedAt::now();
    let mut bytes = 0;
    for _ in 0..n {
        let out = match mode {
            "full" => full(&relay, black_box(raw), &received),
            "floor" => floor(black_box(raw)),
            _ => panic!("mode is full or floor"),
        };
        bytes += black_box(out).len();
    }
    println!("{mode}: {n} events, {bytes} bytes out");
}
