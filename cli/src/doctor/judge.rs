//! `trailrelay doctor`'s judgements: each check takes what was read from a
//! deployment (policies, rules, roles, queues, as plain data) and gives one
//! named finding with its evidence and, unless it passed, the fix. Reading
//! the deployment is `doctor`'s (mod.rs); nothing here calls AWS.

use crate::finding::Finding;
use serde_json::Value;
use std::collections::BTreeMap;
use trailrelay_adapters::eventbridge::Rule;

/// One statement of a resource policy, as far as the checks look.
#[derive(Debug)]
struct Statement<'a>(&'a Value);

impl<'a> Statement<'a> {
    fn effect(&self) -> &str {
        self.0.get("Effect").and_then(Value::as_str).unwrap_or("")
    }

    fn strings(&self, key: &str) -> Vec<&'a str> {
        strings(self.0.get(key))
    }

    fn grants(&self, action: &str) -> bool {
        let (service, _) = action.split_once(':').unwrap_or((action, ""));
        self.strings("Action")
            .iter()
            .any(|a| *a == action || *a == "*" || *a == format!("{service}:*"))
    }

    /// `*`, `{"AWS": "*"}`: anyone.
    fn anyone(&self) -> bool {
        match self.0.get("Principal") {
            Some(Value::String(s)) => s == "*",
            Some(p) => strings(p.get("AWS")).contains(&"*"),
            None => false,
        }
    }

    fn principals(&self) -> Vec<&'a str> {
        match self.0.get("Principal") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(p) => strings(p.get("AWS")),
            None => Vec::new(),
        }
    }

    /// The values a condition key must equal, under any operator.
    fn condition(&self, key: &str) -> Vec<&'a str> {
        let Some(Value::Object(operators)) = self.0.get("Condition") else {
            return Vec::new();
        };
        operators
            .values()
            .filter_map(|o| o.get(key))
            .flat_map(|v| strings(Some(v)))
            .collect()
    }
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn statements(policy: &Value) -> Vec<Statement<'_>> {
    match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().map(Statement).collect(),
        Some(one @ Value::Object(_)) => vec![Statement(one)],
        _ => Vec::new(),
    }
}

fn parse(policy: &str) -> Option<Value> {
    serde_json::from_str(policy).ok()
}

pub const INGEST_POLICY: &str = "ingest-bus-policy";

/// The ingest bus policy lets the organization, and nothing wider, put
/// events. `organization_id` is the real one, when it could be read.
pub fn ingest_bus_policy(
    bus: &str,
    policy: Option<&str>,
    organization_id: Option<&str>,
    prefix: &str,
) -> Finding {
    let fix_deploy = "deploy template.yaml with OrganizationId set to the organization's id (aws organizations describe-organization --query Organization.Id)";
    let Some(policy) = policy.and_then(parse) else {
        return Finding::fail(
            INGEST_POLICY,
            format!("{bus} has no resource policy: no member account can put events on it"),
            fix_deploy,
        );
    };
    let allows: Vec<Statement> = statements(&policy)
        .into_iter()
        .filter(|s| s.effect() == "Allow" && s.grants("events:PutEvents"))
        .collect();
    if allows.is_empty() {
        return Finding::fail(
            INGEST_POLICY,
            format!("{bus}'s policy allows no events:PutEvents"),
            fix_deploy,
        );
    }
    for s in &allows {
        let orgs = s.condition("aws:PrincipalOrgID");
        if s.anyone() && orgs.is_empty() {
            return Finding::fail(
                INGEST_POLICY,
                format!("{bus}'s policy lets anyone put events: an Allow of events:PutEvents has no aws:PrincipalOrgID condition"),
                "restore the OrganizationForwardRulesOnly statement's aws:PrincipalOrgID condition (redeploy template.yaml); remove any other Allow of events:PutEvents",
            );
        }
        // Anyone in the organization is too wide: only forwarder roles
        // through forward rules (docs/aws-requirements.md R9), or a forged
        // heartbeat could make a broken path look healthy.
        let roles = s.condition("aws:PrincipalArn");
        let rules = s.condition("aws:SourceArn");
        let forwarder = format!(":role/{prefix}-forwarder");
        let forward = format!(":rule/{prefix}-forward");
        if s.anyone()
            && (!roles.iter().any(|r| r.ends_with(&forwarder))
                || !rules.iter().any(|r| r.ends_with(&forward)))
        {
            return Finding::fail(
                INGEST_POLICY,
                format!("{bus}'s policy lets any principal of the organization put events (no aws:PrincipalArn of {prefix}-forwarder and aws:SourceArn of {prefix}-forward condition): anyone in the organization can forge a heartbeat or a test event"),
                "redeploy template.yaml (its OrganizationForwardRulesOnly statement admits only forwarder roles through forward rules)",
            );
        }
        if let Some(real) = organization_id {
            if let Some(wrong) = orgs.iter().find(|o| **o != real) {
                return Finding::fail(
                    INGEST_POLICY,
                    format!("{bus}'s policy admits organization {wrong}, but this organization is {real}: every member account's forwarding is refused"),
                    format!("redeploy template.yaml with OrganizationId={real}"),
                );
            }
        }
    }
    match organization_id {
        Some(real) => Finding::pass(
            INGEST_POLICY,
            format!("{bus} admits events:PutEvents from organization {real}'s forward rules only"),
        ),
        None => Finding::warn(
            INGEST_POLICY,
            format!("{bus} admits events:PutEvents only with an aws:PrincipalOrgID condition, but the organization's id could not be read to compare"),
            "run the doctor with credentials that may call organizations:DescribeOrganization",
        ),
    }
}

