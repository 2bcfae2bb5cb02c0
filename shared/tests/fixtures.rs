//! The bundled fixtures (tests/fixtures/events.jsonl) through the relay:
//! category, rule, signals, actor and the unchanged record of each.

use serde_json::Value;
use std::collections::HashMap;
use trailrelay_shared::{Category, Prepared, PreparedEntry, ReceivedAt, Relay, Settings};

const EVENTS: &str = include_str!("../../tests/fixtures/events.jsonl");

fn relay() -> Relay {
    Relay::load(Settings::default()).expect("embedded config loads")
}

fn received() -> ReceivedAt {
    ReceivedAt::at(time::macros::datetime!(2026-11-20 10:16:00 UTC))
}

/// Every fixture line, prepared, by envelope id (or `line-N` without one).
fn prepared() -> HashMap<String, (String, Prepared)> {
    let relay = relay();
    let received = received();
    EVENTS
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let id = serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("line-{}", i + 1));
            (id, (line.to_owned(), relay.prepare(line, &received)))
        })
        .collect()
}

fn entry<'a>(all: &'a HashMap<String, (String, Prepared)>, id: &str) -> &'a PreparedEntry {
    match all.get(id).map(|(_, p)| p) {
        Some(Prepared::Entry(e)) => e,
        other => panic!("{id}: expected an entry, got {other:?}"),
    }
}

fn detail(e: &PreparedEntry) -> Value {
    serde_json::from_str(&e.entry.detail).expect("Detail is JSON")
}

const EXPECTED: &str = include_str!("../../tests/fixtures/expected.json");

/// (envelope id, category, rule id, signals), from tests/fixtures/expected.json.
fn expected() -> Vec<(String, String, String, Vec<String>)> {
    let doc: Value = serde_json::from_str(EXPECTED).expect("expected.json is JSON");
    doc["entries"]
        .as_object()
        .expect("entries")
        .iter()
        .map(|(id, e)| {
            let text = |k: &str| e[k].as_str().expect(k).to_owned();
            let signals = e["signals"]
                .as_array()
                .expect("signals")
                .iter()
                .map(|s| s.as_str().expect("signal").to_owned())
                .collect();
            (id.clone(), text("category"), text("rule"), signals)
        })
        .collect()
}

#[test]
fn every_fixture_gets_its_category_rule_and_signals() {
    let all = prepared();
    let expected = expected();
    assert!(expected.len() >= 40, "{} expectations", expected.len());
    for (id, category, rule, signals) in &expected {
        let e = entry(&all, id);
        assert_eq!(e.category.as_str(), category, "{id}: category");
        assert_eq!(&e.rule_id, rule, "{id}: rule");
        let got: Vec<&str> = e.signals.iter().map(|s| s.as_str()).collect();
        assert_eq!(got, *signals, "{id}: signals");
        let d = detail(e);
        assert_eq!(d["enrichment"]["category"], category.as_str(), "{id}");
        assert_eq!(d["enrichment"]["ruleId"], rule.as_str(), "{id}");
        assert_eq!(
            d["enrichment"]["signals"],
            serde_json::json!(signals),
            "{id}"
        );
        assert_eq!(
            e.entry.event_bus_name,
            format!("trailrelay-{category}"),
            "{id}: bus"
        );
    }
    // Every fixture with an id is expected to become something.
    let doc: Value = serde_json::from_str(EXPECTED).unwrap();
    let named = |k: &str| doc[k].as_array().unwrap().len();
    let with_ids = all.keys().filter(|k| k.starts_with("fx-")).count();
    assert_eq!(
        with_ids,
        expected.len() + named("consumed") + named("refused")
    );
}

#[test]
fn every_category_is_represented() {
    let expected = expected();
    for category in Category::ALL {
        assert!(
            expected.iter().any(|(_, c, _, _)| c == category.as_str()),
            "no fixture for {category}"
        );
    }
}

