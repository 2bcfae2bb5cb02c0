//! The `trailrelay` binary as a user runs it.

mod common;

use common::{stderr, stdout, trailrelay};
use serde_json::Value;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/events.jsonl"
);
const SCHEMA_COPY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/enrichment.schema.json"
);

#[test]
fn route_writes_one_entry_per_event_in_input_order() {
    let out = trailrelay(&["route", FIXTURES], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let input_lines = std::fs::read_to_string(FIXTURES).unwrap().lines().count();
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    // The heartbeat is consumed and our own output refused: no entry for those two.
    assert_eq!(lines.len(), input_lines - 2);
    assert!(stderr(&out).contains("refused"));
    assert!(stderr(&out).contains("trailrelay Heartbeat consumed"));
    for entry in &lines {
        let keys: Vec<&str> = entry
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
        let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
        assert!(detail["enrichment"].is_object());
    }
    // Input order: the first fixture comes out first, the bare record last.
    assert!(lines[0]["Detail"]
        .as_str()
        .unwrap()
        .contains("evt-iam-create-user"));
    assert!(lines.last().unwrap()["Detail"]
        .as_str()
        .unwrap()
        .contains("evt-bare-record"));
}

#[test]
fn route_reads_stdin_and_never_panics_on_bad_lines() {
    let input = "not json\n\n{\"detail\":5}\n\u{0}\u{1}garbage\n[]\n";
    let out = trailrelay(&["route", "-"], Some(input));
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        4,
        "blank lines are skipped, every other line yields an entry"
    );
    for entry in lines {
        assert_eq!(entry["EventBusName"], "trailrelay-other");
        assert!(entry["Detail"]
            .as_str()
            .unwrap()
            .contains("malformed_input"));
    }
}

#[test]
fn every_enrichment_validates_against_the_published_schema() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(SCHEMA_COPY).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let out = trailrelay(&["route", FIXTURES], None);
    let mut checked = 0;
    for line in stdout(&out).lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&detail["enrichment"])
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        checked += 1;
    }
    assert!(checked > 40);
}

#[test]
fn the_checked_in_schema_is_what_the_binary_prints() {
    let out = trailrelay(&["schema"], None);
    assert!(out.status.success());
    let printed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let copy: Value = serde_json::from_str(&std::fs::read_to_string(SCHEMA_COPY).unwrap()).unwrap();
    assert_eq!(
        printed, copy,
        "run `make schema` to refresh docs/enrichment.schema.json"
    );
}

#[test]
fn explain_says_what_it_decided_and_sums_up() {
    let out = trailrelay(&["explain", FIXTURES], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("identity   rule=console-sign-in bus=trailrelay-identity account=333333333333 (payments-prod) signals=[console_login_without_mfa,root_activity]"), "{text}");
    assert!(text.contains("refused"));
    assert!(text.contains("consumed   trailrelay Heartbeat"));
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("identity ") || l.starts_with("entries "))
        .collect();
    assert_eq!(summary.len(), 2, "{text}");
    assert!(summary[0].contains("trailrelay-identity"));
    assert!(
        summary[1].starts_with("entries 48, refused 1, consumed 1, malformed 3"),
        "{}",
        summary[1]
    );
}