pub const INGEST_RULE: &str = "ingest-rule";

/// The ingest rule: enabled (with read-only events when asked), its pattern
/// takes CloudTrail and control events but never the relay's own output,
/// and it targets the enricher or the buffer queue, with a DLQ.
pub fn ingest_rule(
    rule: Option<&Rule>,
    relay_source: &str,
    expected_targets: &[String],
    include_read_only: bool,
) -> Finding {
    let Some(rule) = rule else {
        return Finding::fail(
            INGEST_RULE,
            "the ingest rule does not exist: nothing reaches the enricher",
            "redeploy template.yaml",
        );
    };
    let name = &rule.name;
    if rule.state == "DISABLED" {
        return Finding::fail(
            INGEST_RULE,
            format!("{name} is DISABLED: events reach the ingest bus and stop there"),
            format!("aws events enable-rule --name {name} --event-bus-name <prefix>-ingest (or redeploy template.yaml; then replay the gap from the archive)"),
        );
    }
    let pattern = rule.event_pattern.as_deref().and_then(parse);
    let sources = pattern
        .as_ref()
        .map(|p| strings(p.get("source")))
        .unwrap_or_default();
    if sources.contains(&relay_source) {
        return Finding::fail(
            INGEST_RULE,
            format!(
                "{name}'s pattern takes source {relay_source:?}, the relay's own output: a loop"
            ),
            "redeploy template.yaml (the pattern names aws.* and the control source only)",
        );
    }
    let Some(target) = rule
        .targets
        .iter()
        .find(|t| expected_targets.contains(&t.arn))
    else {
        let seen: Vec<&str> = rule.targets.iter().map(|t| t.arn.as_str()).collect();
        return Finding::fail(
            INGEST_RULE,
            format!("{name} targets {seen:?}, not the enricher or the buffer queue"),
            "redeploy template.yaml",
        );
    };
    if target.dead_letter_arn.is_none() {
        return Finding::warn(
            INGEST_RULE,
            format!(
                "{name}'s target {} has no dead-letter queue: what it cannot deliver is dropped",
                target.arn
            ),
            "redeploy template.yaml (the target's DeadLetterConfig)",
        );
    }
    if include_read_only && rule.state != "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" {
        return Finding::warn(
            INGEST_RULE,
            format!("{name} is {}: read-only management events are not relayed though IncludeReadOnlyEvents is on", rule.state),
            "redeploy template.yaml (state ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS)",
        );
    }
    Finding::pass(
        INGEST_RULE,
        format!(
            "{name} is {}, targets {} with a dead-letter queue, and never takes {relay_source:?}",
            rule.state, target.arn
        ),
    )
}

pub const PATTERN_MATCHES: &str = "ingest-pattern-matches";

/// TestEventPattern's answers for a sample event of each detail-type
/// (`None` where the API could not be called).
pub fn pattern_matches(rule: &str, answers: &[(String, Option<bool>)]) -> Finding {
    if answers.iter().any(|(_, a)| a.is_none()) {
        return Finding::could_not_check(
            PATTERN_MATCHES,
            format!("events:TestEventPattern is not available here; {rule}'s pattern was not tried on sample events"),
        );
    }
    let missed: Vec<&str> = answers
        .iter()
        .filter(|(_, a)| *a == Some(false))
        .map(|(d, _)| d.as_str())
        .collect();
    if missed.is_empty() {
        Finding::pass(
            PATTERN_MATCHES,
            format!(
                "{rule}'s pattern matches a sample of each of {} detail-types",
                answers.len()
            ),
        )
    } else {
        Finding::fail(
            PATTERN_MATCHES,
            format!("{rule}'s pattern does not match sample events of {missed:?}"),
            "redeploy template.yaml",
        )
    }
}

/// A dead-letter queue should be empty; if not, say how many wait and why.
pub fn dead_letter_queue(
    id: &str,
    queue: &str,
    waiting: Option<u64>,
    error_codes: &[String],
) -> Finding {
    match waiting {
        None => Finding::fail(
            id,
            format!("{queue} does not exist or cannot be read"),
            "redeploy the stack that owns it",
        ),
        Some(0) => Finding::pass(id, format!("{queue} is empty")),
        Some(n) => {
            let why = if error_codes.is_empty() {
                String::new()
            } else {
                format!(" (ERROR_CODE: {})", error_codes.join(", "))
            };
            Finding::fail(
                id,
                format!("{n} message(s) wait in {queue}{why}: events that were not delivered"),
                "read them (aws sqs receive-message --message-attribute-names All), fix the cause the ERROR_CODE/ERROR_MESSAGE attributes name, then redrive them (aws sqs start-message-move-task) or replay from the ingest archive",
            )
        }
    }
}

