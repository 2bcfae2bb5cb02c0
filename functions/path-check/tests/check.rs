//! The path check with a store in memory and a fake audit bus: silent paths
//! are reported once, marked only once delivered, and restored paths are
//! reported when heard from again.

use std::time::Duration;
use time::macros::datetime;
use time::OffsetDateTime;
use tokio::time::Instant;
use trailrelay_path_check::{CheckError, PathCheck};
use trailrelay_path_health::{PATH_RESTORED, PATH_SILENT};
use trailrelay_shared::directory::Directory;
use trailrelay_shared::paths::{PathKey, PathStore};
use trailrelay_shared::Settings;
use trailrelay_test_support::{MemoryBus, MemoryPathStore};

const T0: OffsetDateTime = datetime!(2026-11-26 12:00 UTC);

fn directory() -> Directory {
    Directory::from_json(
        r#"{"accounts":{"111111111111":{"name":"a","state":"ACTIVE"},
            "222222222222":{"name":"b","state":"ACTIVE"},
            "333333333333":{"name":"c","state":"SUSPENDED"}}}"#,
        "test",
    )
    .unwrap()
}

fn check() -> PathCheck<MemoryPathStore, MemoryBus> {
    let mut settings = Settings::default();
    settings.paths.enrolled_regions = vec!["eu-west-1".into(), "us-east-1".into()];
    settings.paths.silence_threshold = Duration::from_secs(15 * 60);
    PathCheck {
        settings,
        store: MemoryPathStore::default(),
        publisher: MemoryBus::default(),
    }
}

fn minutes(m: i64) -> time::Duration {
    time::Duration::minutes(m)
}

async fn heartbeats(
    check: &PathCheck<MemoryPathStore, MemoryBus>,
    at: OffsetDateTime,
    skip: Option<&PathKey>,
) {
    for account in ["111111111111", "222222222222", "333333333333"] {
        for region in ["eu-west-1", "us-east-1"] {
            let key = PathKey::new(account, region);
            if Some(&key) != skip {
                check
                    .store
                    .record_heartbeat(&key, at, Duration::ZERO)
                    .await
                    .unwrap();
            }
        }
    }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn published(check: &PathCheck<MemoryPathStore, MemoryBus>) -> Vec<(String, serde_json::Value)> {
    check
        .publisher
        .take()
        .into_iter()
        .map(|e| (e.detail_type, serde_json::from_str(&e.detail).unwrap()))
        .collect()
}

#[tokio::test]
async fn exactly_the_silent_path_is_reported_then_restored() {
    let check = check();
    let d = directory();
    let quiet = PathKey::new("222222222222", "us-east-1");
    // Every five minutes, a heartbeat from every path but one.
    let mut now = T0;
    for _ in 0..4 {
        heartbeats(&check, now, Some(&quiet)).await;
        now += minutes(5);
    }
    // 20 minutes: the quiet path never spoke; everything else is healthy.
    let (report, _) = check.run(&d, now, deadline()).await.unwrap();
    assert_eq!(report.expected, 4, "two active accounts x two regions");
    assert_eq!(report.reported_silent, ["222222222222#us-east-1"]);
    let events = published(&check);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, PATH_SILENT);
    assert_eq!(events[0].1["account"], "222222222222");
    assert_eq!(events[0].1["region"], "us-east-1");
    assert_eq!(events[0].1["lastSeen"], serde_json::Value::Null);

    // The next check says nothing new.
    now += minutes(5);
    heartbeats(&check, now, Some(&quiet)).await;
    let (report, _) = check.run(&d, now, deadline()).await.unwrap();
    assert!(report.reported_silent.is_empty() && report.reported_restored.is_empty());
    assert_eq!(report.silent, 1);
    assert!(published(&check).is_empty());

    // It speaks again: restored, with how long it was reported silent.
    now += minutes(5);
    heartbeats(&check, now, None).await;
    let (report, _) = check.run(&d, now, deadline()).await.unwrap();
    assert_eq!(report.reported_restored, ["222222222222#us-east-1"]);
    let events = published(&check);
    assert_eq!(events[0].0, PATH_RESTORED);
    assert_eq!(events[0].1["silentForSeconds"], 600);
}

#[tokio::test]
async fn a_suspended_account_is_not_reported() {
    let check = check();
    heartbeats(&check, T0, None).await;
    let (report, _) = check
        .run(&directory(), T0 + minutes(60), deadline())
        .await
        .unwrap();
    let accounts: Vec<&str> = report.reported_silent.iter().map(|p| &p[..12]).collect();
    assert!(!accounts.contains(&"333333333333"), "{accounts:?}");
    assert_eq!(report.reported_silent.len(), 4);
    assert_eq!(report.not_expected, 2);
}

#[tokio::test]
async fn an_undelivered_report_is_made_again_at_the_next_check() {
    let check = check();
    check.publisher.refuse(true);
    let (report, _) = check.run(&directory(), T0, deadline()).await.unwrap();
    assert_eq!(report.failed.len(), 4);
    assert!(report.reported_silent.is_empty());
    check.publisher.refuse(false);
    let (report, _) = check
        .run(&directory(), T0 + minutes(5), deadline())
        .await
        .unwrap();
    assert_eq!(
        report.reported_silent.len(),
        4,
        "not marked while undelivered"
    );
}

#[tokio::test]
async fn without_enrolled_regions_the_check_refuses_to_run() {
    let mut check = check();
    check.settings.paths.enrolled_regions.clear();
    let err = check.run(&directory(), T0, deadline()).await.unwrap_err();
    assert!(matches!(err, CheckError::NoRegions), "{err}");
}

#[test]
fn the_report_emits_the_silent_path_metric() {
    let report = trailrelay_path_check::CheckReport {
        silent: 2,
        expected: 6,
        ..Default::default()
    };
    let emf: serde_json::Value = serde_json::from_str(&report.to_emf(1)).unwrap();
    assert_eq!(emf["SilentPaths"], 2);
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
        "SilentPaths"
    );
}
