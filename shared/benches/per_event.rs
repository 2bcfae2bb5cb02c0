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

/// The mix (benches/make_mix.py): every event of a class per iteration,
/// full against floor, and the whole mix.
fn mix(c: &mut Criterion) {
    let relay = Relay::load(Settings::default()).expect("embedded config");
    let received = ReceivedAt::now();
    let dir = format!("{}/../benches/events", env!("CARGO_MANIFEST_DIR"));
    let events = std::fs::read_to_string(format!("{dir}/mix.jsonl")).expect("the mix");
    let classes = std::fs::read_to_string(format!("{dir}/mix-classes.txt")).expect("its classes");
    let mut by_class: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (class, event) in classes.lines().zip(events.lines()) {
        by_class.entry(class).or_default().push(event);
        by_class.entry("all").or_default().push(event);
    }
    let mut group = c.benchmark_group("mix");
    group.measurement_time(std::time::Duration::from_secs(3));
    for (class, events) in &by_class {
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_with_input(BenchmarkId::new("floor", class), events, |b, events| {
            b.iter(|| {
                for raw in events {
                    black_box(floor(black_box(raw)));
                }
            })
        });
        group.bench_with_input(BenchmarkId::new("full", class), events, |b, events| {
            b.iter(|| {
                for raw in events {
                    black_box(full(&relay, black_box(raw), &received));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, per_event, mix);
criterion_main!(benches);
