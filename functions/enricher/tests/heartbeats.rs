//! Heartbeats through the real handler: each records its path's last-seen
//! time in the store, at most once a minute per path, and a store that
//! fails makes the heartbeat come back rather than be lost.

use serde_json::json;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;
use trailrelay_enricher::{Enricher, Response};
use trailrelay_shared::paths::PathKey;
use trailrelay_shared::{Relay, Settings};
use trailrelay_test_support::{sqs_numbered, MemoryBus, MemoryPathStore};

const START: i64 = 1_795_000_000;

fn heartbeat(account: &str, region: &str, id: &str) -> String {
    json!({"version": "0", "id": id, "detail-type": "trailrelay Heartbeat",
        "source": "trailrelay.control", "account": account, "time": "2026-11-26T12:00:00Z",
        "region": region, "resources": [],
        "detail": {"account": account, "region": region, "intervalMinutes": 5}})
    .to_string()
}

struct Rig {
    enricher: Enricher<MemoryBus, Arc<MemoryPathStore>>,
    store: Arc<MemoryPathStore>,
    clock: Arc<AtomicI64>,
}

fn rig() -> Rig {
    let store = Arc::new(MemoryPathStore::default());
    let clock = Arc::new(AtomicI64::new(START));
    let now = clock.clone();
    let enricher = Enricher::new(
        Relay::load(Settings::default()).unwrap(),
        MemoryBus::default(),
    )
    .with_path_store(store.clone())
    .with_clock(Box::new(move || {
        OffsetDateTime::from_unix_timestamp(now.load(Ordering::SeqCst)).unwrap()
    }));
    Rig {
        enricher,
        store,
        clock,
    }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

#[tokio::test]
async fn a_heartbeat_records_its_path_and_publishes_nothing() {
    let rig = rig();
    let (result, counters) = rig
        .enricher
        .handle(&heartbeat("333333333333", "eu-west-1", "h1"), deadline())
        .await;
    assert!(matches!(result, Ok(Response::Direct(ref d)) if d.outcome == "consumed"));
    assert_eq!(counters.heartbeats_recorded, 1);
    assert!(counters.balanced());
    let seen = rig.store.last_seen();
    assert_eq!(
        seen.get(&PathKey::new("333333333333", "eu-west-1")),
        Some(&OffsetDateTime::from_unix_timestamp(START).unwrap())
    );
    assert!(rig.enricher.publisher().accepted().is_empty());
}

#[tokio::test]
async fn a_burst_writes_each_path_at_most_once_a_minute() {
    let rig = rig();
    let paths = [("333333333333", "eu-west-1"), ("444444444444", "us-east-1")];
    // Ten minutes of bursts: 50 heartbeats per path every 10 seconds.
    for step in 0..60 {
        rig.clock.store(START + step * 10, Ordering::SeqCst);
        let bodies: Vec<String> = (0..50)
            .map(|i| {
                let (a, r) = paths[i % 2];
                heartbeat(a, r, &format!("h{step}-{i}"))
            })
            .collect();
        for chunk in bodies.chunks(10) {
            let (result, counters) = rig.enricher.handle(&sqs_numbered(chunk), deadline()).await;
            assert!(
                matches!(result, Ok(Response::Batch(ref b)) if b.batch_item_failures.is_empty())
            );
            assert!(counters.balanced());
        }
    }
    let writes = rig.store.writes();
    for (account, region) in paths {
        let n = writes
            .iter()
            .filter(|k| **k == PathKey::new(account, region))
            .count();
        assert_eq!(
            n, 10,
            "{account} {region}: one write per minute over ten minutes"
        );
    }
}

#[tokio::test]
async fn a_store_that_fails_sends_the_heartbeat_back() {
    let rig = rig();
    rig.store.fail(true);
    let batch = sqs_numbered(&[
        heartbeat("333333333333", "eu-west-1", "h1"),
        heartbeat("444444444444", "eu-west-1", "h2"),
    ]);
    let (result, counters) = rig.enricher.handle(&batch, deadline()).await;
    let failed: Vec<String> = match result {
        Ok(Response::Batch(b)) => b
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(failed, ["m0", "m1"]);
    assert_eq!((counters.failed, counters.consumed), (2, 0));
    assert!(counters.balanced());
    // Once the store is back, the very next heartbeat writes (the failed
    // one did not count against the minute).
    rig.store.fail(false);
    let (_, counters) = rig.enricher.handle(&batch, deadline()).await;
    assert_eq!(counters.heartbeats_recorded, 2);
}

#[tokio::test]
async fn a_heartbeat_naming_no_path_is_consumed_without_a_write() {
    let rig = rig();
    let nameless = json!({"id": "h", "detail-type": "trailrelay Heartbeat",
        "source": "trailrelay.control", "detail": {}})
    .to_string();
    let (result, counters) = rig.enricher.handle(&nameless, deadline()).await;
    assert!(matches!(result, Ok(Response::Direct(ref d)) if d.outcome == "consumed"));
    assert_eq!(counters.heartbeats_recorded, 0);
    assert!(rig.store.writes().is_empty());
}
