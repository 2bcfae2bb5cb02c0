//! One pass over in-memory buckets: which files are listed and read, the
//! tally, the missing records, late ones on the second pass, the report in
//! parts, and the put-back's grouping and failures.

use flate2::write::GzEncoder;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Mutex;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use trailrelay_reconcile::{
    Pass, Window, ENV_BACKFILL, ENV_BUFFER_QUEUE_URL, ENV_COPY_BUCKET, ENV_ORGANIZATION_ID,
    ENV_TRAIL_BUCKET, ENV_TRAIL_KEY_PREFIX,
};
use trailrelay_reconciler::*;
use trailrelay_shared::paths::PathKey;
use trailrelay_shared::publish::group_sizes;

#[derive(Default)]
struct MemoryBucket {
    objects: BTreeMap<String, Vec<u8>>,
    listed: Mutex<Vec<(String, Option<String>)>>,
    opened: Mutex<Vec<String>>,
}

impl MemoryBucket {
    fn put(&mut self, key: &str, bytes: Vec<u8>) {
        self.objects.insert(key.to_owned(), bytes);
    }
}

impl Objects for MemoryBucket {
    fn list(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<String>, String> {
        self.listed
            .lock()
            .unwrap()
            .push((prefix.to_owned(), start_after.map(str::to_owned)));
        if prefix.contains("unlistable") {
            return Err("AccessDenied".into());
        }
        Ok(self
            .objects
            .keys()
            .filter(|k| k.starts_with(prefix) && start_after.is_none_or(|s| k.as_str() > s))
            .cloned()
            .collect())
    }

    fn open(&self, key: &str) -> Result<Box<dyn Read + '_>, String> {
        self.opened.lock().unwrap().push(key.to_owned());
        let bytes = self.objects.get(key).ok_or("NoSuchKey")?;
        Ok(Box::new(&bytes[..]))
    }
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";

fn record(id: &str, at: &str) -> Value {
    json!({"eventVersion": "1.09", "eventID": id, "eventTime": at, "eventSource": "iam.amazonaws.com",
           "eventName": "CreateUser", "eventType": "AwsApiCall", "readOnly": false,
           "eventCategory": "Management", "awsRegion": REGION, "recipientAccountId": ACCOUNT})
}

fn trail_key(day: &str, stamp: &str, unique: &str) -> String {
    format!("org/AWSLogs/o-abc123/{ACCOUNT}/CloudTrail/{REGION}/{day}/{ACCOUNT}_CloudTrail_{REGION}_{stamp}_{unique}.json.gz")
}

fn copy_line(id: &str, received: &str, backfilled: bool) -> String {
    let mut provenance = json!({"receivedAt": received});
    if backfilled {
        provenance["backfilled"] = json!(true);
    }
    json!({"version": "0", "detail": {"eventID": id, "enrichment": {"provenance": provenance}}})
        .to_string()
}

fn settings() -> ReconcileSettings {
    ReconcileSettings::from_lookup(|name| {
        match name {
            ENV_TRAIL_BUCKET => Some("trail"),
            ENV_TRAIL_KEY_PREFIX => Some("org"),
            ENV_ORGANIZATION_ID => Some("o-abc123"),
            ENV_COPY_BUCKET => Some("copy"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap()
}

/// The window 23:00-24:00 on 20 November: records on either side of
/// midnight, in files of both day folders, one file delivered before the
/// window, and one past the lag.
fn buckets() -> (MemoryBucket, MemoryBucket) {
    let mut trail = MemoryBucket::default();
    let file = |records: &[Value]| gzip(&json!({"Records": records}).to_string());
    trail.put(
        &trail_key("2026/11/20", "20261120T2255Z", "before"),
        file(&[record("early", "2026-11-20T22:50:00Z")]),
    );
    trail.put(
        &trail_key("2026/11/20", "20261120T2310Z", "a"),
        file(&[
            record("seen", "2026-11-20T23:05:00Z"),
            record("lost", "2026-11-20T23:06:00Z"),
        ]),
    );
    trail.put(
        &trail_key("2026/11/21", "20261121T0005Z", "b"),
        file(&[
            record("late", "2026-11-20T23:58:00Z"),
            record("put-back", "2026-11-20T23:59:00Z"),
            record("next-window", "2026-11-21T00:01:00Z"),
        ]),
    );
    trail.put(
        &trail_key("2026/11/21", "20261121T0420Z", "past-the-lag"),
        file(&[record("too-late-to-read", "2026-11-20T23:30:00Z")]),
    );
    trail.put(
        &trail_key("2026/11/21", "20261121T0010Z", "damaged"),
        b"\x1f\x8b\x08\x00broken".to_vec(),
    );
    let mut copy = MemoryBucket::default();
    let lines = [
        copy_line("seen", "2026-11-20T23:05:30Z", false),
        copy_line("late", "2026-11-21T02:30:00Z", false),
        copy_line("put-back", "2026-11-21T01:02:00Z", true),
    ];
    copy.put(
        "enriched/category=identity/hour=2026-11-20-23/copy-1.gz",
        gzip(&(lines[0].clone() + "\n")),
    );
    copy.put(
        "enriched/category=identity/hour=2026-11-21-01/copy-2.gz",
        gzip(&(lines[2].clone() + "\n")),
    );
    copy.put(
        "enriched/category=identity/hour=2026-11-21-02/copy-3",
        (lines[1].clone() + "\n").into_bytes(),
    );
    (trail, copy)
}

fn window() -> Window {
    Window {
        from: datetime!(2026-11-20 23:00 UTC),
        to: datetime!(2026-11-21 00:00 UTC),
    }
}

fn run(pass: Pass, until: OffsetDateTime, paths: &[PathKey]) -> (Found, MemoryBucket) {
    let (trail, copy) = buckets();
    let settings = settings();
    let regions = vec![REGION.to_owned()];
    let plan = Plan {
        settings: &settings,
        pass,
        window: window(),
        until,
        paths,
        regions: &regions,
    };
    let found = reconcile(&plan, &trail, &copy).unwrap();
    (found, trail)
}

fn ids(found: &Found) -> Vec<String> {
    found
        .missing
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn the_second_pass_tallies_each_path_and_lists_only_its_day_folders() {
    let paths = [PathKey::new(ACCOUNT, REGION)];
    let (found, trail) = run(Pass::Second, datetime!(2026-11-22 00:05 UTC), &paths);
    assert_eq!(ids(&found), vec!["lost"]);
    let t = found.report.totals;
    assert_eq!(
        (t.expected, t.seen, t.missing, t.late, t.backfilled),
        (4, 3, 1, 1, 1)
    );
    // Per day folder of the path, the first from the window's start.
    let listed = trail.listed.lock().unwrap().clone();
    let folder = format!("org/AWSLogs/o-abc123/{ACCOUNT}/CloudTrail/{REGION}");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0].0, format!("{folder}/2026/11/20/"));
    assert!(listed[0].1.as_deref().unwrap().ends_with("_20261120T2300Z"));
    assert_eq!(listed[1], (format!("{folder}/2026/11/21/"), None));
    // The file delivered before the window is never listed; the one past
    // the lag (three hours by default) never opened.
    let opened = trail.opened.lock().unwrap().clone();
    assert!(opened
        .iter()
        .all(|k| !k.contains("before") && !k.contains("past-the-lag")));
    assert_eq!(found.report.damaged_files.len(), 1);
    assert!(found.report.damaged_files[0].file.contains("damaged"));
}

#[test]
fn the_first_pass_counts_nothing_late_and_a_path_that_cannot_be_listed_is_reported() {
    let paths = [
        PathKey::new(ACCOUNT, REGION),
        PathKey::new("unlistable", REGION),
    ];
    let (found, _) = run(Pass::First, datetime!(2026-11-21 01:00 UTC), &paths);
    // The copy of "late" arrived after the first pass: missing then.
    let mut missing = ids(&found);
    missing.sort();
    assert_eq!(missing, vec!["late", "lost"]);
    assert_eq!(found.report.totals.late, 0);
    assert_eq!(found.unlisted.len(), 2, "both day folders of the path");
    assert_eq!(found.unlisted[0].0.account, "unlistable");
}

#[test]
fn an_unreadable_copy_fails_the_pass_rather_than_report_what_was_delivered() {
    struct Broken;
    impl Objects for Broken {
        fn list(&self, _: &str, _: Option<&str>) -> Result<Vec<String>, String> {
            Err("AccessDenied on the copy".into())
        }
        fn open(&self, _: &str) -> Result<Box<dyn Read + '_>, String> {
            unreachable!()
        }
    }
    let (trail, _) = buckets();
    let settings = settings();
    let regions = vec![REGION.to_owned()];
    let paths = [PathKey::new(ACCOUNT, REGION)];
    let plan = Plan {
        settings: &settings,
        pass: Pass::First,
        window: window(),
        until: datetime!(2026-11-21 01:00 UTC),
        paths: &paths,
        regions: &regions,
    };
    let err = reconcile(&plan, &trail, &Broken).unwrap_err();
    assert!(matches!(err, ReconcileError::Copy(_)), "{err}");
}

#[test]
fn a_large_report_goes_out_in_parts_that_each_fit_an_entry() {
    let paths: Vec<PathKey> = (0..6000)
        .map(|i| PathKey::new(format!("{i:012}"), REGION))
        .collect();
    let (mut found, _) = run(Pass::First, datetime!(2026-11-21 01:00 UTC), &[]);
    found.report.paths = paths
        .iter()
        .map(|p| trailrelay_reconcile::reconciler::PathTally {
            account: p.account.clone(),
            region: p.region.clone(),
            tally: trailrelay_reconcile::reconciler::Tally {
                expected: 3,
                missing: 1,
                seen: 2,
                ..Default::default()
            },
        })
        .collect();
    let details = report_details(&found, Pass::First, &window(), &PutBack::default(), 6000);
    assert!(details.len() > 1);
    let mut listed = 0;
    for (i, d) in details.iter().enumerate() {
        assert!(d.len() <= MAX_REPORT_DETAIL_BYTES);
        let v: Value = serde_json::from_str(d).unwrap();
        assert_eq!(
            (v["part"].as_u64(), v["parts"].as_u64()),
            (Some(i as u64 + 1), Some(details.len() as u64))
        );
        listed += v["paths"].as_array().unwrap().len();
    }
    assert_eq!(listed, 6000);
    let entries = report_entries(details, "trailrelay", "trailrelay-audit", &window());
    assert!(entries
        .iter()
        .all(|e| e.detail_type == REPORT_DETAIL_TYPE && e.size() < 256 * 1024));
}

#[test]
fn paths_without_findings_are_counted_not_listed() {
    let paths = [PathKey::new(ACCOUNT, REGION)];
    let (mut found, _) = run(Pass::Second, datetime!(2026-11-22 00:05 UTC), &paths);
    found
        .report
        .paths
        .push(trailrelay_reconcile::reconciler::PathTally {
            account: "999999999999".into(),
            region: REGION.into(),
            tally: trailrelay_reconcile::reconciler::Tally {
                expected: 5,
                seen: 5,
                ..Default::default()
            },
        });
    let details = report_details(&found, Pass::Second, &window(), &PutBack::default(), 2);
    let v: Value = serde_json::from_str(&details[0]).unwrap();
    assert_eq!(v["pathsWithFindings"], 1);
    assert_eq!(v["paths"][0]["account"], ACCOUNT);
    assert_eq!(v["paths"][0]["missing"], 1);
    assert_eq!(v["pass"], "second");
    assert_eq!(v["window"]["from"], "2026-11-20T23:00:00Z");
    let metrics: Value =
        serde_json::from_str(&metric_line(&found, Pass::Second, &PutBack::default(), 0)).unwrap();
    assert_eq!(metrics["Pass"], "second");
    assert_eq!(metrics["ReconcileMissing"], 1);
    assert_eq!(metrics["ReconcileLate"], 1);
}

struct FakeTarget {
    limits: (usize, usize),
    calls: Mutex<Vec<usize>>,
    refuse: fn(&str) -> bool,
    fail_call: usize,
}

impl PutBackTarget for FakeTarget {
    fn limits(&self) -> (usize, usize) {
        self.limits
    }

    async fn send(&self, group: &[String]) -> Result<Vec<usize>, String> {
        let call = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(group.len());
            calls.len()
        };
        if call == self.fail_call {
            return Err("ServiceUnavailable".into());
        }
        Ok(group
            .iter()
            .enumerate()
            .filter(|(_, b)| (self.refuse)(b))
            .map(|(i, _)| i)
            .collect())
    }
}

#[tokio::test]
async fn the_put_back_goes_in_groups_and_counts_what_was_refused() {
    let bodies: Vec<String> = (0..25).map(|i| format!("{{\"n\":{i}}}")).collect();
    let target = FakeTarget {
        limits: (10, 1_000_000),
        calls: Mutex::new(Vec::new()),
        refuse: |b| b == "{\"n\":3}",
        fail_call: 3,
    };
    let result = put_back(&target, "queue", &bodies).await;
    assert_eq!(*target.calls.lock().unwrap(), vec![10, 10, 5]);
    assert_eq!((result.sent, result.failed), (19, 6));
    assert_eq!(result.mode, "queue");
}

#[test]
fn groups_keep_to_the_count_and_bytes_and_a_huge_body_goes_alone() {
    let sizes = [10, 10, 10, 500, 10];
    assert_eq!(group_sizes(&sizes, 2, 100), vec![0..2, 2..3, 3..4, 4..5]);
    assert_eq!(group_sizes(&sizes, 10, 1000), vec![0..5]);
    assert!(group_sizes(&[], 10, 10).is_empty());
}

#[test]
fn the_invocation_payload_is_the_queue_shape_and_its_answer_names_failures() {
    let payload = invocation_payload(
        &["{\"a\":1}".into(), "{\"b\":2}".into()],
        "trailrelay-backfill",
    );
    let v: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(v["Records"][1]["body"], "{\"b\":2}");
    assert_eq!(
        v["Records"][0]["messageAttributes"]["trailrelay-backfill"]["stringValue"],
        "true"
    );
    let answer = br#"{"batchItemFailures":[{"itemIdentifier":"backfill-1"}]}"#;
    assert_eq!(invocation_failures(answer, 2), vec![1]);
    assert_eq!(invocation_failures(b"{}", 2), Vec::<usize>::new());
    assert_eq!(invocation_failures(b"oops", 2), vec![0, 1]);
}

#[test]
fn settings_and_requests_are_checked() {
    let base = |extra: &'static [(&'static str, &'static str)]| {
        ReconcileSettings::from_lookup(move |name| {
            let fixed = [
                (ENV_TRAIL_BUCKET, "trail"),
                (ENV_ORGANIZATION_ID, "o-abc123"),
                (ENV_COPY_BUCKET, "copy"),
            ];
            fixed
                .iter()
                .chain(extra)
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    };
    assert_eq!(base(&[]).unwrap().backfill, Backfill::Off);
    assert_eq!(
        base(&[(ENV_BACKFILL, "queue"), (ENV_BUFFER_QUEUE_URL, "https://q")])
            .unwrap()
            .backfill,
        Backfill::Queue("https://q".into())
    );
    assert!(
        base(&[(ENV_BACKFILL, "queue")]).is_err(),
        "a queue mode needs the queue"
    );
    assert!(base(&[(ENV_BACKFILL, "sometimes")]).is_err());
    assert!(base(&[(ENV_WINDOW_MINUTES, "2")]).is_err());
    assert!(ReconcileSettings::from_lookup(|_| None).is_err());

    let now = datetime!(2026-11-21 14:05 UTC);
    let hour = Duration::hours(1);
    let request: Request = serde_json::from_str(r#"{"pass":"second"}"#).unwrap();
    let (pass, w) = request.window(now, hour).unwrap();
    assert_eq!(
        (pass, w.from),
        (Pass::Second, datetime!(2026-11-20 13:00 UTC))
    );
    let again: Request = serde_json::from_str(r#"{"windowStart":"2026-11-21T10:00:00Z"}"#).unwrap();
    assert_eq!(
        again.window(now, hour).unwrap().1.to,
        datetime!(2026-11-21 11:00 UTC)
    );
    let future: Request =
        serde_json::from_str(r#"{"windowStart":"2026-11-21T14:00:00Z"}"#).unwrap();
    assert!(future.window(now, hour).is_err());
    let bad: Request = serde_json::from_str(r#"{"windowStart":"yesterday"}"#).unwrap();
    assert!(bad.window(now, hour).is_err());
}
