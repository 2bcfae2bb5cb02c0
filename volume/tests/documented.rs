//! The matcher against EventBridge's documented examples
//! (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html,
//! eb-create-pattern-operators.html, eb-event-patterns-arrays.html), and the
//! cases a member-rule exclusion depends on: absent fields and arrays.

use serde_json::{json, Value};
use trailrelay_volume::Pattern;

fn matches(pattern: Value, event: Value) -> bool {
    Pattern::parse(&pattern)
        .expect("a valid pattern")
        .matches(&event)
}

#[test]
fn prefix_and_suffix_match_the_start_and_end_of_strings() {
    let p = json!({"time": [{"prefix": "2017-10-02"}]});
    assert!(matches(p.clone(), json!({"time": "2017-10-02T18:43:48Z"})));
    assert!(!matches(p, json!({"time": "2017-10-03T18:43:48Z"})));
    let p = json!({"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}});
    for s in ["EventBridge", "EVENTBRIDGE", "eventb"] {
        assert!(matches(p.clone(), json!({"detail": {"service": s}})), "{s}");
    }
    assert!(!matches(p, json!({"detail": {"service": "SQS"}})));
    let p = json!({"FileName": [{"suffix": ".png"}]});
    assert!(matches(p.clone(), json!({"FileName": "image.png"})));
    assert!(!matches(p, json!({"FileName": "image.PNG"})));
    let p = json!({"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}});
    assert!(matches(p, json!({"detail": {"FileName": "image.PNG"}})));
}

#[test]
fn anything_but_matches_everything_except_what_it_names() {
    let p = json!({"detail": {"state": [{"anything-but": "initializing"}]}});
    assert!(matches(p.clone(), json!({"detail": {"state": "running"}})));
    assert!(!matches(p, json!({"detail": {"state": "initializing"}})));
    let p = json!({"detail": {"x-limit": [{"anything-but": 123}]}});
    assert!(matches(p.clone(), json!({"detail": {"x-limit": 124}})));
    assert!(!matches(p, json!({"detail": {"x-limit": 123}})));
    let p = json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}});
    assert!(matches(p.clone(), json!({"detail": {"state": "running"}})));
    assert!(!matches(p, json!({"detail": {"state": "overloaded"}})));
    let p = json!({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}});
    assert!(matches(p.clone(), json!({"detail": {"state": "running"}})));
    assert!(!matches(p, json!({"detail": {"state": "initializing"}})));
    let p = json!({"detail": {"FileName": [{"anything-but": {"suffix": ".txt"}}]}});
    assert!(matches(p.clone(), json!({"detail": {"FileName": "a.png"}})));
    assert!(!matches(p, json!({"detail": {"FileName": "a.txt"}})));
    let p = json!({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}});
    assert!(!matches(p.clone(), json!({"detail": {"state": "STOPPED"}})));
    assert!(matches(p, json!({"detail": {"state": "running"}})));
    let p = json!({"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}});
    assert!(matches(
        p.clone(),
        json!({"detail": {"FilePath": "/usr/bin/x"}})
    ));
    assert!(!matches(p, json!({"detail": {"FilePath": "/usr/lib/x"}})));
}

#[test]
fn numeric_ranges_compare_numbers_by_value() {
    let p = json!({"detail": {
        "c-count": [{"numeric": [">", 0, "<=", 5]}],
        "d-count": [{"numeric": ["<", 10]}],
        "x-limit": [{"numeric": ["=", 3.018e2]}]
    }});
    assert!(matches(
        p.clone(),
        json!({"detail": {"c-count": 5, "d-count": 7, "x-limit": 301.8}})
    ));
    assert!(!matches(
        p.clone(),
        json!({"detail": {"c-count": 0, "d-count": 7, "x-limit": 301.8}})
    ));
    assert!(!matches(
        p,
        json!({"detail": {"c-count": 5, "d-count": "7", "x-limit": 301.8}})
    ));
    assert!(matches(json!({"n": [300]}), json!({"n": 300.0})));
}

#[test]
fn ip_addresses_match_a_cidr_block() {
    let p = json!({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}});
    assert!(matches(
        p.clone(),
        json!({"detail": {"sourceIPAddress": "10.0.0.255"}})
    ));
    assert!(!matches(
        p.clone(),
        json!({"detail": {"sourceIPAddress": "10.0.1.1"}})
    ));
    assert!(!matches(
        p,
        json!({"detail": {"sourceIPAddress": "s3.amazonaws.com"}})
    ));
}

#[test]
fn exists_tells_present_from_absent() {
    let present = json!({"detail": {"c-count": [{"exists": true}]}});
    let absent = json!({"detail": {"c-count": [{"exists": false}]}});
    let with = json!({"detail": {"c-count": 3}});
    let without = json!({"detail": {"state": "x"}});
    assert!(matches(present.clone(), with.clone()));
    assert!(!matches(present.clone(), without.clone()));
    assert!(!matches(absent.clone(), with));
    assert!(matches(absent.clone(), without));
    // null is a value: present.
    assert!(matches(present, json!({"detail": {"c-count": null}})));
    assert!(!matches(
        absent.clone(),
        json!({"detail": {"c-count": null}})
    ));
    // No detail at all: every field under it is absent.
    assert!(matches(absent, json!({"source": "x"})));
}

