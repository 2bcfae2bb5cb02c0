//! Events that change the forwarding path, or what feeds it, carry the
//! signal `relay_tampering` whatever their category: an attacker who
//! disables the forwarding rule first is invisible afterwards, so the event
//! that disables it is the one to see.
//!
//! The relay's resource names follow from the templates' `NamePrefix`
//! parameter: in member accounts the rule `<prefix>-forward`, the roles
//! `<prefix>-forwarder` and `<prefix>-heartbeat` and the schedule
//! `<prefix>-heartbeat`; in the security account the buses
//! `<prefix>-ingest` and `<prefix>-<category>`, the rule
//! `<prefix>-ingest-to-enricher` (and the relay's other rules), the
//! functions' roles, and the relay's key.

use crate::category::Category;
use crate::lenient::Text;
use serde::Deserialize;

/// The stacks' NamePrefix unless TRAILRELAY_NAME_PREFIX says otherwise.
const DEFAULT_NAME_PREFIX: &str = "trailrelay";

/// The names of the relay's own resources.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayNames {
    prefix: String,
    rules: Vec<String>,
    roles: Vec<String>,
    schedule: String,
    buses: Vec<String>,
    /// The relay key's id (the end of its ARN), when known.
    key_id: Option<String>,
    key_alias: String,
}

impl RelayNames {
    pub fn with_prefix(prefix: &str) -> RelayNames {
        let mut buses = vec![format!("{prefix}-ingest")];
        buses.extend(Category::ALL.map(|c| format!("{prefix}-{c}")));
        let mut rules: Vec<String> = [
            "forward",
            "ingest-to-enricher",
            "directory-schedule",
            "organizations-changes",
            "path-check-schedule",
            "reconcile-first-pass",
            "reconcile-second-pass",
        ]
        .iter()
        .map(|r| format!("{prefix}-{r}"))
        .collect();
        rules.extend(Category::ALL.map(|c| format!("{prefix}-{c}-tamper-alerts")));
        // The enriched copy is what reconciliation counts as seen: a copy
        // rule stopped makes every event look missing.
        rules.extend(Category::ALL.map(|c| format!("{prefix}-{c}-copy")));
        RelayNames {
            prefix: prefix.to_owned(),
            rules,
            roles: [
                "forwarder",
                "heartbeat",
                "enricher",
                "path-check",
                "account-sync",
                "reconcile",
            ]
            .iter()
            .map(|r| format!("{prefix}-{r}"))
            .collect(),
            schedule: format!("{prefix}-heartbeat"),
            buses,
            key_id: None,
            key_alias: format!("alias/{prefix}"),
        }
    }

    /// The stacks' NamePrefix these names begin with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Also watch the relay's key (by its ARN, as the template passes it).
    pub fn with_key(mut self, key_arn: &str) -> RelayNames {
        self.key_id = Some(last_segment(key_arn).to_owned()).filter(|k| !k.is_empty());
        self
    }

    fn is_key(&self, key: &str) -> bool {
        self.key_id.as_deref() == Some(last_segment(key)) || key == self.key_alias
    }

    fn is_rule(&self, name: &str) -> bool {
        self.rules.iter().any(|r| r == last_segment(name))
    }

    fn is_bus(&self, name: &str) -> bool {
        self.buses.iter().any(|b| b == last_segment(name))
    }
}

impl Default for RelayNames {
    fn default() -> Self {
        RelayNames::with_prefix(DEFAULT_NAME_PREFIX)
    }
}

/// A name given as itself or as an ARN (`...:rule/[bus/]name`).
fn last_segment(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The parts of `requestParameters` that name what a call changes.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Target<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    rule: Text<'a>,
    #[serde(borrow)]
    role_name: Text<'a>,
    #[serde(borrow)]
    event_bus_name: Text<'a>,
    #[serde(borrow)]
    key_id: Text<'a>,
    #[serde(borrow)]
    alias_name: Text<'a>,
}

/// What kind of resource a call changes, when it is one of ours.
#[derive(Clone, Copy)]
enum Changes {
    /// The trail itself: every such call counts, whichever trail.
    Trail,
    Rule,
    Role,
    Schedule,
    Bus,
    Key,
}