/// A category bus lets the relay's roles publish and explicitly denies
/// everyone else.
pub fn category_bus_policy(
    category: &str,
    bus: &str,
    policy: Option<&str>,
    relay_roles: &[String],
) -> Finding {
    let id = format!("category-bus-policy-{category}");
    let fix =
        "redeploy template.yaml (the bus's RelayPublishes and NobodyElsePublishes statements)";
    let Some(policy) = policy.and_then(parse) else {
        return Finding::fail(
            id,
            format!("{bus} has no resource policy: nothing denies others"),
            fix,
        );
    };
    let all = statements(&policy);
    if let Some(open) = all.iter().find(|s| {
        s.effect() == "Allow"
            && s.grants("events:PutEvents")
            && s.anyone()
            && s.0.get("Condition").is_none()
    }) {
        let sid = open
            .0
            .get("Sid")
            .and_then(Value::as_str)
            .unwrap_or("(no Sid)");
        return Finding::fail(
            id,
            format!("{bus}'s policy lets anyone put events (statement {sid}): forged events can reach consumers"),
            fix,
        );
    }
    let allowed: Vec<&str> = all
        .iter()
        .filter(|s| s.effect() == "Allow" && s.grants("events:PutEvents"))
        .flat_map(Statement::principals)
        .collect();
    let missing: Vec<&String> = relay_roles
        .iter()
        .filter(|r| !allowed.contains(&r.as_str()))
        .collect();
    if !missing.is_empty() {
        return Finding::fail(
            id,
            format!("{bus}'s policy does not allow {missing:?} to put events"),
            fix,
        );
    }
    let unguarded_consumers: Vec<&str> = all
        .iter()
        .filter(|s| {
            s.effect() == "Allow"
                && s.grants("events:PutRule")
                && s.condition("events:creatorAccount").is_empty()
        })
        .map(|s| s.0.get("Sid").and_then(Value::as_str).unwrap_or("(no Sid)"))
        .collect();
    if !unguarded_consumers.is_empty() {
        return Finding::fail(
            id,
            format!("{bus}'s policy lets accounts manage rules without the events:creatorAccount condition ({unguarded_consumers:?}): one consumer can change or delete another's rules"),
            fix,
        );
    }
    let denies = all.iter().any(|s| {
        s.effect() == "Deny"
            && s.grants("events:PutEvents")
            && s.anyone()
            && !s.condition("aws:PrincipalArn").is_empty()
    });
    if !denies {
        return Finding::warn(
            id,
            format!(
                "{bus}'s policy has no explicit Deny for principals other than the relay's roles"
            ),
            fix,
        );
    }
    Finding::pass(
        id,
        format!("{bus}: only {relay_roles:?} may put events; everyone else is denied"),
    )
}

/// The exclusion a forward rule's pattern carries (`filter suggest`'s, as
/// member-account.yaml's ForwardExcludedEventSources and
/// ForwardExcludedEventNames put it): "sources ...; names ...", or `None`.
pub fn forward_exclusion(pattern: &Value) -> Option<String> {
    let excluded = |field: &str| -> Option<String> {
        pattern.get("$or")?.as_array()?.iter().find_map(|branch| {
            let list = branch
                .get("detail")?
                .get(field)?
                .get(0)?
                .get("anything-but")?
                .as_array()?;
            let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            Some(names.join(","))
        })
    };
    Some(format!(
        "sources {}; names {}",
        excluded("eventSource")?,
        excluded("eventName")?
    ))
}

/// Whether every member forward rule checked carries the same exclusion:
/// a StackSet instance left on old parameters forwards (or drops) other
/// calls than the rest.
pub fn member_exclusions(rules: &BTreeMap<(String, String), Option<String>>) -> Finding {
    let id = "member-exclusions";
    let mut by_exclusion: BTreeMap<Option<&str>, Vec<String>> = BTreeMap::new();
    for ((account, region), exclusion) in rules {
        by_exclusion
            .entry(exclusion.as_deref())
            .or_default()
            .push(format!("{account} {region}"));
    }
    let describe =
        |e: Option<&str>| e.map_or("no exclusion".to_owned(), |e| format!("the exclusion {e}"));
    match by_exclusion.len() {
        0 => Finding::could_not_check(id, "no member forward rule could be read"),
        1 => {
            let (exclusion, paths) = by_exclusion.iter().next().map(|(e, p)| (*e, p.len())).unwrap_or((None, 0));
            Finding::pass(id, format!("all {paths} member forward rule(s) checked have {}", describe(exclusion)))
        }
        _ => Finding::warn(
            id,
            by_exclusion
                .iter()
                .map(|(e, paths)| format!("{} in {}", describe(*e), paths.join(", ")))
                .collect::<Vec<_>>()
                .join("; "),
            "update the member StackSet so that every instance has the same ForwardExcludedEventSources and ForwardExcludedEventNames (trailrelay filter suggest prints them)",
        ),
    }
}

