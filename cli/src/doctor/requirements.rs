//! The doctor's judgements of the rules in docs/aws-requirements.md that a
//! live account can show and the emulator cannot: what the relay key's
//! policy grants, whether the dead-letter queues survive a key failure,
//! whether the trails log, whether a VPC resolves its endpoints' names.
//! Pure: the doctor reads, these judge.

use crate::finding::Finding;
use serde_json::Value;
use trailrelay_adapters::cloudtrail::{AdvancedSelector, BasicSelector, Trail};
use trailrelay_adapters::ec2::VpcDns;
use trailrelay_adapters::Error;

pub const KEY_GRANTS: &str = "key-grants";
pub const VPC_DNS: &str = "vpc-dns";

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

/// Which management events a trail records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ManagementEvents {
    pub read: bool,
    pub write: bool,
}

impl ManagementEvents {
    pub fn from_selectors(
        basic: &[BasicSelector],
        advanced: &[AdvancedSelector],
    ) -> ManagementEvents {
        let mut events = ManagementEvents::default();
        for s in basic.iter().filter(|s| s.include_management_events) {
            let rw = s.read_write_type.as_str();
            events.read |= rw == "All" || rw == "ReadOnly";
            events.write |= rw == "All" || rw == "WriteOnly";
        }
        for fields in advanced {
            let equals = |name: &str| fields.iter().find(|(f, _)| f == name).map(|(_, v)| v);
            if !equals("eventCategory").is_some_and(|v| v.iter().any(|c| c == "Management")) {
                continue;
            }
            match equals("readOnly").map(Vec::as_slice) {
                Some([only]) if only == "true" => events.read = true,
                Some([only]) if only == "false" => events.write = true,
                _ => {
                    events.read = true;
                    events.write = true;
                }
            }
        }
        events
    }
}

/// What the doctor read of one trail visible in an account and region.
pub struct TrailFacts {
    pub name: String,
    pub home_region: String,
    pub multi_region: bool,
    /// `GetTrailStatus`' IsLogging, when it could be read.
    pub logging: Option<bool>,
    /// From `GetEventSelectors`, when they could be read.
    pub management: Option<ManagementEvents>,
}

impl From<&Trail> for TrailFacts {
    fn from(trail: &Trail) -> Self {
        TrailFacts {
            name: trail.name.clone(),
            home_region: trail.home_region.clone(),
            multi_region: trail.multi_region,
            logging: trail.logging,
            management: trail
                .selectors
                .as_ref()
                .map(|(basic, advanced)| ManagementEvents::from_selectors(basic, advanced)),
        }
    }
}

pub fn trail_id(account: &str, region: &str) -> String {
    format!("trail-{account}-{region}")
}

/// CloudTrail delivers events to EventBridge in a region only where a
/// trail is logging there, and read-only events only where it records them
/// (docs/deploy.md, "No trail, no events").
pub fn trail_coverage(
    account: &str,
    region: &str,
    trails: Option<&[TrailFacts]>,
    include_read_only: bool,
) -> Finding {
    let id = trail_id(account, region);
    let Some(trails) = trails else {
        return Finding::could_not_check(
            id,
            format!(
                "the trails of {account} {region} could not be read (cloudtrail:DescribeTrails)"
            ),
        );
    };
    let fix = "log this account and region with a multi-region organization trail (management account or CloudTrail delegated administrator), recording read and write management events";
    let logging: Vec<&TrailFacts> = trails
        .iter()
        .filter(|t| (t.multi_region || t.home_region == region) && t.logging == Some(true))
        .collect();
    if logging.is_empty() {
        let unknown = trails
            .iter()
            .any(|t| (t.multi_region || t.home_region == region) && t.logging.is_none());
        if unknown {
            return Finding::could_not_check(
                id,
                format!("a trail covers {account} {region} but its status could not be read (cloudtrail:GetTrailStatus)"),
            );
        }
        return Finding::fail(
            id,
            format!("no trail is logging in {account} {region}: CloudTrail sends no events to EventBridge there, so nothing is forwarded"),
            fix,
        );
    }
    let names = logging
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let recorded =
        logging
            .iter()
            .filter_map(|t| t.management)
            .fold(ManagementEvents::default(), |a, m| ManagementEvents {
                read: a.read || m.read,
                write: a.write || m.write,
            });
    if logging.iter().all(|t| t.management.is_none()) {
        return Finding::could_not_check(
            id,
            format!("{names} logs in {account} {region}, but its event selectors could not be read (cloudtrail:GetEventSelectors)"),
        );
    }
    if !recorded.write {
        return Finding::fail(
            id,
            format!("{names} logs in {account} {region} but records no write management events"),
            fix,
        );
    }
    if include_read_only && !recorded.read {
        return Finding::warn(
            id,
            format!("{names} logs in {account} {region} but records no read-only management events: IncludeReadOnlyEvents relays none from here"),
            "set the trail's management events to read and write (All), or deploy with IncludeReadOnlyEvents=false",
        );
    }
    Finding::pass(
        id,
        format!(
            "{names} logs {} management events in {account} {region}",
            if recorded.read {
                "read and write"
            } else {
                "write"
            }
        ),
    )
}

