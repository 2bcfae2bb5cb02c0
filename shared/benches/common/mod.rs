//! The floor of the per-event path, shared by the criterion bench and the
//! callgrind example: read the envelope with the detail kept raw, write an
//! entry with that detail as its string. No classification, no enrichment.

// Each of its three users (the criterion bench, the per-event and the route
// examples) calls a part of it.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use trailrelay_shared::{Prepared, ReceivedAt, Relay};

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
pub struct FloorEntry<'a> {
    event_bus_name: &'a str,
    source: &'a str,
    detail_type: &'a str,
    detail: &'a str,
    time: &'a str,
    resources: &'a [String],
}

pub fn floor(raw: &str) -> String {
    with_floor_entry(raw, |entry| {
        serde_json::to_string(entry).expect("serializable")
    })
}

/// The floor's entry, handed to `write` (the route floor writes it as
/// `route` does, with sonic-rs).
pub fn with_floor_entry<R>(raw: &str, write: impl FnOnce(&FloorEntry<'_>) -> R) -> R {
    let envelope: FloorEnvelope = serde_json::from_str(raw).expect("a valid event");
    write(&FloorEntry {
        event_bus_name: "trailrelay-other",
        source: "trailrelay",
        detail_type: envelope.detail_type,
        detail: envelope.detail.get(),
        time: envelope.time,
        resources: &envelope.resources,
    })
}

/// The full path, as `trailrelay route` runs it per line.
pub fn full(relay: &Relay, raw: &str, received: &ReceivedAt) -> String {
    match relay.prepare(raw, received) {
        Prepared::Entry(e) => serde_json::to_string(&e.entry).expect("serializable"),
        other => panic!("not an entry: {other:?}"),
    }
}