#[test]
fn a_bad_rule_table_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("trailrelay-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nid = \"s3\"\ncategory = \"data\"\nservices = [\"s3\"]\n",
    )
    .unwrap();
    let out = trailrelay(
        &["route", "--config", rules.to_str().unwrap(), FIXTURES],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("trailrelay: error: rule table"), "{err}");
    assert!(err.contains("catch-all"), "{err}");
    assert!(stdout(&out).is_empty());

    let accounts = dir.join("accounts.json");
    std::fs::write(&accounts, "{\"accounts\": {\"abc\": {}}}").unwrap();
    let out = trailrelay(
        &["route", "--accounts", accounts.to_str().unwrap(), FIXTURES],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("12-digit"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_unreadable_input_is_a_clear_error() {
    let out = trailrelay(&["route", "/nonexistent/events.jsonl"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read /nonexistent/events.jsonl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_custom_rule_table_and_directory_are_used() {
    let dir = std::env::temp_dir().join(format!("trailrelay-cli-custom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nid = \"all-iam\"\ncategory = \"audit\"\nservices = [\"iam\"]\n[[rule]]\nid = \"rest\"\ncategory = \"other\"\n",
    )
    .unwrap();
    let accounts = dir.join("accounts.json");
    std::fs::write(
        &accounts,
        r#"{"accounts": {"333333333333": {"name": "renamed"}}}"#,
    )
    .unwrap();
    let line = std::fs::read_to_string(FIXTURES)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let out = trailrelay(
        &[
            "route",
            "--config",
            rules.to_str().unwrap(),
            "--accounts",
            accounts.to_str().unwrap(),
        ],
        Some(&line),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let entry: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(entry["EventBusName"], "trailrelay-audit");
    let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["enrichment"]["ruleId"], "all-iam");
    assert_eq!(detail["enrichment"]["account"]["name"], "renamed");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_aws_output_source_is_refused_at_start_up() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trailrelay"))
        .args(["route", FIXTURES])
        .env("TRAILRELAY_SOURCE", "aws.relay")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("TRAILRELAY_SOURCE"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pattern_translate_rewrites_a_cloudtrail_pattern_for_the_category_buses() {
    let out = trailrelay(
        &["pattern", "translate"],
        Some(
            r#"{"source": ["aws.cloudtrail"], "region": ["eu-west-1"], "detail": {"eventName": ["StopLogging"]}}"#,
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let answer: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        answer["pattern"],
        serde_json::json!({"source": ["trailrelay"], "detail": {"eventName": ["StopLogging"],
            "eventSource": ["cloudtrail.amazonaws.com"], "awsRegion": ["eu-west-1"]}})
    );
    assert_eq!(answer["buses"], serde_json::json!(["audit"]));
    let bad = trailrelay(&["pattern", "translate"], Some("[1, 2]"));
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("JSON object"), "{}", stderr(&bad));
}

#[test]
fn every_command_says_in_its_help_what_it_reads_and_whether_it_calls_aws() {
    let top = stdout(&trailrelay(&["--help"], None));
    assert!(top.contains("offline") && top.contains("AWS APIs"), "{top}");
    let offline = ["route", "explain", "schema", "pattern", "check-template"];
    let aws = ["send-test-event", "doctor", "paths"];
    let either = ["reconcile", "volumes", "filter"];
    let mut abouts = Vec::new();
    for command in offline.iter().chain(&aws).chain(&either) {
        let help = stdout(&trailrelay(&[command, "--help"], None));
        let about = help.lines().next().unwrap_or_default().to_owned();
        if offline.contains(command) {
            assert!(about.starts_with("Offline:"), "{command}: {about}");
        } else if either.contains(command) {
            assert!(about.starts_with("Offline or AWS"), "{command}: {about}");
        } else {
            assert!(about.starts_with("AWS"), "{command}: {about}");
        }
        abouts.push(about);
    }
    // No command borrows another's description.
    let mut unique = abouts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), abouts.len(), "{abouts:#?}");
}

#[test]
fn volumes_tallies_a_trail_folder_and_json_lines_by_call_and_prices_a_month() {
    let dir = std::env::temp_dir().join(format!("trailrelay-volumes-{}", std::process::id()));
    let trail = dir.join("AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/12/01");
    std::fs::create_dir_all(&trail).unwrap();
    let record = |name: &str, read_only: bool, minute: u32| {
        serde_json::json!({
            "eventVersion": "1.09", "eventSource": "kms.amazonaws.com", "eventName": name,
            "readOnly": read_only, "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
            "eventTime": format!("2026-12-01T00:{minute:02}:00Z"),
            "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}
        })
    };
    let records: Vec<Value> = (0..30).map(|m| record("Decrypt", true, m)).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gz,
        serde_json::json!({ "Records": records })
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    std::fs::write(
        trail.join("111122223333_CloudTrail_us-east-1_20261201T0030Z_a.json.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("more.jsonl"),
        format!("{}\n", record("CreateKey", false, 30)),
    )
    .unwrap();

    let out = trailrelay(&["volumes", "--json", dir.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["total"]["count"], 31);
    assert_eq!(report["rows"][0]["eventName"], "Decrypt");
    assert_eq!(report["rows"][0]["count"], 30);
    assert_eq!(report["rows"][0]["invokedByService"], true);
    assert_eq!(report["windowSeconds"], 1800.0);
    // 31 chunks in half an hour: 1,440 half hours in 30 days, paid twice at $1 per million.
    let cost = report["total"]["costPerMonth"].as_f64().unwrap();
    assert!((cost - 31.0 * 1440.0 * 2.0 / 1e6).abs() < 1e-9, "{cost}");
    let table = stdout(&trailrelay(
        &["volumes", "--top", "1", dir.to_str().unwrap()],
        None,
    ));
    assert!(
        table.contains("(the rest)") && !table.contains("CreateKey"),
        "{table}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn filter_suggest_excludes_the_biggest_read_only_call_proves_it_and_refuses_what_it_cannot_reach() {
    let dir = std::env::temp_dir().join(format!("trailrelay-filter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let record = |name: &str, extra: Value| {
        let mut r = serde_json::json!({
            "eventVersion": "1.09", "eventSource": "kms.amazonaws.com", "eventName": name, "readOnly": true,
            "eventType": "AwsApiCall", "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
            "eventTime": "2026-12-01T00:00:00Z", "eventID": "e",
            "userIdentity": {"type": "AssumedRole", "accountId": "111122223333", "invokedBy": "s3.amazonaws.com"}
        });
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r.to_string()
    };
    let mut lines = vec![record("Decrypt", serde_json::json!({})); 30];
    lines.extend(vec![
        record(
            "Decrypt",
            serde_json::json!({"errorCode": "AccessDenied"})
        );
        5
    ]);
    lines.extend(vec![
        record(
            "Decrypt",
            serde_json::json!({"userIdentity": {"type": "Root", "accountId": "111122223333"}})
        );
        2
    ]);
    lines.extend(vec![record("Decrypt", serde_json::json!({"userIdentity": {"type": "AssumedRole", "accountId": "444455556666"}})); 2]);
    lines.extend(vec![
        record(
            "CreateKey",
            serde_json::json!({"readOnly": false})
        );
        10
    ]);
    std::fs::write(dir.join("events.jsonl"), lines.join("\n")).unwrap();
    let input = dir.to_str().unwrap();

    let out = trailrelay(
        &["filter", "suggest", input, "--saving", "50%", "--json"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let s: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(s["parameters"]["ForwardExcludedEventNames"], "Decrypt");
    assert_eq!(
        s["parameters"]["ForwardExcludedEventSources"],
        "kms.amazonaws.com"
    );
    // Only the 30 plain ones: errors, Root and the other account's calls stay.
    assert_eq!(s["excluded"]["count"], 30);
    assert_eq!(s["proofChecked"], 30);
    assert_eq!(s["proofViolations"], serde_json::json!([]));
    assert!(s["pattern"]["$or"].as_array().unwrap().len() >= 10);

    let refused = trailrelay(&["filter", "suggest", input, "--saving", "90%"], None);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stdout(&refused).starts_with("REFUSED"),
        "{}",
        stdout(&refused)
    );
    std::fs::remove_dir_all(&dir).ok();
}