/// A member account's forward rule on its default bus.
pub fn member_rule(
    account: &str,
    region: &str,
    rule: Option<&Rule>,
    ingest_bus_arn: &str,
    control_source: &str,
    include_read_only: bool,
) -> Finding {
    let id = format!("member-rule-{account}-{region}");
    let fix = format!("redeploy the member stack in {account} {region} (member-account.yaml with IngestBusArn={ingest_bus_arn})");
    let Some(rule) = rule else {
        return Finding::fail(
            id,
            format!("no forward rule in {account} {region}: its events go nowhere"),
            fix,
        );
    };
    if rule.state == "DISABLED" {
        return Finding::fail(
            id,
            format!("{} in {account} {region} is DISABLED", rule.name),
            fix,
        );
    }
    let pattern = rule.event_pattern.as_deref().and_then(parse);
    let sources = pattern
        .as_ref()
        .map(|p| p.get("source"))
        .and_then(|s| s.cloned());
    let text = sources.map(|s| s.to_string()).unwrap_or_default();
    if !text.contains("aws.") || !text.contains(control_source) {
        return Finding::fail(
            id,
            format!("{}'s pattern source {text} does not take both CloudTrail (aws.*) and {control_source:?} events", rule.name),
            fix,
        );
    }
    let Some(target) = rule.targets.iter().find(|t| t.arn == ingest_bus_arn) else {
        let seen: Vec<&str> = rule.targets.iter().map(|t| t.arn.as_str()).collect();
        return Finding::fail(
            id,
            format!(
                "{} targets {seen:?}, not the ingest bus {ingest_bus_arn}",
                rule.name
            ),
            fix,
        );
    };
    if target.role_arn.is_none() {
        return Finding::fail(
            id,
            format!("{}'s target has no role: EventBridge cannot put events on another account's bus without one", rule.name),
            fix,
        );
    }
    if include_read_only && rule.state != "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" {
        return Finding::warn(
            id,
            format!("{} is {}: read-only management events are not forwarded though IncludeReadOnlyEvents is on", rule.name, rule.state),
            fix,
        );
    }
    let exclusion = pattern
        .as_ref()
        .and_then(forward_exclusion)
        .map_or("no exclusion".to_owned(), |e| {
            format!("excludes read-only calls of {e}")
        });
    Finding::pass(
        id,
        format!(
            "{} is {}, takes aws.* and {control_source:?}, targets {ingest_bus_arn}; {exclusion}",
            rule.name, rule.state
        ),
    )
}

/// The member forward rule's role: trusts EventBridge, may put events on
/// the ingest bus.
pub fn member_role(
    account: &str,
    role: &str,
    trust: Option<&str>,
    policies: &[String],
    ingest_bus_arn: &str,
) -> Finding {
    let id = format!("member-role-{account}");
    let fix = format!(
        "redeploy member-roles.yaml in {account} (the trailrelay-member-roles StackSet's instance, or a plain stack in the management account): it owns {role}"
    );
    let Some(trust) = trust.and_then(parse) else {
        return Finding::fail(id, format!("{role} does not exist in {account}"), fix);
    };
    let trusts_events = statements(&trust).iter().any(|s| {
        s.effect() == "Allow"
            && s.0
                .get("Principal")
                .map(|p| strings(p.get("Service")))
                .unwrap_or_default()
                .contains(&"events.amazonaws.com")
    });
    if !trusts_events {
        return Finding::fail(
            id,
            format!("{role} does not trust events.amazonaws.com: the forward rule cannot use it"),
            fix,
        );
    }
    let may_put = policies.iter().filter_map(|p| parse(p)).any(|p| {
        statements(&p).iter().any(|s| {
            s.effect() == "Allow"
                && s.grants("events:PutEvents")
                && s.strings("Resource")
                    .iter()
                    .any(|r| *r == ingest_bus_arn || *r == "*")
        })
    });
    if !may_put {
        return Finding::fail(
            id,
            format!("{role} may not events:PutEvents on {ingest_bus_arn}: forwarding fails with AccessDenied (into the forward DLQ)"),
            fix,
        );
    }
    Finding::pass(
        id,
        format!("{role} trusts events.amazonaws.com and may put events on {ingest_bus_arn}"),
    )
}

pub const ENRICHER_ROLE: &str = "enricher-role";

/// The enricher's role may put events on each category bus.
pub fn enricher_role(role: &str, policies: Option<&[String]>, bus_arns: &[String]) -> Finding {
    let Some(policies) = policies else {
        return Finding::fail(
            ENRICHER_ROLE,
            format!("{role} does not exist"),
            "redeploy template.yaml",
        );
    };
    let parsed: Vec<Value> = policies.iter().filter_map(|p| parse(p)).collect();
    let missing: Vec<&String> = bus_arns
        .iter()
        .filter(|bus| {
            !parsed.iter().any(|p| {
                statements(p).iter().any(|s| {
                    s.effect() == "Allow"
                        && s.grants("events:PutEvents")
                        && s.strings("Resource")
                            .iter()
                            .any(|r| *r == bus.as_str() || *r == "*")
                })
            })
        })
        .collect();
    if missing.is_empty() {
        Finding::pass(
            ENRICHER_ROLE,
            format!(
                "{role} may put events on each of the {} category buses",
                bus_arns.len()
            ),
        )
    } else {
        Finding::fail(
            ENRICHER_ROLE,
            format!("{role} may not events:PutEvents on {missing:?}: those events fail with AccessDenied"),
            "redeploy template.yaml (EnricherRole's publish-to-category-buses policy)",
        )
    }
}