/// Where the member stack of an account that lacks its forward rule comes
/// from: a service-managed StackSet covers every account but the
/// management account (the security account included), so a plain stack
/// belongs in the management account only (docs/deploy.md).
pub fn missing_member_stack_fix(
    account: &str,
    region: &str,
    management_account: Option<&str>,
    ingest_bus_arn: &str,
) -> String {
    match management_account {
        Some(management) if management == account => format!(
            "{account} is the management account, which a service-managed StackSet never deploys to: deploy member-roles.yaml there once, then member-account.yaml as a plain stack in {region} (IngestBusArn={ingest_bus_arn})"
        ),
        Some(_) => format!(
            "add {account} (or its OU) and {region} to the trailrelay-member StackSet's deployment targets (aws cloudformation create-stack-instances); do not deploy a plain stack there, it would collide with the StackSet's named resources"
        ),
        None => format!(
            "deploy the member stacks to {account} {region}: through the trailrelay-member-roles and trailrelay-member StackSets, or as plain stacks (member-roles.yaml once, then member-account.yaml) if {account} is the management account (IngestBusArn={ingest_bus_arn})"
        ),
    }
}

pub fn consumer_bus_id(account: &str) -> String {
    format!("consumer-bus-{account}")
}

/// A consumer's bus (consumer-account.yaml) admits `events:PutEvents` only
/// from the rules of the security account's category buses (`aws:SourceArn`
/// set by EventBridge), and does admit them, or subscriptions deliver
/// nothing.
pub fn consumer_bus_policy(
    account: &str,
    bus: &str,
    policy: Option<&str>,
    security_account: &str,
    prefix: &str,
) -> Finding {
    let id = consumer_bus_id(account);
    let fix = "redeploy consumer-account.yaml with SecurityAccountId and NamePrefix of the security stack";
    let Some(policy) = policy.and_then(|p| serde_json::from_str::<Value>(p).ok()) else {
        return Finding::fail(
            id,
            format!(
                "{bus} in {account} has no resource policy: no category bus rule can deliver to it"
            ),
            fix,
        );
    };
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let puts: Vec<&Value> = statements
        .into_iter()
        .filter(|s| {
            s.get("Effect").and_then(Value::as_str) == Some("Allow")
                && strings(s.get("Action"))
                    .iter()
                    .any(|a| action_matches_events(a))
        })
        .collect();
    let ours = |arn: &str| {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        parts.len() == 6
            && parts[2] == "events"
            && parts[4] == security_account
            && parts[5].starts_with(&format!("rule/{prefix}-"))
            && parts[5].ends_with("/*")
    };
    let mut admitted = false;
    for s in &puts {
        let sources: Vec<&str> = s
            .get("Condition")
            .and_then(Value::as_object)
            .map(|ops| {
                ops.values()
                    .flat_map(|o| strings(o.get("aws:SourceArn")))
                    .collect()
            })
            .unwrap_or_default();
        let anyone = match s.get("Principal") {
            Some(Value::String(p)) => p == "*",
            Some(p) => strings(p.get("AWS")).contains(&"*"),
            None => false,
        };
        if anyone && sources.is_empty() {
            return Finding::fail(
                id,
                format!("{bus} in {account} lets anyone put events: an Allow of events:PutEvents has no aws:SourceArn condition"),
                fix,
            );
        }
        if let Some(other) = sources.iter().find(|a| !ours(a)) {
            return Finding::fail(
                id,
                format!("{bus} in {account} admits events from {other}, which is not a rule of {security_account}'s {prefix} category buses"),
                fix,
            );
        }
        admitted |= !sources.is_empty();
    }
    if admitted {
        Finding::pass(
            id,
            format!("{bus} in {account} admits events:PutEvents only from the rules of {security_account}'s {prefix} category buses"),
        )
    } else {
        Finding::fail(
            id,
            format!("{bus} in {account} admits no rule of {security_account}'s category buses: subscriptions deliver nothing"),
            fix,
        )
    }
}

fn action_matches_events(granted: &str) -> bool {
    granted == "events:PutEvents" || granted == "events:*" || granted == "*"
}