/// Every call that can carry `relay_tampering`, by service: (event name,
/// what it changes). A member-rule exclusion keeps them all by name
/// ([`tampering_event_names`]).
const TAMPERING_CALLS: [(&str, &[(&str, Changes)]); 5] = [
    (
        "cloudtrail",
        &[
            ("StopLogging", Changes::Trail),
            ("DeleteTrail", Changes::Trail),
            ("UpdateTrail", Changes::Trail),
            ("PutEventSelectors", Changes::Trail),
            ("PutInsightSelectors", Changes::Trail),
        ],
    ),
    (
        "events",
        &[
            ("DisableRule", Changes::Rule),
            ("DeleteRule", Changes::Rule),
            ("PutRule", Changes::Rule),
            ("PutTargets", Changes::Rule),
            ("RemoveTargets", Changes::Rule),
            ("PutPermission", Changes::Bus),
            ("RemovePermission", Changes::Bus),
            ("UpdateEventBus", Changes::Bus),
            ("DeleteEventBus", Changes::Bus),
        ],
    ),
    (
        "iam",
        &[
            ("DetachRolePolicy", Changes::Role),
            ("DeleteRolePolicy", Changes::Role),
            ("PutRolePolicy", Changes::Role),
            ("AttachRolePolicy", Changes::Role),
            ("UpdateAssumeRolePolicy", Changes::Role),
            ("DeleteRole", Changes::Role),
            ("PutRolePermissionsBoundary", Changes::Role),
            ("DeleteRolePermissionsBoundary", Changes::Role),
        ],
    ),
    (
        "scheduler",
        &[
            ("DeleteSchedule", Changes::Schedule),
            ("UpdateSchedule", Changes::Schedule),
        ],
    ),
    (
        "kms",
        &[
            ("DisableKey", Changes::Key),
            ("ScheduleKeyDeletion", Changes::Key),
            ("PutKeyPolicy", Changes::Key),
            ("DisableKeyRotation", Changes::Key),
            ("CreateGrant", Changes::Key),
            ("UpdateAlias", Changes::Key),
            ("DeleteAlias", Changes::Key),
        ],
    ),
];

fn changes(service: &str, event_name: &str) -> Option<Changes> {
    let (_, calls) = TAMPERING_CALLS.iter().find(|(s, _)| *s == service)?;
    calls
        .iter()
        .find(|(n, _)| *n == event_name)
        .map(|(_, kind)| *kind)
}

/// The event names of every call that can carry `relay_tampering`, sorted,
/// each once.
pub fn tampering_event_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = TAMPERING_CALLS
        .iter()
        .flat_map(|(_, calls)| calls.iter().map(|(n, _)| *n))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Does this call change the forwarding path or what feeds it? The request
