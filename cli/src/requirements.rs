//! The doctor's judgements of the rules in docs/aws-requirements.md that a
//! live account can show and the emulator cannot: what the relay key's
//! policy grants, and whether the dead-letter queues survive a key failure.
//! Pure: the doctor reads, these judge.

use serde_json::Value;
use trailrelay_shared::doctor::Finding;

pub const KEY_GRANTS: &str = "key-grants";

/// One grant the key policy must make, with the row of
/// docs/aws-requirements.md that says why.
struct Grant {
    principal: String,
    action: &'static str,
    /// A condition key the statement must carry (its value is the template's business).
    condition: Option<&'static str>,
    why: &'static str,
}

fn required_grants(consumers: &[String]) -> Vec<Grant> {
    let mut grants = vec![
        Grant {
            principal: "events.amazonaws.com".into(),
            action: "kms:DescribeKey",
            condition: None,
            why: "EventBridge checks the key is symmetric (R7)",
        },
        Grant {
            principal: "events.amazonaws.com".into(),
            action: "kms:ReEncrypt*",
            condition: Some("kms:EncryptionContext:aws:events:event-bus:arn"),
            why: "the archive re-encrypts what it keeps (R8)",
        },
        Grant {
            principal: "events.amazonaws.com".into(),
            action: "kms:GenerateDataKey",
            condition: Some("kms:EncryptionContext:SourceArn"),
            why: "EventBridge encrypts bus error log records (R3)",
        },
        Grant {
            principal: "delivery.logs.amazonaws.com".into(),
            action: "kms:Decrypt",
            condition: Some("kms:EncryptionContext:SourceArn"),
            why: "Logs delivery decrypts bus error log records (R3)",
        },
        Grant {
            principal: "delivery.logs.amazonaws.com".into(),
            action: "kms:GenerateDataKey",
            condition: Some("kms:EncryptionContext:SourceArn"),
            why: "Logs delivery re-encrypts bus error log records (R3)",
        },
    ];
    grants.extend(consumers.iter().map(|account| Grant {
        principal: account.clone(),
        action: "kms:Decrypt",
        condition: Some("kms:ViaService"),
        why: "a consumer account's rule calls on the category buses (R1)",
    }));
    grants
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `kms:ReEncrypt*` covers `kms:ReEncryptFrom`; `kms:*` covers everything.
fn action_matches(granted: &str, wanted: &str) -> bool {
    granted == wanted
        || granted == "kms:*"
        || granted == "*"
        || granted
            .strip_suffix('*')
            .is_some_and(|p| wanted.starts_with(p))
}

/// A principal of the statement names `who`: a service, an account id or
/// that account's root ARN.
fn names_principal(statement: &Value, who: &str) -> bool {
    let Some(principal) = statement.get("Principal") else {
        return false;
    };
    let named: Vec<&str> = strings(principal.get("Service"))
        .into_iter()
        .chain(strings(principal.get("AWS")))
        .collect();
    named
        .iter()
        .any(|p| *p == who || p.split(':').nth(4) == Some(who) && p.ends_with(":root"))
}

fn has_condition(statement: &Value, key: &str) -> bool {
    statement
        .get("Condition")
        .and_then(Value::as_object)
        .is_some_and(|ops| ops.values().any(|o| o.get(key).is_some()))
}

fn grants(policy: &Value, grant: &Grant) -> bool {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    statements.iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && names_principal(s, &grant.principal)
            && strings(s.get("Action"))
                .iter()
                .any(|a| action_matches(a, grant.action))
            && grant.condition.is_none_or(|key| has_condition(s, key))
    })
}