/// A forward rule's failed invocations over the last hours (`None`: the
/// metric could not be read).
pub fn forward_failures(
    account: &str,
    region: &str,
    rule: &str,
    failed: Option<f64>,
    hours: u32,
) -> Finding {
    let id = format!("member-failed-invocations-{account}-{region}");
    match failed {
        None => Finding::could_not_check(
            id,
            format!("CloudWatch metrics of {rule} in {account} {region} could not be read"),
        ),
        Some(n) if n > 0.0 => Finding::fail(
            id,
            format!("{rule} in {account} {region} failed {n} invocation(s) in the last {hours} hours: those events wait in its DLQ"),
            format!("read <prefix>-forward-dlq in {account} {region}: its messages' ERROR_CODE says which layer refused (often AccessDenied: the forwarder role or the ingest bus policy)"),
        ),
        Some(_) => Finding::pass(
            id,
            format!("{rule} in {account} {region}: no failed invocations in the last {hours} hours"),
        ),
    }
}

pub const DIRECTORY: &str = "account-directory";

/// The directory snapshot exists and is fresh.
pub fn directory(
    location: &str,
    generated_at: Option<time::OffsetDateTime>,
    now: time::OffsetDateTime,
    max_age: std::time::Duration,
) -> Finding {
    let fix = "run account-sync (aws lambda invoke --function-name <prefix>-account-sync) and read its log; check OrganizationsRoleArn";
    match generated_at {
        None => Finding::fail(
            DIRECTORY,
            format!("{location} is missing or unreadable: events carry known: false"),
            fix,
        ),
        Some(t) if now - t > max_age => Finding::warn(
            DIRECTORY,
            format!(
                "{location} was written {} hours ago: events carry directory_stale",
                (now - t).whole_hours()
            ),
            fix,
        ),
        Some(t) => Finding::pass(
            DIRECTORY,
            format!(
                "{location} was written {} minutes ago",
                (now - t).whole_minutes()
            ),
        ),
    }
}

pub const RECONCILER: &str = "reconciler";

/// The reconciler is deployed and its settings hang together.
pub fn reconciler(name: &str, environment: Option<&BTreeMap<String, String>>) -> Finding {
    use trailrelay_reconcile::*;
    let Some(env) = environment else {
        return Finding::warn(
            RECONCILER,
            format!(
                "{name} is not deployed: events EventBridge loses between the member accounts and the ingest bus go unnoticed"
            ),
            "deploy template.yaml with TrailBucket (the organization trail's bucket) and EnrichedCopy=true (docs/reconcile.md)",
        );
    };
    let get = |k: &str| env.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let (Some(trail), Some(org), Some(copy)) = (
        get(ENV_TRAIL_BUCKET),
        get(ENV_ORGANIZATION_ID),
        get(ENV_COPY_BUCKET),
    ) else {
        return Finding::fail(
            RECONCILER,
            format!("{name} lacks {ENV_TRAIL_BUCKET}, {ENV_ORGANIZATION_ID} or {ENV_COPY_BUCKET}: every pass fails"),
            "redeploy template.yaml",
        );
    };
    let prefix = get(ENV_TRAIL_KEY_PREFIX).map_or(String::new(), |p| format!("{p}/"));
    let reader = get(ENV_TRAIL_READ_ROLE_ARN).map_or("its own role".to_owned(), |r| r.to_owned());
    let reads = format!("{name} reads s3://{trail}/{prefix}AWSLogs/{org}/ (as {reader}) against s3://{copy}/enriched/");
    match get(ENV_BACKFILL).unwrap_or("off") {
        "queue" if get(ENV_BUFFER_QUEUE_URL).is_none() => Finding::fail(
            RECONCILER,
            format!("{reads}; backfill through the buffer queue, but no {ENV_BUFFER_QUEUE_URL}"),
            "redeploy template.yaml",
        ),
        "invoke" if get(ENV_ENRICHER_FUNCTION).is_none() => Finding::fail(
            RECONCILER,
            format!("{reads}; backfill by invoking the enricher, but no {ENV_ENRICHER_FUNCTION}"),
            "redeploy template.yaml",
        ),
        "off" => Finding::warn(
            RECONCILER,
            format!("{reads}; backfill off: what is missing is reported, not put back"),
            "set Backfill=true to put missing records back through the relay's own entry",
        ),
        mode => Finding::pass(RECONCILER, format!("{reads}; backfill: {mode}")),
    }
}

pub const ENRICHED_COPY: &str = "enriched-copy";