#[test]
fn the_record_travels_unchanged_plus_one_key() {
    let all = prepared();
    let mut checked = 0;
    for (id, (line, prepared)) in &all {
        let Prepared::Entry(e) = prepared else {
            continue;
        };
        if e.malformed.is_some() {
            continue;
        }
        let input: Value = serde_json::from_str(line).unwrap();
        let original = if input.get("detail").is_some() {
            input["detail"].clone()
        } else {
            input
        };
        let mut out = detail(e);
        let enrichment = out.as_object_mut().unwrap().remove("enrichment");
        assert!(enrichment.is_some(), "{id}: no enrichment");
        assert_eq!(out, original, "{id}: record changed");
        // Byte for byte: the detail text is the original text with the key spliced in.
        let raw_original = serde_json::to_string(&original).unwrap();
        assert!(
            e.entry
                .detail
                .starts_with(&raw_original[..raw_original.len() - 1]),
            "{id}: original bytes not kept"
        );
        checked += 1;
    }
    assert!(checked >= 38, "only {checked} fixtures checked");
}

#[test]
fn entries_keep_detail_type_time_and_resources() {
    let all = prepared();
    let e = entry(&all, "fx-root-console-login-without-mfa");
    assert_eq!(e.entry.detail_type, "AWS Console Sign In via CloudTrail");
    assert_eq!(e.entry.source, "trailrelay");
    assert_eq!(
        e.entry.time,
        time::macros::datetime!(2026-11-20 10:15:30 UTC)
    );
    assert!(e.entry.resources.is_empty());
    let out = serde_json::to_value(&e.entry).unwrap();
    let keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "EventBusName",
            "Source",
            "DetailType",
            "Detail",
            "Time",
            "Resources"
        ]
    );
    assert_eq!(out["Time"], "2026-11-20T10:15:30Z");
}

#[test]
fn enrichment_describes_account_and_provenance() {
    let all = prepared();
    let d = detail(entry(&all, "fx-iam-create-user"));
    let en = &d["enrichment"];
    assert_eq!(en["schemaVersion"], "1.1");
    assert_eq!(en["account"]["id"], "333333333333");
    assert_eq!(en["account"]["name"], "payments-prod");
    assert_eq!(en["account"]["email"], "aws-payments-prod@example.com");
    assert_eq!(en["account"]["status"], "ACTIVE");
    assert_eq!(en["account"]["ouPath"], "Root/Workloads/Prod");
    assert_eq!(en["account"]["tags"]["Owner"], "payments");
    assert_eq!(en["account"]["environment"], "prod");
    assert_eq!(en["account"]["known"], true);
    let p = &en["provenance"];
    assert_eq!(p["eventId"], "evt-iam-create-user");
    assert_eq!(p["envelopeId"], "fx-iam-create-user");
    assert_eq!(p["source"], "aws.iam");
    assert_eq!(p["detailType"], "AWS API Call via CloudTrail");
    assert_eq!(p["region"], "eu-west-1");
    assert_eq!(p["receivedAt"], "2026-11-20T10:16:00Z");
    assert!(p["relay"].as_str().unwrap().starts_with("trailrelay/"));
    assert_eq!(p["truncated"], serde_json::json!([]));

    let d = detail(entry(&all, "fx-unknown-account"));
    let a = &d["enrichment"]["account"];
    assert_eq!(a["id"], "999999999999");
    assert_eq!(a["known"], false);
    assert_eq!(a["name"], Value::Null);
    assert_eq!(a["tags"], serde_json::json!({}));
}

