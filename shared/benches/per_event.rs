//! The per-event path against the floor (envelope read with the detail kept
//! raw, entry written with it), on a small, a typical and a large event.
//! Times are noisy on a shared machine: `make bench` also counts
//! instructions with callgrind (examples/per_event.rs).

#[path = "common/mod.rs"]
mod paths;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use paths::{floor, full};
use std::hint::black_box;
use trailrelay_shared::{ReceivedAt, Relay, Settings};

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