/// Objects in the copy's latest hour partitions, per category: some, or
/// an error reading them.
pub fn enriched_copy(bucket: &str, counts: &[(&str, Result<usize, String>)]) -> Finding {
    if let Some((category, Err(e))) = counts.iter().find(|(_, c)| c.is_err()) {
        return Finding::could_not_check(
            ENRICHED_COPY,
            format!("s3://{bucket}/enriched/category={category}/ could not be listed: {e}"),
        );
    }
    let mut per_category: BTreeMap<&str, usize> = BTreeMap::new();
    for (category, count) in counts {
        *per_category.entry(category).or_default() += count.as_ref().map_or(0, |n| *n);
    }
    let total: usize = per_category.values().sum();
    if total == 0 {
        return Finding::warn(
            ENRICHED_COPY,
            format!("s3://{bucket}/enriched/ has no object from the last two hours in any category: the copy rules, their role or the streams may be failing, and the reconciler would find every event missing"),
            "check the <prefix>-<category>-copy rules' FailedInvocations, the bus DLQ and the streams' delivery errors (errors/ in the bucket); an organization quiet for two hours has none either",
        );
    }
    let listed: Vec<String> = per_category
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    Finding::pass(
        ENRICHED_COPY,
        format!(
            "s3://{bucket}/enriched/: {total} object(s) from the last two hours ({})",
            listed.join(", ")
        ),
    )
}