/// The relay key's policy makes every grant EventBridge, Logs delivery and
/// the consumer accounts need (docs/aws-requirements.md R1, R3, R7, R8).
pub fn key_grants(key: &str, policy: Option<&str>, consumers: &[String]) -> Finding {
    let Some(policy) = policy.and_then(|p| serde_json::from_str::<Value>(p).ok()) else {
        return Finding::could_not_check(
            KEY_GRANTS,
            format!("the policy of {key} could not be read (kms:GetKeyPolicy)"),
        );
    };
    let missing: Vec<String> = required_grants(consumers)
        .iter()
        .filter(|g| !grants(&policy, g))
        .map(|g| {
            let condition = g
                .condition
                .map(|c| format!(" under {c}"))
                .unwrap_or_default();
            format!("{} {}{condition}: {}", g.principal, g.action, g.why)
        })
        .collect();
    if missing.is_empty() {
        Finding::pass(
            KEY_GRANTS,
            format!(
                "{key} grants EventBridge, Logs delivery{} what they need",
                if consumers.is_empty() {
                    ""
                } else {
                    " and the consumer accounts"
                }
            ),
        )
    } else {
        Finding::fail(
            KEY_GRANTS,
            format!("{key}'s policy does not grant {}", missing.join("; ")),
            "redeploy template.yaml; with your own key (KmsKeyArn), add the statements docs/security.md lists",
        )
    }
}

pub fn dlq_encryption_id(queue_id: &str) -> String {
    format!("dlq-encryption-{queue_id}")
}

/// A dead-letter queue EventBridge writes to is not under the key whose
/// failure it must catch (R4): SSE-SQS, or a key other than the relay key.
pub fn dlq_encryption(
    queue_id: &str,
    queue: &str,
    kms_key: Option<&str>,
    sse_sqs: bool,
    relay_key: Option<&str>,
) -> Finding {
    let id = dlq_encryption_id(queue_id);
    match (kms_key.filter(|k| !k.is_empty()), relay_key) {
        (Some(key), Some(relay)) if same_key(key, relay) => Finding::fail(
            id,
            format!("{queue} is encrypted with the relay key {relay}: when that key is disabled or missing, EventBridge cannot put the events it failed on into it"),
            "redeploy template.yaml (its dead-letter queues use SSE-SQS: SqsManagedSseEnabled)",
        ),
        (Some(key), None) => Finding::could_not_check(
            id,
            format!("{queue} is under {key}, and the relay key could not be read to compare"),
        ),
        (Some(key), Some(_)) => Finding::pass(id, format!("{queue} is under {key}, not the relay key")),
        (None, _) if sse_sqs => Finding::pass(id, format!("{queue} uses SSE-SQS, independent of the relay key")),
        (None, _) => Finding::warn(
            id,
            format!("{queue} is not encrypted at rest"),
            "redeploy template.yaml (SqsManagedSseEnabled: true)",
        ),
    }
}