/// parameters (raw JSON) are read only for the few calls that may.
pub fn is_tampering(
    service: Option<&str>,
    event_name: Option<&str>,
    request_parameters: Option<&str>,
    names: &RelayNames,
) -> bool {
    let (Some(service), Some(event_name)) = (service, event_name) else {
        return false;
    };
    let Some(kind) = changes(service, event_name) else {
        return false;
    };
    if matches!(kind, Changes::Trail) {
        return true;
    }
    let target: Target = request_parameters
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    match kind {
        Changes::Trail => true,
        // PutTargets and RemoveTargets name the rule `rule`; the others `name`.
        Changes::Rule => [target.name.get(), target.rule.get()]
            .into_iter()
            .flatten()
            .any(|n| names.is_rule(n)),
        Changes::Role => target
            .role_name
            .get()
            .is_some_and(|n| names.roles.iter().any(|r| r == n)),
        Changes::Schedule => target.name.get().is_some_and(|n| names.schedule == n),
        // PutPermission without a bus name changes the default bus: not ours.
        Changes::Bus => [target.event_bus_name.get(), target.name.get()]
            .into_iter()
            .flatten()
            .any(|n| names.is_bus(n)),
        Changes::Key => [target.key_id.get(), target.alias_name.get()]
            .into_iter()
            .flatten()
            .any(|k| names.is_key(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tampering(service: &str, event: &str, params: &str) -> bool {
        is_tampering(
            Some(service),
            Some(event),
            Some(params),
            &RelayNames::default(),
        )
    }

    #[test]
    fn changes_to_our_forwarding_rule_role_and_schedule_count() {
        assert!(tampering(
            "events",
            "DisableRule",
            r#"{"name":"trailrelay-forward"}"#
        ));
        assert!(tampering(
            "events",
            "RemoveTargets",
            r#"{"rule":"trailrelay-forward","ids":["1"]}"#
        ));
        assert!(tampering(
            "events",
            "PutRule",
            r#"{"name":"arn:aws:events:us-east-1:111111111111:rule/trailrelay-ingest/trailrelay-ingest-to-enricher"}"#
        ));
        assert!(tampering(
            "iam",
            "DetachRolePolicy",
            r#"{"roleName":"trailrelay-forwarder"}"#
        ));
        assert!(tampering(
            "iam",
            "UpdateAssumeRolePolicy",
            r#"{"roleName":"trailrelay-forwarder"}"#
        ));
        assert!(tampering(
            "iam",
            "PutRolePolicy",
            r#"{"roleName":"trailrelay-heartbeat"}"#
        ));
        assert!(tampering(
            "iam",
            "AttachRolePolicy",
            r#"{"roleName":"trailrelay-enricher"}"#
        ));
        assert!(tampering(
            "scheduler",
            "DeleteSchedule",
            r#"{"name":"trailrelay-heartbeat"}"#
        ));
        assert!(tampering(
            "events",
            "PutPermission",
            r#"{"eventBusName":"trailrelay-ingest"}"#
        ));
        assert!(tampering(
            "events",
            "RemovePermission",
            r#"{"eventBusName":"trailrelay-identity"}"#
        ));
    }

    #[test]
    fn stopping_reconciliation_or_the_copy_it_counts_on_counts() {
        assert!(tampering(
            "events",
            "DisableRule",
            r#"{"name":"trailrelay-reconcile-second-pass"}"#
        ));
        assert!(tampering(
            "events",
            "RemoveTargets",
            r#"{"rule":"trailrelay-identity-copy","eventBusName":"trailrelay-identity","ids":["copy"]}"#
        ));
        assert!(tampering(
            "iam",
            "DeleteRolePolicy",
            r#"{"roleName":"trailrelay-reconcile"}"#
        ));
    }

    #[test]
    fn the_same_calls_on_other_resources_do_not() {
        assert!(!tampering(
            "events",
            "DisableRule",
            r#"{"name":"nightly-build"}"#
        ));
        assert!(!tampering(
            "iam",
            "DetachRolePolicy",
            r#"{"roleName":"Builder"}"#
        ));
        assert!(!tampering(
            "scheduler",
            "DeleteSchedule",
            r#"{"name":"backup"}"#
        ));
        assert!(!tampering(
            "events",
            "PutPermission",
            r#"{"action":"events:PutEvents"}"#
        ));
        assert!(!tampering("events", "DisableRule", "null"));
        assert!(!tampering(
            "ec2",
            "RunInstances",
            r#"{"name":"trailrelay-forward"}"#
        ));
    }

    #[test]
    fn any_change_to_a_trail_counts() {
        for event in [
            "StopLogging",
            "DeleteTrail",
            "UpdateTrail",
            "PutEventSelectors",
            "PutInsightSelectors",
        ] {
            assert!(
                tampering("cloudtrail", event, r#"{"name":"org-trail"}"#),
                "{event}"
            );
        }
        assert!(!tampering("cloudtrail", "LookupEvents", "{}"));
    }

    #[test]
    fn changes_to_the_relay_key_count_once_its_arn_is_known() {
        let arn = "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let names = RelayNames::default().with_key(arn);
        let key = |event: &str, params: &str| {
            is_tampering(Some("kms"), Some(event), Some(params), &names)
        };
        assert!(key(
            "ScheduleKeyDeletion",
            r#"{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}"#
        ));
        assert!(key("PutKeyPolicy", &format!(r#"{{"keyId":"{arn}"}}"#)));
        assert!(key("DeleteAlias", r#"{"aliasName":"alias/trailrelay"}"#));
        assert!(!key("DisableKey", r#"{"keyId":"another-key"}"#));
        assert!(!key(
            "Decrypt",
            r#"{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}"#
        ));
    }

    #[test]
    fn names_follow_the_prefix() {
        let names = RelayNames::with_prefix("sec");
        let params = Some(r#"{"name":"sec-forward"}"#);
        assert!(is_tampering(
            Some("events"),
            Some("DeleteRule"),
            params,
            &names
        ));
        assert!(!is_tampering(
            Some("events"),
            Some("DeleteRule"),
            params,
            &RelayNames::default()
        ));
    }
}
