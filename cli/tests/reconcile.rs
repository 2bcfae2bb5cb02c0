//! `trailrelay reconcile` on a trail laid out as CloudTrail writes it to S3,
//! some of whose records went through `trailrelay route`: exactly the
//! others come out, wrapped, and `route` takes them.

mod common;

use common::trailrelay;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use trailrelay_test_support::cloudtrail_events;

fn gzip(text: &str) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// The fixtures' management records of one account and region, with ids
/// and times of their own, as the trail would hold them.
fn records() -> Vec<Value> {
    cloudtrail_events()
        .into_iter()
        .map(|e| e["detail"].clone())
        .filter(|d| {
            d["eventID"].is_string() && d["readOnly"] != true && d["eventCategory"] != "Insight"
        })
        .enumerate()
        .map(|(i, mut d)| {
            d["eventID"] = json!(format!("ev-{i:03}"));
            d["eventTime"] = json!(format!("2026-11-20T23:{:02}:00Z", i % 60));
            d["recipientAccountId"] = json!("111122223333");
            d["awsRegion"] = json!("eu-west-1");
            d
        })
        .collect()
}

fn write_trail(root: &Path, records: &[Value]) {
    let day = root.join("AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/11/20");
    std::fs::create_dir_all(&day).unwrap();
    let (first, second) = records.split_at(records.len() / 2);
    let name =
        |stamp: &str, n: u32| format!("111122223333_CloudTrail_eu-west-1_{stamp}_file{n}.json.gz");
    std::fs::write(
        day.join(name("20261120T2330Z", 1)),
        gzip(&json!({"Records": first}).to_string()),
    )
    .unwrap();
    // The second half is delivered after midnight, in the next day's folder, as plain JSON.
    let next = root.join("AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/11/21");
    std::fs::create_dir_all(&next).unwrap();
    std::fs::write(
        next.join("111122223333_CloudTrail_eu-west-1_20261121T0010Z_file2.json"),
        json!({"Records": second}).to_string(),
    )
    .unwrap();
    // A truncated and a corrupt file: reported, skipped, not the end of the run.
    let whole = gzip(&json!({"Records": [records[0]]}).to_string());
    std::fs::write(
        day.join(name("20261120T2340Z", 3)),
        &whole[..whole.len() / 2],
    )
    .unwrap();
    std::fs::write(
        day.join(name("20261120T2350Z", 4)),
        b"\x1f\x8b\x08\x00 not gzip",
    )
    .unwrap();
    // A digest file is not a log file.
    let digest = root.join("AWSLogs/o-abc123/111122223333/CloudTrail-Digest/eu-west-1/2026/11/20");
    std::fs::create_dir_all(&digest).unwrap();
    std::fs::write(digest.join("digest.json.gz"), gzip(r#"{"logFiles":[]}"#)).unwrap();
}

#[test]
fn exactly_the_records_never_delivered_come_out_ready_for_route() {
    let dir = std::env::temp_dir().join(format!("trailrelay-reconcile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let records = records();
    assert!(records.len() > 10, "{}", records.len());
    write_trail(&dir.join("trail"), &records);

    // Every third record went through the relay.
    let delivered: Vec<String> = records.iter().step_by(3).map(Value::to_string).collect();
    let routed = trailrelay(&["route"], Some(&(delivered.join("\n") + "\n")));
    assert!(routed.status.success());
    let seen_file = dir.join("seen.jsonl");
    std::fs::write(&seen_file, &routed.stdout).unwrap();

    let trail = dir.join("trail").display().to_string();
    let seen = seen_file.display().to_string();
    let out = trailrelay(
        &["reconcile", "--trail", &trail, "--seen", &seen, "--json"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let missing: Vec<Value> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: BTreeSet<&str> = missing
        .iter()
        .map(|e| e["detail"]["eventID"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, r)| r["eventID"].as_str().unwrap())
        .collect();
    assert_eq!(got, want);
    assert!(missing
        .iter()
        .all(|e| e["source"].as_str().unwrap().starts_with("aws.")));

    let report: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(report["totals"]["expected"], records.len());
    assert_eq!(report["totals"]["missing"], want.len());
    assert_eq!(report["paths"][0]["account"], "111122223333");
    assert_eq!(
        report["damagedFiles"].as_array().unwrap().len(),
        2,
        "{report}"
    );
    assert_eq!(report["filesRead"], 4);

    // The enriched copy's objects are gzip: read as they are.
    let gz_seen = dir.join("copy/seen.jsonl.gz");
    std::fs::create_dir_all(gz_seen.parent().unwrap()).unwrap();
    std::fs::write(&gz_seen, gzip(std::str::from_utf8(&routed.stdout).unwrap())).unwrap();
    let copy = dir.join("copy").display().to_string();
    let from_copy = trailrelay(&["reconcile", "--trail", &trail, "--seen", &copy], None);
    assert_eq!(from_copy.stdout, out.stdout);

    // The missing records go back through route like any other event.
    let again = trailrelay(
        &["route"],
        Some(&String::from_utf8(out.stdout.clone()).unwrap()),
    );
    assert!(again.status.success());
    let entries = String::from_utf8(again.stdout).unwrap();
    assert_eq!(entries.lines().count(), want.len());
    assert!(!entries.contains("malformed_input"), "{entries}");

    // The records' own window gives the same answer: the seen ids kept for
    // it (only its events are held) are all it needs.
    let hour = trailrelay(
        &[
            "reconcile",
            "--trail",
            &trail,
            "--seen",
            &seen,
            "--from",
            "2026-11-20T23:00:00Z",
            "--to",
            "2026-11-21T00:00:00Z",
        ],
        None,
    );
    assert_eq!(hour.stdout, out.stdout);

    // A window before the records holds none; only files delivered in it or
    // within the delivery lag after it are read.
    let early = trailrelay(
        &[
            "reconcile",
            "--trail",
            &trail,
            "--seen",
            &seen,
            "--json",
            "--from",
            "2026-11-20T20:00:00Z",
            "--to",
            "2026-11-20T21:00:00Z",
        ],
        None,
    );
    let report: Value = serde_json::from_slice(&early.stderr).unwrap();
    assert_eq!(report["totals"]["expected"], 0);
    assert_eq!(report["filesRead"], 0);
    assert!(early.stdout.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unreadable_input_is_an_error_naming_it() {
    let out = trailrelay(
        &[
            "reconcile",
            "--trail",
            "/nonexistent/trail",
            "--seen",
            "/nonexistent/seen.jsonl",
        ],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/seen.jsonl"), "{err}");
    let out = trailrelay(
        &[
            "reconcile",
            "--trail",
            "x",
            "--seen",
            "-",
            "--from",
            "2026-11-20T20:00:00Z",
            "--to",
            "2026-11-20T19:00:00Z",
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from must be before --to"));
}