#[cfg(test)]
mod exclusion_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_forward_rules_exclusion_is_read_from_its_pattern() {
        let pattern = json!({"source": [{"prefix": "aws."}], "$or": [
            {"detail": {"readOnly": [false]}},
            {"detail": {"eventSource": [{"exists": false}]}},
            {"detail": {"eventSource": [{"anything-but": ["kms.amazonaws.com", "s3.amazonaws.com"]}]}},
            {"detail": {"eventName": [{"anything-but": ["Decrypt"]}]}}
        ]});
        assert_eq!(
            forward_exclusion(&pattern).as_deref(),
            Some("sources kms.amazonaws.com,s3.amazonaws.com; names Decrypt")
        );
        assert_eq!(
            forward_exclusion(&json!({"source": [{"prefix": "aws."}]})),
            None
        );
    }

    #[test]
    fn member_rules_with_different_exclusions_are_a_warning_that_names_them() {
        let same = BTreeMap::from([
            (
                ("1".to_owned(), "us-east-1".to_owned()),
                Some("sources a; names b".to_owned()),
            ),
            (
                ("2".to_owned(), "eu-west-1".to_owned()),
                Some("sources a; names b".to_owned()),
            ),
        ]);
        let f = member_exclusions(&same);
        assert_eq!(f.status, crate::finding::Status::Pass, "{f:?}");
        assert!(f.evidence.contains("all 2") && f.evidence.contains("sources a; names b"));
        let mut differ = same.clone();
        differ.insert(("3".to_owned(), "us-east-1".to_owned()), None);
        let f = member_exclusions(&differ);
        assert_eq!(f.status, crate::finding::Status::Warn, "{f:?}");
        assert!(f.evidence.contains("no exclusion in 3 us-east-1"), "{f:?}");
        assert!(f.evidence.contains("1 us-east-1, 2 eu-west-1"), "{f:?}");
        assert_eq!(
            member_exclusions(&BTreeMap::new()).status,
            crate::finding::Status::CouldNotCheck
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Status;
    use trailrelay_adapters::eventbridge::Target;

    const ORG: &str = "o-exampleorgid";
    const INGEST: &str = "arn:aws:events:us-east-1:222222222222:event-bus/trailrelay-ingest";

    fn org_policy(org: &str) -> String {
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Sid": "OrganizationForwardRulesOnly", "Effect": "Allow",
            "Principal": "*", "Action": "events:PutEvents", "Resource": INGEST,
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": org},
                          "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/trailrelay-forwarder",
                                      "aws:SourceArn": "arn:aws:events:*:*:rule/trailrelay-forward"}}}]})
        .to_string()
    }

    #[test]
    fn an_ingest_policy_admitting_any_principal_of_the_organization_fails() {
        let wide = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": "*", "Action": "events:PutEvents", "Resource": INGEST,
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}}}]})
        .to_string();
        let f = ingest_bus_policy("trailrelay-ingest", Some(&wide), Some(ORG), "trailrelay");
        assert_eq!(f.status, Status::Fail);
        assert!(f.evidence.contains("forge a heartbeat"), "{f:?}");
        // Another stack's prefix is not this one's forwarding path.
        let f = ingest_bus_policy(
            "trailrelay-ingest",
            Some(&org_policy(ORG)),
            Some(ORG),
            "other",
        );
        assert_eq!(f.status, Status::Fail);
    }

    #[test]
    fn the_ingest_policy_admits_the_organization_only() {
        let ok = ingest_bus_policy(
            "trailrelay-ingest",
            Some(&org_policy(ORG)),
            Some(ORG),
            "trailrelay",
        );
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        let wrong = ingest_bus_policy(
            "trailrelay-ingest",
            Some(&org_policy("o-someoneelse")),
            Some(ORG),
            "trailrelay",
        );
        assert_eq!(wrong.status, Status::Fail);
        assert!(wrong.evidence.contains("o-someoneelse") && wrong.fix.unwrap().contains(ORG));
        let mut open: Value = serde_json::from_str(&org_policy(ORG)).unwrap();
        open["Statement"][0]
            .as_object_mut()
            .unwrap()
            .remove("Condition");
        let open = open.to_string();
        let open = ingest_bus_policy("trailrelay-ingest", Some(&open), Some(ORG), "trailrelay");
        assert_eq!(open.status, Status::Fail);
        assert!(open.evidence.contains("anyone"), "{open:?}");
        assert_eq!(
            ingest_bus_policy("b", None, Some(ORG), "trailrelay").status,
            Status::Fail
        );
        assert_eq!(
            ingest_bus_policy("b", Some(&org_policy(ORG)), None, "trailrelay").status,
            Status::Warn
        );
    }

    fn rule(state: &str, sources: &[&str], target: &str) -> Rule {
        Rule {
            name: "trailrelay-ingest-to-enricher".into(),
            state: state.into(),
            event_pattern: Some(serde_json::json!({"source": sources}).to_string()),
            targets: vec![Target {
                arn: target.into(),
                role_arn: Some("arn:aws:iam::333333333333:role/trailrelay-forwarder".into()),
                dead_letter_arn: Some("dlq".into()),
            }],
        }
    }

    #[test]
    fn the_ingest_rule_must_be_enabled_loop_free_and_aimed_at_the_relay() {
        let buffer = vec!["arn:aws:sqs:us-east-1:222222222222:trailrelay-buffer".to_owned()];
        let good = rule(
            "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
            &["trailrelay.control"],
            &buffer[0],
        );
        assert_eq!(
            ingest_rule(Some(&good), "trailrelay", &buffer, true).status,
            Status::Pass
        );
        let disabled = rule("DISABLED", &[], &buffer[0]);
        let f = ingest_rule(Some(&disabled), "trailrelay", &buffer, true);
        assert_eq!(f.status, Status::Fail);
        assert!(f.fix.unwrap().contains("enable-rule"));
        let looped = rule("ENABLED", &["trailrelay"], &buffer[0]);
        assert!(ingest_rule(Some(&looped), "trailrelay", &buffer, false)
            .evidence
            .contains("loop"));
        let elsewhere = rule("ENABLED", &[], "arn:aws:sqs:us-east-1:222222222222:other");
        assert_eq!(
            ingest_rule(Some(&elsewhere), "trailrelay", &buffer, false).status,
            Status::Fail
        );
        let no_read_only = rule("ENABLED", &[], &buffer[0]);
        assert_eq!(
            ingest_rule(Some(&no_read_only), "trailrelay", &buffer, true).status,
            Status::Warn
        );
        assert_eq!(
            ingest_rule(None, "trailrelay", &buffer, true).status,
            Status::Fail
        );
    }

    #[test]
    fn a_dead_letter_queue_with_messages_fails_with_their_error_codes() {
        let f = dead_letter_queue(
            "ingest-dlq",
            "trailrelay-ingest-dlq",
            Some(3),
            &["NO_PERMISSIONS".into()],
        );
        assert_eq!(f.status, Status::Fail);
        assert!(f.evidence.contains("3 message(s)") && f.evidence.contains("NO_PERMISSIONS"));
        assert_eq!(
            dead_letter_queue("d", "q", Some(0), &[]).status,
            Status::Pass
        );
    }

    #[test]
    fn a_category_bus_open_to_everyone_fails() {
        let role = "arn:aws:iam::222222222222:role/trailrelay-enricher".to_owned();
        let good = serde_json::json!({"Statement": [
            {"Sid": "RelayPublishes", "Effect": "Allow", "Principal": {"AWS": role}, "Action": "events:PutEvents"},
            {"Sid": "NobodyElsePublishes", "Effect": "Deny", "Principal": "*", "Action": "events:PutEvents",
             "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [role]}}}]});
        let f = category_bus_policy(
            "identity",
            "b",
            Some(&good.to_string()),
            std::slice::from_ref(&role),
        );
        assert_eq!(f.status, Status::Pass, "{f:?}");
        let open = serde_json::json!({"Statement": [
            {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "events:PutEvents"}]});
        let f = category_bus_policy("identity", "b", Some(&open.to_string()), &[role]);
        assert_eq!(f.status, Status::Fail);
        assert!(f.evidence.contains("anyone") && f.evidence.contains("Open"));
    }

    #[test]
    fn the_member_rule_and_role_carry_events_to_the_ingest_bus() {
        let mut forward = rule("ENABLED", &["aws.", "trailrelay.control"], INGEST);
        forward.event_pattern =
            Some(r#"{"source":[{"prefix":"aws."},"trailrelay.control"]}"#.into());
        assert_eq!(
            member_rule(
                "3",
                "us-east-1",
                Some(&forward),
                INGEST,
                "trailrelay.control",
                false
            )
            .status,
            Status::Pass
        );
        assert_eq!(
            member_rule(
                "3",
                "us-east-1",
                Some(&forward),
                INGEST,
                "trailrelay.control",
                true
            )
            .status,
            Status::Warn,
            "read-only events asked for, the rule is only ENABLED"
        );
        forward.targets[0].arn = "arn:aws:events:us-east-1:222222222222:event-bus/elsewhere".into();
        let f = member_rule(
            "3",
            "us-east-1",
            Some(&forward),
            INGEST,
            "trailrelay.control",
            false,
        );
        assert_eq!(f.status, Status::Fail);
        assert!(f.evidence.contains("not the ingest bus"));

        let trust = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let put = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"events:PutEvents","Resource":"{INGEST}"}}]}}"#
        );
        assert_eq!(
            member_role("3", "r", Some(trust), std::slice::from_ref(&put), INGEST).status,
            Status::Pass
        );
        let f = member_role("3", "r", Some(trust), &[], INGEST);
        assert!(f.status == Status::Fail && f.evidence.contains("may not events:PutEvents"));
        let lambda = trust.replace("events.amazonaws.com", "lambda.amazonaws.com");
        let f = member_role("3", "r", Some(&lambda), &[put], INGEST);
        assert!(
            f.status == Status::Fail && f.evidence.contains("does not trust events.amazonaws.com")
        );
    }

    #[test]
    fn the_enricher_role_must_reach_every_category_bus() {
        let buses = vec![
            "arn:aws:events:us-east-1:2:event-bus/trailrelay-identity".to_owned(),
            "arn:aws:events:us-east-1:2:event-bus/trailrelay-audit".to_owned(),
        ];
        let one = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"events:PutEvents","Resource":["{}"]}}]}}"#,
            buses[0]
        );
        let f = enricher_role("r", Some(std::slice::from_ref(&one)), &buses);
        assert!(
            f.status == Status::Fail && f.evidence.contains("trailrelay-audit"),
            "{f:?}"
        );
        let both = one.replace(r#""]}]}"#, &format!(r#"","{}"]}}]}}"#, buses[1]));
        assert_eq!(
            enricher_role("r", Some(&[both]), &buses).status,
            Status::Pass
        );
        assert_eq!(enricher_role("r", None, &buses).status, Status::Fail);
    }

    #[test]
    fn failed_forward_invocations_fail_and_a_missing_metric_is_said() {
        assert_eq!(
            forward_failures("3", "r", "f", Some(2.0), 3).status,
            Status::Fail
        );
        assert_eq!(
            forward_failures("3", "r", "f", Some(0.0), 3).status,
            Status::Pass
        );
        assert_eq!(
            forward_failures("3", "r", "f", None, 3).status,
            Status::CouldNotCheck
        );
    }

    #[test]
    fn consumers_without_the_creator_condition_fail() {
        let role = "arn:aws:iam::222222222222:role/trailrelay-enricher".to_owned();
        let policy = serde_json::json!({"Statement": [
            {"Sid": "RelayPublishes", "Effect": "Allow", "Principal": {"AWS": role}, "Action": "events:PutEvents"},
            {"Sid": "NobodyElsePublishes", "Effect": "Deny", "Principal": "*", "Action": "events:PutEvents",
             "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [role]}}},
            {"Sid": "ConsumersManageTheirOwnRules", "Effect": "Allow", "Principal": {"AWS": "444455556666"},
             "Action": ["events:PutRule", "events:DeleteRule"]}]});
        let f = category_bus_policy("identity", "b", Some(&policy.to_string()), &[role]);
        assert!(
            f.status == Status::Fail && f.evidence.contains("creatorAccount"),
            "{f:?}"
        );
    }

    #[test]
    fn a_reconciler_missing_off_or_half_configured_is_said() {
        use trailrelay_reconcile::*;
        assert_eq!(
            reconciler("trailrelay-reconcile", None).status,
            Status::Warn
        );
        let mut env: BTreeMap<String, String> = [
            (ENV_TRAIL_BUCKET, "org-log-archive"),
            (ENV_TRAIL_KEY_PREFIX, "org"),
            (ENV_ORGANIZATION_ID, ORG),
            (ENV_COPY_BUCKET, "copy"),
            (ENV_BACKFILL, "queue"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let f = reconciler("trailrelay-reconcile", Some(&env));
        assert_eq!(f.status, Status::Fail, "{f:?}");
        env.insert(ENV_BUFFER_QUEUE_URL.into(), "https://sqs/q".into());
        let f = reconciler("trailrelay-reconcile", Some(&env));
        assert_eq!(f.status, Status::Pass, "{f:?}");
        assert!(f
            .evidence
            .contains("s3://org-log-archive/org/AWSLogs/o-exampleorgid/"));
        env.insert(ENV_BACKFILL.into(), "off".into());
        assert_eq!(reconciler("x", Some(&env)).status, Status::Warn);
        env.remove(ENV_COPY_BUCKET);
        assert_eq!(reconciler("x", Some(&env)).status, Status::Fail);
    }

    #[test]
    fn an_empty_copy_warns_an_unlistable_one_could_not_be_checked() {
        let f = enriched_copy(
            "copy",
            &[("identity", Ok(2)), ("identity", Ok(1)), ("other", Ok(0))],
        );
        assert_eq!(f.status, Status::Pass);
        assert!(
            f.evidence.contains("3 object(s)") && f.evidence.contains("identity 3"),
            "{f:?}"
        );
        assert_eq!(
            enriched_copy("copy", &[("identity", Ok(0))]).status,
            Status::Warn
        );
        let f = enriched_copy(
            "copy",
            &[("identity", Ok(1)), ("network", Err("AccessDenied".into()))],
        );
        assert_eq!(f.status, Status::CouldNotCheck);
    }
}
