//! Size limits: trimming oversized records and inputs, and the promise that
//! no input, however odd, panics or yields an entry over the limit.

use proptest::prelude::*;
use serde_json::{json, Value};
use trailrelay_shared::settings::{Limits, MIN_MAX_ENTRY_BYTES};
use trailrelay_shared::{Category, Prepared, PreparedEntry, ReceivedAt, Relay, Settings};

fn relay_with_limit(max_entry_bytes: usize) -> Relay {
    let settings = Settings {
        limits: Limits {
            max_entry_bytes,
            max_request_bytes: max_entry_bytes,
            ..Limits::default()
        },
        ..Settings::default()
    };
    settings.validate().unwrap();
    Relay::load(settings).unwrap()
}

fn prepare(relay: &Relay, input: &str) -> Box<PreparedEntry> {
    match relay.prepare(input, &ReceivedAt::now()) {
        Prepared::Entry(e) => e,
        other => panic!("expected an entry, got {other:?}"),
    }
}

fn event(detail: Value) -> String {
    json!({
        "version": "0", "id": "big-1", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3", "account": "333333333333", "time": "2026-11-20T10:15:30Z",
        "region": "eu-west-1", "resources": ["arn:aws:s3:::payments-data"], "detail": detail,
    })
    .to_string()
}

fn large_record(request_bytes: usize) -> Value {
    json!({
        "eventVersion": "1.10", "eventSource": "s3.amazonaws.com", "eventName": "PutBucketPolicy",
        "eventID": "evt-big", "recipientAccountId": "333333333333",
        "userIdentity": {"type": "IAMUser", "accountId": "333333333333", "userName": "alice"},
        "requestParameters": {"bucketPolicy": "p".repeat(request_bytes)},
        "responseElements": {"ok": "r".repeat(200)},
    })
}

#[test]
fn a_record_over_the_limit_loses_its_largest_bulky_field_first() {
    let relay = relay_with_limit(MIN_MAX_ENTRY_BYTES);
    let e = prepare(&relay, &event(large_record(100 * 1024)));
    assert!(
        e.entry.size() <= MIN_MAX_ENTRY_BYTES,
        "{} bytes",
        e.entry.size()
    );
    assert_eq!(e.category, Category::Data);
    let d: Value = serde_json::from_str(&e.entry.detail).unwrap();
    let marker = d["requestParameters"].as_str().unwrap();
    assert!(marker.contains("bytes"), "{marker}");
    assert_eq!(
        d["responseElements"]["ok"],
        "r".repeat(200),
        "only what was needed went"
    );
    assert_eq!(d["eventName"], "PutBucketPolicy");
    assert_eq!(
        d["enrichment"]["provenance"]["truncated"],
        json!(["/detail/requestParameters"])
    );
    let signals = d["enrichment"]["signals"].as_array().unwrap();
    assert!(signals.contains(&json!("truncated")));
    assert_eq!(e.entry.resources, ["arn:aws:s3:::payments-data"]);
}

#[test]
fn a_record_within_the_limit_is_not_touched() {
    let relay = relay_with_limit(MIN_MAX_ENTRY_BYTES);
    let e = prepare(&relay, &event(large_record(10 * 1024)));
    let d: Value = serde_json::from_str(&e.entry.detail).unwrap();
    assert_eq!(
        d["requestParameters"]["bucketPolicy"]
            .as_str()
            .unwrap()
            .len(),
        10 * 1024
    );
    assert_eq!(d["enrichment"]["provenance"]["truncated"], json!([]));
}

#[test]
fn the_default_limit_passes_a_100_kib_event_whole() {
    let relay = relay_with_limit(Limits::default().max_entry_bytes);
    let e = prepare(&relay, &event(large_record(100 * 1024)));
    assert!(!e.signals.iter().any(|s| s.as_str() == "truncated"));
}

#[test]
fn many_large_values_and_resources_are_trimmed_until_it_fits() {
    let relay = relay_with_limit(MIN_MAX_ENTRY_BYTES);
    let mut record = large_record(40 * 1024);
    record["additionalEventData"] = json!({"x": "a".repeat(40 * 1024)});
    record["somethingElse"] = json!("b".repeat(40 * 1024));
    let mut input: Value = serde_json::from_str(&event(record)).unwrap();
    input["resources"] = json!(["r".repeat(70 * 1024)]);
    let e = prepare(&relay, &input.to_string());
    assert!(
        e.entry.size() <= MIN_MAX_ENTRY_BYTES,
        "{} bytes",
        e.entry.size()
    );
    let d: Value = serde_json::from_str(&e.entry.detail).unwrap();
    let truncated: Vec<&str> = d["enrichment"]["provenance"]["truncated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        truncated,
        // The four bulky fields first (largest first), then the other values
        // (largest first), then Resources: the resources alone exceed the limit.
        [
            "/detail/requestParameters",
            "/detail/additionalEventData",
            "/detail/responseElements",
            "/detail/somethingElse",
            "/detail/userIdentity",
            "/resources"
        ]
    );
    assert!(e.entry.resources[0].contains("bytes"));
}