/// (id, type, principalName, accountId, isRoot, crossAccount, mfa, invokedBy)
#[allow(clippy::type_complexity)]
const ACTORS: &[(
    &str,
    &str,
    Option<&str>,
    Option<&str>,
    bool,
    bool,
    Option<bool>,
    Option<&str>,
)] = &[
    (
        "fx-root-console-login-without-mfa",
        "Root",
        Some("root"),
        Some("333333333333"),
        true,
        false,
        Some(false),
        None,
    ),
    (
        "fx-iam-create-user",
        "IAMUser",
        Some("alice"),
        Some("333333333333"),
        false,
        false,
        Some(true),
        None,
    ),
    (
        "fx-ec2-authorize-security-group",
        "AssumedRole",
        Some("NetworkAdmin"),
        Some("333333333333"),
        false,
        false,
        Some(false),
        None,
    ),
    (
        "fx-kms-decrypt-by-service",
        "AWSService",
        None,
        None,
        false,
        false,
        None,
        Some("s3.amazonaws.com"),
    ),
    (
        "fx-federated-user",
        "FederatedUser",
        Some("broker"),
        Some("333333333333"),
        false,
        false,
        Some(false),
        None,
    ),
    (
        "fx-aws-account-principal",
        "AWSAccount",
        None,
        Some("444444444444"),
        false,
        true,
        None,
        None,
    ),
    (
        "fx-identity-center-user",
        "IdentityCenterUser",
        None,
        Some("333333333333"),
        false,
        false,
        None,
        None,
    ),
    (
        "fx-saml-user",
        "SAMLUser",
        Some("alice@example.com"),
        None,
        false,
        false,
        None,
        None,
    ),
    (
        "fx-web-identity-user",
        "WebIdentityUser",
        Some("1234"),
        None,
        false,
        false,
        None,
        None,
    ),
    (
        "fx-sts-assume-role-cross-account",
        "IAMUser",
        Some("deployer"),
        Some("444444444444"),
        false,
        true,
        Some(true),
        None,
    ),
    (
        "fx-messy-fields",
        "Unknown",
        None,
        None,
        false,
        false,
        None,
        None,
    ),
];

#[test]
fn every_identity_type_is_described() {
    let all = prepared();
    for &(id, kind, name, account, is_root, cross, mfa, invoked_by) in ACTORS {
        let d = detail(entry(&all, id));
        let actor = &d["enrichment"]["actor"];
        assert_eq!(actor["type"], kind, "{id}");
        assert_eq!(actor["principalName"].as_str(), name, "{id}: principalName");
        assert_eq!(actor["accountId"].as_str(), account, "{id}: accountId");
        assert_eq!(actor["isRoot"], is_root, "{id}: isRoot");
        assert_eq!(actor["crossAccount"], cross, "{id}: crossAccount");
        assert_eq!(actor["mfa"].as_bool(), mfa, "{id}: mfa");
        assert_eq!(actor["invokedBy"].as_str(), invoked_by, "{id}: invokedBy");
        match account {
            Some(acct) => assert_eq!(actor["account"]["id"], acct, "{id}"),
            None => assert_eq!(actor["account"], Value::Null, "{id}"),
        }
    }
    let d = detail(entry(&all, "fx-iam-create-user"));
    assert_eq!(
        d["enrichment"]["actor"]["arn"],
        "arn:aws:iam::333333333333:user/alice"
    );
    assert_eq!(d["enrichment"]["actor"]["sourceIp"], "198.51.100.7");
}

#[test]
fn control_and_loop_events_make_no_entry() {
    let all = prepared();
    assert!(
        matches!(&all["fx-heartbeat"].1, Prepared::Consumed { detail_type, .. } if detail_type == "trailrelay Heartbeat")
    );
    assert!(
        matches!(&all["fx-own-output"].1, Prepared::Refused { event_id: Some(id), .. } if id == "fx-own-output")
    );
}

#[test]
fn a_control_event_replayed_from_an_archive_is_refused_not_counted() {
    // EventBridge sets replay-name on what it delivers again from an
    // archive: an administrator's replay of old heartbeats into the forward
    // rule must not keep a broken path looking alive.
    let all = prepared();
    let relay = relay();
    let replayed = |id: &str, replay: &str| {
        let mut event: Value = serde_json::from_str(&all[id].0).expect("fixture is JSON");
        event["replay-name"] = Value::from(replay);
        relay.prepare(
            &serde_json::to_string(&event).expect("serializes"),
            &received(),
        )
    };
    for id in ["fx-heartbeat", "fx-test-event"] {
        match replayed(id, "old-heartbeats") {
            Prepared::Refused {
                event_id: Some(event_id),
                reason,
            } => {
                assert_eq!(event_id, id);
                assert!(reason.contains("replayed"), "{reason}");
            }
            other => panic!("{id} replayed: expected refused, got {other:?}"),
        }
    }
    // A replayed CloudTrail event is still relayed (consumers replay on purpose).
    assert!(matches!(
        replayed("fx-iam-create-user", "after-a-fix"),
        Prepared::Entry(_)
    ));
}