/// In a VPC the functions reach EventBridge, KMS and STS through interface
/// endpoints by their private DNS names, which resolve only where the VPC
/// has both `enableDnsSupport` and `enableDnsHostnames` on (R27).
pub fn vpc_dns(vpc: &str, dns: Result<VpcDns, Error>) -> Finding {
    let dns = match dns {
        Ok(dns) => dns,
        Err(e) => {
            return Finding::could_not_check(
                VPC_DNS,
                format!("the DNS attributes of {vpc} could not be read ({e}): the doctor's principal needs ec2:DescribeVpcAttribute"),
            )
        }
    };
    let off: Vec<&str> = [
        ("enableDnsSupport", dns.support),
        ("enableDnsHostnames", dns.hostnames),
    ]
    .into_iter()
    .filter(|(_, on)| !on)
    .map(|(name, _)| name)
    .collect();
    if off.is_empty() {
        Finding::pass(
            VPC_DNS,
            format!("{vpc} has enableDnsSupport and enableDnsHostnames on: the interface endpoints' private DNS names resolve"),
        )
    } else {
        Finding::fail(
            VPC_DNS,
            format!(
                "{vpc} has {} off: the functions cannot resolve the interface endpoints' private DNS names, so every EventBridge, KMS and STS call times out",
                off.join(" and ")
            ),
            off.iter()
                .map(|a| format!("aws ec2 modify-vpc-attribute --vpc-id {vpc} --{} Value=true", kebab(a)))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// Outside a VPC there are no interface endpoints to resolve.
pub fn vpc_dns_outside_a_vpc(function_exists: bool) -> Finding {
    if function_exists {
        Finding::pass(
            VPC_DNS,
            "the functions run outside a VPC: nothing to resolve",
        )
    } else {
        Finding::could_not_check(VPC_DNS, "the enricher function does not exist")
    }
}

/// `enableDnsSupport` as the CLI spells its flag (`enable-dns-support`).
fn kebab(attribute: &str) -> String {
    attribute.chars().fold(String::new(), |mut out, c| {
        if c.is_ascii_uppercase() {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Status;

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

    fn trail(
        multi_region: bool,
        logging: Option<bool>,
        management: Option<ManagementEvents>,
    ) -> TrailFacts {
        TrailFacts {
            name: "org".into(),
            home_region: "us-east-1".into(),
            multi_region,
            logging,
            management,
        }
    }

    const ALL: ManagementEvents = ManagementEvents {
        read: true,
        write: true,
    };
    const WRITE: ManagementEvents = ManagementEvents {
        read: false,
        write: true,
    };

    #[test]
    fn a_logging_multi_region_trail_covers_every_region() {
        let trails = [trail(true, Some(true), Some(ALL))];
        let f = trail_coverage("111111111111", "eu-west-1", Some(&trails), true);
        assert_eq!(
            (f.id.as_str(), f.status),
            ("trail-111111111111-eu-west-1", Status::Pass),
            "{f:?}"
        );
        // A single-region trail elsewhere does not.
        let trails = [trail(false, Some(true), Some(ALL))];
        let f = trail_coverage("111111111111", "eu-west-1", Some(&trails), true);
        assert_eq!(f.status, Status::Fail);
        assert!(f.evidence.contains("no trail is logging"), "{}", f.evidence);
    }

    #[test]
    fn a_stopped_trail_fails_and_unreadable_ones_are_said() {
        let f = trail_coverage(
            "1",
            "us-east-1",
            Some(&[trail(true, Some(false), Some(ALL))]),
            false,
        );
        assert_eq!(f.status, Status::Fail);
        assert!(f.fix.unwrap().contains("organization trail"));
        assert_eq!(
            trail_coverage("1", "us-east-1", None, false).status,
            Status::CouldNotCheck
        );
        assert_eq!(
            trail_coverage("1", "us-east-1", Some(&[trail(true, None, None)]), false).status,
            Status::CouldNotCheck
        );
        assert_eq!(
            trail_coverage(
                "1",
                "us-east-1",
                Some(&[trail(true, Some(true), None)]),
                false
            )
            .status,
            Status::CouldNotCheck
        );
    }

    #[test]
    fn read_only_events_matter_only_when_relayed() {
        let trails = [trail(true, Some(true), Some(WRITE))];
        assert_eq!(
            trail_coverage("1", "us-east-1", Some(&trails), true).status,
            Status::Warn
        );
        assert_eq!(
            trail_coverage("1", "us-east-1", Some(&trails), false).status,
            Status::Pass
        );
        let read_only = [trail(
            true,
            Some(true),
            Some(ManagementEvents {
                read: true,
                write: false,
            }),
        )];
        assert_eq!(
            trail_coverage("1", "us-east-1", Some(&read_only), false).status,
            Status::Fail
        );
    }

    #[test]
    fn selectors_say_which_management_events_are_recorded() {
        let basic = |include, rw: &str| BasicSelector {
            include_management_events: include,
            read_write_type: rw.into(),
        };
        assert_eq!(
            ManagementEvents::from_selectors(&[basic(true, "All")], &[]),
            ALL
        );
        assert_eq!(
            ManagementEvents::from_selectors(&[basic(true, "WriteOnly")], &[]),
            WRITE
        );
        assert_eq!(
            ManagementEvents::from_selectors(&[basic(false, "All")], &[]),
            ManagementEvents::default()
        );
        let field = |f: &str, v: &[&str]| {
            (
                f.to_owned(),
                v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
        };
        let management = vec![field("eventCategory", &["Management"])];
        assert_eq!(ManagementEvents::from_selectors(&[], &[management]), ALL);
        let write_only = vec![
            field("eventCategory", &["Management"]),
            field("readOnly", &["false"]),
        ];
        assert_eq!(ManagementEvents::from_selectors(&[], &[write_only]), WRITE);
        let data = vec![field("eventCategory", &["Data"])];
        assert_eq!(
            ManagementEvents::from_selectors(&[], &[data]),
            ManagementEvents::default()
        );
    }

    #[test]
    fn a_missing_member_stack_is_the_stacksets_but_in_the_management_account() {
        let ingest = "arn:aws:events:us-east-1:222222222222:event-bus/trailrelay-ingest";
        let fix =
            missing_member_stack_fix("111111111111", "eu-west-1", Some("111111111111"), ingest);
        assert!(
            fix.contains("management account") && fix.contains("plain stack"),
            "{fix}"
        );
        let fix =
            missing_member_stack_fix("333333333333", "eu-west-1", Some("111111111111"), ingest);
        assert!(
            fix.contains("StackSet's deployment targets") && fix.contains("collide"),
            "{fix}"
        );
        let fix = missing_member_stack_fix("333333333333", "eu-west-1", None, ingest);
        assert!(
            fix.contains("StackSet") && fix.contains("management account"),
            "{fix}"
        );
    }

    fn consumer_policy(sources: &[&str], principal: &str) -> String {
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Sid": "OnlyTheCategoryBusesRulesPut",
            "Effect": "Allow", "Principal": principal, "Action": "events:PutEvents",
            "Resource": "arn:aws:events:us-east-1:444455556666:event-bus/trailrelay-consumer",
            "Condition": {"ArnLike": {"aws:SourceArn": sources}}}]})
        .to_string()
    }

    #[test]
    fn a_consumer_bus_admits_only_the_category_buses_rules() {
        let ok = consumer_policy(
            &[
                "arn:aws:events:us-east-1:123456789012:rule/trailrelay-identity/*",
                "arn:aws:events:us-east-1:123456789012:rule/trailrelay-audit/*",
            ],
            "*",
        );
        let f = consumer_bus_policy(
            "444455556666",
            "trailrelay-consumer",
            Some(&ok),
            "123456789012",
            "trailrelay",
        );
        assert_eq!(
            (f.id.as_str(), f.status),
            ("consumer-bus-444455556666", Status::Pass),
            "{f:?}"
        );
        // Rules of another account's buses.
        let other = consumer_policy(
            &["arn:aws:events:us-east-1:999999999999:rule/trailrelay-identity/*"],
            "*",
        );
        let f = consumer_bus_policy(
            "444455556666",
            "b",
            Some(&other),
            "123456789012",
            "trailrelay",
        );
        assert!(
            f.status == Status::Fail && f.evidence.contains("999999999999"),
            "{f:?}"
        );
        // Open to anyone.
        let open = serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents"}]});
        let f = consumer_bus_policy(
            "444455556666",
            "b",
            Some(&open.to_string()),
            "123456789012",
            "trailrelay",
        );
        assert!(
            f.status == Status::Fail && f.evidence.contains("anyone"),
            "{f:?}"
        );
        // No policy: nothing can deliver.
        assert_eq!(
            consumer_bus_policy("4", "b", None, "1", "trailrelay").status,
            Status::Fail
        );
        let none = serde_json::json!({"Statement": []}).to_string();
        let f = consumer_bus_policy("4", "b", Some(&none), "1", "trailrelay");
        assert!(f.status == Status::Fail && f.evidence.contains("deliver nothing"));
    }
}