#[test]
fn a_huge_malformed_input_is_trimmed_not_dropped() {
    let relay = relay_with_limit(MIN_MAX_ENTRY_BYTES);
    let raw = format!("not json {}", "é\"\\".repeat(100_000));
    let e = prepare(&relay, &raw);
    assert!(
        e.entry.size() <= MIN_MAX_ENTRY_BYTES,
        "{} bytes",
        e.entry.size()
    );
    let d: Value = serde_json::from_str(&e.entry.detail).unwrap();
    let kept = d["rawInput"].as_str().unwrap();
    assert!(
        raw.starts_with(kept) && kept.len() > 10_000,
        "kept {} bytes",
        kept.len()
    );
    assert_eq!(
        d["enrichment"]["provenance"]["truncated"],
        json!(["/detail/rawInput"])
    );
    let signals = &d["enrichment"]["signals"];
    assert_eq!(signals, &json!(["malformed_input", "truncated"]));
}

#[test]
fn a_record_that_already_has_an_enrichment_key_gets_only_ours() {
    let relay = relay_with_limit(Limits::default().max_entry_bytes);
    let mut record = large_record(10);
    record["enrichment"] = json!({"category": "spoofed"});
    let e = prepare(&relay, &event(record));
    let d: Value = serde_json::from_str(&e.entry.detail).unwrap();
    assert_eq!(d["enrichment"]["category"], "data");
    assert_eq!(e.entry.detail.matches("\"enrichment\"").count(), 1);
    assert_eq!(
        d["enrichment"]["provenance"]["truncated"],
        json!(["/detail/enrichment"])
    );
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("eventSource".to_owned()),
                    Just("eventName".to_owned()),
                    Just("userIdentity".to_owned()),
                    Just("type".to_owned()),
                    Just("accountId".to_owned()),
                    Just("recipientAccountId".to_owned()),
                    Just("errorCode".to_owned()),
                    Just("sessionContext".to_owned()),
                    Just("detail".to_owned()),
                    "[a-zA-Z]{1,12}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_detail_yields_one_entry_within_the_limit(detail in json_value()) {
        let relay = relay_with_limit(MIN_MAX_ENTRY_BYTES);
        let input = event(detail.clone());
        let e = prepare(&relay, &input);
        prop_assert!(e.entry.size() <= MIN_MAX_ENTRY_BYTES);
        let out: Value = serde_json::from_str(&e.entry.detail).unwrap();
        if detail.is_object() {
            let mut out = out;
            out.as_object_mut().unwrap().remove("enrichment");
            let mut original = detail;
            original.as_object_mut().unwrap().remove("enrichment");
            prop_assert_eq!(out, original);
        } else {
            prop_assert_eq!(e.category, Category::Other);
            prop_assert!(e.malformed.is_some());
        }
    }

    #[test]
    fn any_json_input_yields_an_entry_whose_detail_is_an_object(input in json_value()) {
        let relay = relay_with_limit(MIN_MAX_ENTRY_BYTES);
        if let Prepared::Entry(e) = relay.prepare(&input.to_string(), &ReceivedAt::now()) {
            let detail: Value = serde_json::from_str(&e.entry.detail).unwrap();
            prop_assert!(detail["enrichment"].is_object());
            if !input.is_object() {
                prop_assert!(e.malformed.is_some());
            }
        }
    }

    #[test]
    fn any_text_yields_an_entry_or_a_stated_outcome(text in ".{0,300}") {
        let relay = relay_with_limit(MIN_MAX_ENTRY_BYTES);
        match relay.prepare(&text, &ReceivedAt::now()) {
            Prepared::Entry(e) => {
                prop_assert!(e.entry.size() <= MIN_MAX_ENTRY_BYTES);
                let _: Value = serde_json::from_str(&e.entry.detail).unwrap();
            }
            Prepared::Refused { .. } | Prepared::Consumed { .. } => {}
        }
    }
}

#[test]
fn a_huge_value_where_an_account_id_belongs_cannot_push_the_entry_over() {
    // Found by the handler's property test: the account id is copied into
    // the enrichment, so it must not be copied whole.
    let relay = relay_with_limit(256 * 1024);
    let mut record = large_record(10);
    record["recipientAccountId"] = json!("x".repeat(260_960));
    record["userIdentity"]["arn"] = json!("y".repeat(100_000));
    let e = prepare(&relay, &event(record));
    assert!(e.entry.size() <= 256 * 1024, "{} bytes", e.entry.size());
    let d: Value = serde_json::from_str(&e.entry.detail).unwrap();
    assert_eq!(
        d["enrichment"]["account"]["id"].as_str().unwrap().len(),
        1024
    );
}

#[test]
fn events_at_and_beyond_both_size_limits_are_trimmed_to_fit() {
    for limit in [256 * 1024, Limits::default().max_entry_bytes] {
        let relay = relay_with_limit(limit);
        // Just under, at, and well beyond the limit.
        for request_bytes in [limit - 4096, limit, limit + 1, 2 * limit] {
            let e = prepare(&relay, &event(large_record(request_bytes)));
            assert!(e.entry.size() <= limit, "{} > {limit}", e.entry.size());
            let truncated = e.signals.iter().any(|s| s.as_str() == "truncated");
            assert_eq!(
                truncated,
                request_bytes >= limit - 1024,
                "{request_bytes} of {limit}"
            );
        }
    }
}
