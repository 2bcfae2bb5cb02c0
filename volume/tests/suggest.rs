//! A suggested exclusion never drops an event of a kept class, whatever the
//! exclusion and whatever the record lacks; and it drops the calls it names.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use trailrelay_volume::suggest::{choose, forward_pattern, Exclusion, Judge, Keep};

const ACCOUNT: &str = "111122223333";
const SOURCES: [&str; 4] = [
    "kms.amazonaws.com",
    "s3.amazonaws.com",
    "sts.amazonaws.com",
    "signin.amazonaws.com",
];
const NAMES: [&str; 5] = [
    "Decrypt",
    "GetObject",
    "AssumeRole",
    "ConsoleLogin",
    "PutRule",
];

fn keep() -> Keep {
    Keep {
        control_source: "trailrelay.control".into(),
        tampering_names: vec!["PutRule".into(), "StopLogging".into()],
    }
}

#[derive(Debug, Clone)]
struct Generated {
    control: bool,
    source: Option<usize>,
    name: Option<usize>,
    read_only: Option<bool>,
    error: bool,
    identity_type: Option<&'static str>,
    actor_account: Option<&'static str>,
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        any::<bool>(),
        proptest::option::of(0..SOURCES.len()),
        proptest::option::of(0..NAMES.len()),
        proptest::option::of(any::<bool>()),
        any::<bool>(),
        proptest::option::of(prop_oneof![
            Just("Root"),
            Just("IAMUser"),
            Just("AWSService"),
            Just("AssumedRole")
        ]),
        proptest::option::of(prop_oneof![Just(ACCOUNT), Just("444455556666")]),
    )
        .prop_map(
            |(control, source, name, read_only, error, identity_type, actor_account)| Generated {
                control: control && source.is_none(),
                source,
                name,
                read_only,
                error,
                identity_type,
                actor_account,
            },
        )
}

fn event(g: &Generated) -> Value {
    let mut detail = Map::new();
    if let Some(s) = g.source {
        detail.insert("eventSource".into(), json!(SOURCES[s]));
    }
    if let Some(n) = g.name {
        detail.insert("eventName".into(), json!(NAMES[n]));
    }
    if let Some(ro) = g.read_only {
        detail.insert("readOnly".into(), json!(ro));
    }
    if g.error {
        detail.insert("errorCode".into(), json!("ThrottlingException"));
    }
    let mut identity = Map::new();
    if let Some(t) = g.identity_type {
        identity.insert("type".into(), json!(t));
    }
    if let Some(a) = g.actor_account {
        identity.insert("accountId".into(), json!(a));
    }
    if !identity.is_empty() {
        detail.insert("userIdentity".into(), Value::Object(identity));
    }
    let (source, detail_type) = if g.control {
        ("trailrelay.control", "trailrelay Heartbeat")
    } else {
        ("aws.kms", "AWS API Call via CloudTrail")
    };
    json!({"source": source, "detail-type": detail_type, "account": ACCOUNT, "detail": detail})
}

/// The kept classes, said without the matcher.
fn kept(g: &Generated) -> bool {
    g.control
        || g.read_only != Some(true)
        || g.name.is_none()
        || g.source.is_none()
        || g.error
        || g.identity_type == Some("Root")
        || g.source
            .is_some_and(|s| SOURCES[s] == "signin.amazonaws.com")
        || g.name
            .is_some_and(|n| keep().tampering_names.iter().any(|t| t == NAMES[n]))
        || g.actor_account.is_some_and(|a| a != ACCOUNT)
}

fn exclusion() -> impl Strategy<Value = Exclusion> {
    (
        proptest::collection::btree_set(0..SOURCES.len(), 1..=SOURCES.len()),
        proptest::collection::btree_set(0..NAMES.len(), 1..=NAMES.len()),
    )
        .prop_map(|(s, n)| Exclusion {
            event_sources: s.into_iter().map(|i| SOURCES[i].to_owned()).collect(),
            event_names: n.into_iter().map(|i| NAMES[i].to_owned()).collect(),
        })
}

proptest! {
    #[test]
    fn no_event_of_a_kept_class_is_ever_excluded(g in generated(), exclusion in exclusion()) {
        let base = forward_pattern("trailrelay.control");
        let judge = Judge::new(&exclusion, &base, &keep(), ACCOUNT).expect("a valid pattern");
        let e = event(&g);
        let dropped = judge.excludes(&e);
        if kept(&g) {
            prop_assert!(!dropped, "{e}");
        } else {
            // Not kept: dropped exactly when its call is in the exclusion.
            let named = g.source.is_some_and(|s| exclusion.event_sources.contains(SOURCES[s]))
                && g.name.is_some_and(|n| exclusion.event_names.contains(NAMES[n]));
            prop_assert_eq!(dropped, named, "{}", e);
        }
    }
}

#[test]
fn choose_takes_the_biggest_calls_until_the_target_and_never_a_tampering_name() {
    let calls = [
        (
            ("events.amazonaws.com".to_string(), "PutRule".to_string()),
            1000,
        ),
        (
            ("kms.amazonaws.com".to_string(), "Decrypt".to_string()),
            600,
        ),
        (
            ("s3.amazonaws.com".to_string(), "GetObject".to_string()),
            300,
        ),
        (
            (
                "ec2.amazonaws.com".to_string(),
                "DescribeInstances".to_string(),
            ),
            100,
        ),
    ];
    let refs: Vec<(&(String, String), u64)> = calls.iter().map(|(k, c)| (k, *c)).collect();
    let base = forward_pattern("trailrelay.control");
    let s = choose(&refs, 800, &base, &keep(), 2048).expect("reachable");
    assert_eq!(
        s.exclusion.event_names,
        BTreeSet::from(["Decrypt".to_string(), "GetObject".to_string()])
    );
    assert_eq!(s.estimated_chunks, 900);
    assert!(s.pattern_len <= 2048);
    let best = choose(&refs, 5000, &base, &keep(), 2048).expect_err("out of reach");
    assert_eq!(best.estimated_chunks, 1000);
    // A limit too small for any exclusion: nothing chosen.
    let none = choose(&refs, 100, &base, &keep(), 300).expect_err("no room");
    assert!(none.exclusion.is_empty());
}
