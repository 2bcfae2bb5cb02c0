//! The per-event path against the floor (envelope read with the detail kept
//! raw, entry written with it), on a small, a typical and a large event.
//! Times are noisy on a shared machine: `make bench` also counts
//! instructions with callgrind (examples/per_event.rs).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::hint::black_box;
use trailrelay_shared::{Prepared, ReceivedAt, Relay, Settings};

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

fn floor(raw: &str) -> String {
    let e: FloorEnvelope = serde_json::from_str(raw).expect("a valid event");
    serde_json::to_string(&FloorEntry {
        event_bus_name: "trailrelay-other",
        source: "trailrelay",
        detail_type: e.detail_type,
        detail: e.detail.get(),
        time: e.time,
        resources: &e.resources,
    })
    .expect("serializable")
}

fn full(relay: &Relay, raw: &str, received: &ReceivedAt) -> String {
    match relay.prepare(raw, received) {
        Prepared::Entry(e) => serde_json::to_string(&e.entry).expect("serializable"),
        other => panic!("not an entry: {other:?}"),
    }
}

fn per_event(c: &mut Criterion) {
    let relay = Relay::load(Settings::default()).expect("embedded config");
    let received = ReceivedAt::now();
    let mut group = c.benchmark_group("per_event");
    for name in ["small", "typical", "large"] {
        let path = format!(
            "{}/../benches/events/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let raw = std::fs::read_to_string(&path).expect("bench event");
        let raw = raw.trim().to_owned();
        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_with_input(BenchmarkId::new("floor", name), &raw, |b, raw| {
            b.iter(|| floor(black_box(raw)))
        });
        group.bench_with_input(BenchmarkId::new("full", name), &raw, |b, raw| {
            b.iter(|| full(&relay, black_box(raw), &received))
        });
    }
    group.finish();
}

criterion_group!(benches, per_event);
criterion_main!(benches);