#[test]
fn malformed_inputs_go_to_other_with_their_raw_text() {
    let all = prepared();
    let (line, _) = all
        .values()
        .find(|(l, _)| l.starts_with("this line"))
        .unwrap();
    let relay = relay();
    let Prepared::Entry(e) = relay.prepare(line, &received()) else {
        panic!()
    };
    assert_eq!(e.category, Category::Other);
    assert_eq!(e.entry.detail_type, "trailrelay Malformed Input");
    let d = detail(&e);
    assert_eq!(d["rawInput"], line.as_str());
    assert!(d["malformedReason"]
        .as_str()
        .unwrap()
        .contains("not a JSON object"));
    assert_eq!(
        d["enrichment"]["signals"],
        serde_json::json!(["malformed_input"])
    );

    let d = detail(entry(&all, "fx-detail-not-object"));
    assert!(d["rawInput"].as_str().unwrap().contains("\"oops\""));
    assert_eq!(d["enrichment"]["account"]["id"], "333333333333");
    assert_eq!(
        d["enrichment"]["provenance"]["envelopeId"],
        "fx-detail-not-object"
    );
}

#[test]
fn a_bare_cloudtrail_record_is_wrapped_as_eventbridge_would() {
    let all = prepared();
    let (_, prepared) = all
        .values()
        .find(|(l, _)| l.contains("evt-bare-record"))
        .unwrap();
    let Prepared::Entry(e) = prepared else {
        panic!()
    };
    assert_eq!(e.category, Category::Identity);
    assert_eq!(e.entry.detail_type, "AWS API Call via CloudTrail");
    let d = detail(e);
    assert_eq!(d["enrichment"]["provenance"]["source"], "aws.iam");
    assert_eq!(d["eventName"], "DeleteUserPolicy");
}

#[test]
fn a_backfilled_input_says_so_and_an_ordinary_one_says_nothing() {
    let relay = relay();
    let line = EVENTS
        .lines()
        .find(|l| l.contains("\"fx-iam-create-user\""))
        .expect("fixture");
    let as_backfill = trailrelay_shared::Circumstances {
        backfilled: true,
        ..Default::default()
    };
    let prepared = |circumstances| match relay.prepare_with(
        line,
        &received(),
        relay.directory(),
        circumstances,
    ) {
        Prepared::Entry(e) => e,
        other => panic!("expected an entry, got {other:?}"),
    };
    let backfilled = prepared(as_backfill);
    let d = detail(&backfilled);
    assert_eq!(d["enrichment"]["provenance"]["backfilled"], true);
    assert!(backfilled.has(trailrelay_shared::signal::Signal::LateDelivery));
    // PutEvents refuses an aws. source: the entry carries the relay's own,
    // the record's source stays in provenance.
    assert_eq!(backfilled.entry.source, relay.settings().source);
    assert!(!backfilled.entry.source.starts_with("aws."));
    assert_eq!(d["enrichment"]["provenance"]["source"], "aws.iam");
    // Classified and enriched like any other: only the two marks differ.
    let ordinary = prepared(Default::default());
    let o = detail(&ordinary);
    assert!(o["enrichment"]["provenance"].get("backfilled").is_none());
    assert!(!ordinary.has(trailrelay_shared::signal::Signal::LateDelivery));
    assert_eq!(backfilled.category, ordinary.category);
    assert_eq!(d["enrichment"]["account"], o["enrichment"]["account"]);
    // Malformed input put back is marked too.
    match relay.prepare_with("not json", &received(), relay.directory(), as_backfill) {
        Prepared::Entry(e) => assert!(e.has(trailrelay_shared::signal::Signal::LateDelivery)),
        other => panic!("expected an entry, got {other:?}"),
    }
}