/// A key id and an ARN of the same key name the same key.
fn same_key(a: &str, b: &str) -> bool {
    let id = |k: &str| k.rsplit('/').next().unwrap_or(k).to_owned();
    a == b || id(a) == id(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailrelay_shared::doctor::Status;

    const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd";

    /// The relay key's policy as template.yaml writes it (abridged to what the check reads).
    fn template_policy(consumers: &[&str]) -> Value {
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "AccountAdministersTheKeyThroughIam", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "kms:DescribeKey", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
             "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:ReEncrypt*"], "Resource": "*",
             "Condition": {"StringEquals": {"kms:EncryptionContext:aws:events:event-bus:arn": "arn:aws:events:us-east-1:123456789012:event-bus/trailrelay-ingest"}}},
            {"Sid": "EventBridgeEncryptsBusErrorLogs", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
             "Action": "kms:GenerateDataKey", "Resource": "*",
             "Condition": {"StringLike": {"kms:EncryptionContext:SourceArn": "arn:aws:logs:us-east-1:123456789012:*"}}},
            {"Sid": "LogDeliveryDecryptsBusErrorLogs", "Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
             "Condition": {"StringLike": {"kms:EncryptionContext:SourceArn": "arn:aws:logs:us-east-1:123456789012:*"}}},
            {"Sid": "ConsumersManageRulesOnTheCategoryBuses", "Effect": "Allow", "Principal": {"AWS": consumers},
             "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": "events.us-east-1.amazonaws.com"}}},
        ]})
    }

    fn without(mut policy: Value, sid: &str) -> String {
        policy["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s.get("Sid").and_then(Value::as_str) != Some(sid));
        policy.to_string()
    }

    #[test]
    fn the_templates_key_policy_passes() {
        let consumers = vec!["444455556666".to_owned()];
        let f = key_grants(
            KEY,
            Some(&template_policy(&["444455556666"]).to_string()),
            &consumers,
        );
        assert_eq!(f.status, Status::Pass, "{f:?}");
        // A consumer named by its root ARN counts too.
        let f = key_grants(
            KEY,
            Some(&template_policy(&["arn:aws:iam::444455556666:root"]).to_string()),
            &consumers,
        );
        assert_eq!(f.status, Status::Pass, "{f:?}");
    }

    #[test]
    fn a_key_without_the_log_grants_fails_naming_them() {
        let f = key_grants(
            KEY,
            Some(&without(
                template_policy(&[]),
                "LogDeliveryDecryptsBusErrorLogs",
            )),
            &[],
        );
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.evidence
                .contains("delivery.logs.amazonaws.com kms:Decrypt"),
            "{}",
            f.evidence
        );
        assert!(f.fix.unwrap().contains("docs/security.md"));
        let f = key_grants(
            KEY,
            Some(&without(
                template_policy(&[]),
                "EventBridgeEncryptsBusErrorLogs",
            )),
            &[],
        );
        assert!(
            f.evidence.contains(
                "events.amazonaws.com kms:GenerateDataKey under kms:EncryptionContext:SourceArn"
            ),
            "{}",
            f.evidence
        );
    }

    #[test]
    fn a_consumer_the_key_does_not_grant_fails() {
        let consumers = vec!["444455556666".to_owned(), "777788889999".to_owned()];
        let f = key_grants(
            KEY,
            Some(&template_policy(&["444455556666"]).to_string()),
            &consumers,
        );
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.evidence.contains("777788889999 kms:Decrypt"),
            "{}",
            f.evidence
        );
        assert!(!f.evidence.contains("444455556666"), "{}", f.evidence);
    }

    #[test]
    fn an_unreadable_policy_could_not_be_checked() {
        assert_eq!(key_grants(KEY, None, &[]).status, Status::CouldNotCheck);
        assert_eq!(
            key_grants(KEY, Some("not json"), &[]).status,
            Status::CouldNotCheck
        );
    }

    #[test]
    fn a_dlq_under_the_relay_key_fails_and_sse_sqs_passes() {
        let f = dlq_encryption("bus-dlq", "trailrelay-bus-dlq", Some(KEY), false, Some(KEY));
        assert_eq!(
            (f.id.as_str(), f.status),
            ("dlq-encryption-bus-dlq", Status::Fail)
        );
        assert!(f.evidence.contains("disabled or missing"));
        // SQS reports the key id where the template gave the ARN.
        let f = dlq_encryption("bus-dlq", "q", Some("1234abcd"), false, Some(KEY));
        assert_eq!(f.status, Status::Fail);
        assert_eq!(
            dlq_encryption("bus-dlq", "q", None, true, Some(KEY)).status,
            Status::Pass
        );
        assert_eq!(
            dlq_encryption(
                "bus-dlq",
                "q",
                Some("arn:aws:kms:us-east-1:1:key/other"),
                false,
                Some(KEY)
            )
            .status,
            Status::Pass
        );
        assert_eq!(
            dlq_encryption("bus-dlq", "q", None, false, Some(KEY)).status,
            Status::Warn
        );
        assert_eq!(
            dlq_encryption("bus-dlq", "q", Some(KEY), false, None).status,
            Status::CouldNotCheck
        );
    }
}
