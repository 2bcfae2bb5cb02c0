//! The volume table: each input shape read, sizes and chunks as EventBridge
//! bills them, the window scaled to a month and priced.

use serde_json::json;
use trailrelay_volume::report::{Prices, Report, DEFAULT_PRICES};
use trailrelay_volume::tally::{envelope_bytes, observe, Tally, CHUNK_BYTES};

fn record(name: &str, read_only: Option<bool>, time: &str) -> serde_json::Value {
    let mut r = json!({
        "eventVersion": "1.09", "eventSource": "kms.amazonaws.com", "eventName": name,
        "awsRegion": "eu-west-1", "recipientAccountId": "111122223333", "eventTime": time,
        "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}
    });
    if let Some(ro) = read_only {
        r["readOnly"] = json!(ro);
    }
    r
}

#[test]
fn an_event_a_route_entry_and_a_bare_record_are_the_same_call() {
    let rec = record("Decrypt", Some(true), "2026-12-01T00:00:00Z");
    let event = json!({"version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms", "account": "111122223333", "region": "eu-west-1", "time": "t",
        "resources": [], "detail": rec});
    let entry = json!({"EventBusName": "trailrelay-data", "Source": "trailrelay",
        "DetailType": "AWS API Call via CloudTrail", "Detail": rec.to_string(), "Resources": []});
    let calls: Vec<_> = [event.to_string(), entry.to_string(), rec.to_string()]
        .iter()
        .map(|t| observe(t).expect("readable").call)
        .collect();
    assert_eq!(calls[0], calls[1]);
    assert_eq!(calls[1], calls[2]);
    assert_eq!(calls[0].event_name, "Decrypt");
    assert_eq!(calls[0].read_only, Some(true));
    assert!(calls[0].invoked_by_service);
    assert_eq!(
        (calls[0].account.as_str(), calls[0].region.as_str()),
        ("111122223333", "eu-west-1")
    );
}

#[test]
fn a_bare_record_is_sized_with_the_envelope_eventbridge_would_add() {
    let rec = record("Decrypt", Some(true), "2026-12-01T00:00:00Z").to_string();
    let observed = observe(&rec).unwrap();
    assert_eq!(
        observed.bytes,
        rec.len() + envelope_bytes("kms", "111122223333", "eu-west-1")
    );
    // An event as delivered: its own size.
    let event = json!({"source": "aws.kms", "account": "1", "region": "r", "detail": record("Decrypt", None, "t")}).to_string();
    assert_eq!(observe(&event).unwrap().bytes, event.len());
    assert_eq!(observe(&event).unwrap().call.read_only, None);
}

#[test]
fn each_64_kb_chunk_counts_and_the_table_sums_by_call() {
    let mut tally = Tally::default();
    let small = record("Decrypt", Some(true), "2026-12-01T00:00:00Z");
    let mut large = record("PutKeyPolicy", Some(false), "2026-12-01T01:00:00Z");
    large["requestParameters"] = json!({"policy": "p".repeat(CHUNK_BYTES + 10)});
    for _ in 0..3 {
        tally.add_text(&small.to_string());
    }
    tally.add_text(&large.to_string());
    tally.add_text("[1, 2]");
    let rows = tally.rows();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0.event_name, "Decrypt");
    assert_eq!((rows[0].1.count, rows[0].1.chunks), (3, 3));
    assert_eq!((rows[1].1.count, rows[1].1.chunks), (1, 2));
    assert_eq!(tally.total().chunks, 5);
    assert_eq!(tally.unreadable, 1);
    assert_eq!(
        tally.window(),
        Some(("2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z"))
    );
    let (top, rest) = tally.top(1);
    assert_eq!(top.len(), 1);
    assert_eq!((rest.count, rest.chunks), (1, 2));
}

#[test]
fn cost_scales_the_window_to_a_month_and_pays_each_chunk_twice() {
    let mut tally = Tally::default();
    for minute in 0..=60 {
        let time = if minute == 60 {
            "2026-12-01T01:00:00Z".to_string()
        } else {
            format!("2026-12-01T00:{minute:02}:00Z")
        };
        tally.add_text(&record("Decrypt", Some(true), &time).to_string());
    }
    let prices = Prices::parse(DEFAULT_PRICES).expect("the embedded prices parse");
    assert_eq!(prices.times_paid, 2);
    let report = Report::new(&tally, 10, prices.clone());
    assert_eq!(report.window_seconds, 3600.0);
    assert_eq!(report.month_factor, 720.0);
    // 61 events an hour, 720 hours, one chunk each, $1 per million, twice.
    let expected = 61.0 * 720.0 * 2.0 * prices.eventbridge_per_million_chunks / 1e6;
    assert!((report.total.cost_per_month - expected).abs() < 1e-9);
    assert_eq!(report.rows[0].share, 1.0);
    assert!(report.to_table().contains("Decrypt"));
}

#[test]
fn an_event_the_relay_delivered_counts_for_the_account_it_happened_in() {
    let delivered = json!({"source": "trailrelay", "account": "999999999999", "region": "us-east-1",
        "detail": record("Decrypt", Some(true), "2026-12-01T00:00:00Z")});
    let observed = observe(&delivered.to_string()).unwrap();
    assert_eq!(
        (
            observed.call.account.as_str(),
            observed.call.region.as_str()
        ),
        ("111122223333", "eu-west-1")
    );
    assert!(observed.droppable);
}