#[test]
fn a_matcher_other_than_exists_false_never_matches_an_absent_field() {
    let event = json!({"detail": {"eventName": "GetObject"}});
    for matcher in [
        json!(false),
        json!({"anything-but": "x"}),
        json!({"anything-but": {"prefix": "x"}}),
        json!({"prefix": ""}),
        json!({"exists": true}),
        json!(null),
        json!(""),
    ] {
        assert!(
            !matches(
                json!({"detail": {"readOnly": [matcher.clone()]}}),
                event.clone()
            ),
            "{matcher}"
        );
    }
}

#[test]
fn null_and_empty_strings_are_values_of_their_own() {
    let event = json!({"detail": {"eventType": "x", "responseElements": null, "LastName": ""}});
    assert!(matches(
        json!({"detail": {"responseElements": [null]}}),
        event.clone()
    ));
    assert!(!matches(
        json!({"detail": {"responseElements": [""]}}),
        event.clone()
    ));
    assert!(matches(
        json!({"detail": {"LastName": [""]}}),
        event.clone()
    ));
    assert!(!matches(json!({"detail": {"LastName": [null]}}), event));
}

#[test]
fn booleans_match_only_booleans() {
    let p = json!({"detail": {"readOnly": [true]}});
    assert!(matches(p.clone(), json!({"detail": {"readOnly": true}})));
    assert!(!matches(p.clone(), json!({"detail": {"readOnly": "true"}})));
    assert!(!matches(p, json!({"detail": {"readOnly": false}})));
}

#[test]
fn an_array_in_the_event_matches_when_any_element_does() {
    let p = json!({"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]});
    let event = json!({"resources": [
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"
    ]});
    assert!(matches(p, event.clone()));
    assert!(!matches(
        json!({"resources": ["arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}),
        event.clone()
    ));
    assert!(matches(
        json!({"resources": [{"anything-but": "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"}]}),
        event
    ));
    assert!(matches(
        json!({"resources": [{"exists": true}]}),
        json!({"resources": []})
    ));
    assert!(!matches(
        json!({"resources": [{"prefix": "arn"}]}),
        json!({"resources": []})
    ));
}

#[test]
fn or_holds_when_any_branch_does() {
    let p = json!({"detail": {"$or": [
        {"c-count": [{"numeric": [">", 0, "<=", 5]}]},
        {"d-count": [{"numeric": ["<", 10]}]},
        {"x-limit": [{"numeric": ["=", 3.018e2]}]}
    ]}});
    assert!(matches(p.clone(), json!({"detail": {"c-count": 3}})));
    assert!(matches(p.clone(), json!({"detail": {"x-limit": 301.8}})));
    assert!(!matches(
        p,
        json!({"detail": {"c-count": 7, "d-count": 12}})
    ));
    let top =
        json!({"source": ["aws.s3"], "$or": [{"detail-type": ["a"]}, {"detail": {"x": ["y"]}}]});
    assert!(matches(
        top.clone(),
        json!({"source": "aws.s3", "detail-type": "b", "detail": {"x": "y"}})
    ));
    assert!(!matches(
        top,
        json!({"source": "aws.ec2", "detail-type": "a"})
    ));
}

#[test]
fn wildcards_and_equals_ignore_case() {
    let p = json!({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]});
    assert!(matches(
        p.clone(),
        json!({"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"})
    ));
    assert!(!matches(
        p,
        json!({"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"})
    ));
    assert!(matches(
        json!({"k": [{"wildcard": "a*"}]}),
        json!({"k": "a"})
    ));
    assert!(!matches(
        json!({"k": [{"wildcard": "*ab*ab"}]}),
        json!({"k": "xab"})
    ));
    let p =
        json!({"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]});
    assert!(matches(
        p,
        json!({"detail-type": "EC2 Instance State-change Notification"})
    ));
}

#[test]
fn nested_patterns_need_an_object_there() {
    let p = json!({"detail": {"userIdentity": {"type": ["Root"]}}});
    assert!(matches(
        p.clone(),
        json!({"detail": {"userIdentity": {"type": "Root"}}})
    ));
    assert!(!matches(
        p.clone(),
        json!({"detail": {"userIdentity": "Root"}})
    ));
    assert!(!matches(p, json!({"detail": {}})));
}

#[test]
fn malformed_patterns_are_refused_with_where() {
    for (pattern, path) in [
        (json!({"detail": {"x": []}}), "detail.x"),
        (json!({"detail": {"x": "y"}}), "detail.x"),
        (json!({"x": [{"prefix": 1}]}), "x"),
        (json!({"x": [{"numeric": [">"]}]}), "x"),
        (json!({"x": [{"cidr": "10.0.0.0/33"}]}), "x"),
        (json!({"x": [{"nope": 1}]}), "x"),
        (json!({"$or": []}), "$or"),
    ] {
        match Pattern::parse(&pattern) {
            Err(trailrelay_volume::PatternError::Invalid { path: at, .. }) => {
                assert_eq!(at, path, "{pattern}")
            }
            other => panic!("{pattern}: {other:?}"),
        }
    }
    assert!(Pattern::parse(&json!(["x"])).is_err());
}
