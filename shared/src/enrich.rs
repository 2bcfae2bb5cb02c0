//! The `enrichment` object added to every record: the account, the actor,
//! the category and rule, the signals (decided in `signal`), provenance.

use crate::category::Category;
use crate::directory::{AccountFields, AccountInfo, Directory};
use crate::event::{Record, UserIdentity};
use crate::signal::{is_cross_account, ActorFacts, Signal};
use schemars::JsonSchema;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// `major.minor`: the major number changes only when consumers must adapt,
/// the minor one when something is added (1.1: `provenance.backfilled` and
/// the signal `late_delivery`).
pub const SCHEMA_VERSION: &str = "1.1";
pub const RELAY: &str = concat!("trailrelay/", env!("CARGO_PKG_VERSION"));

static NO_TAGS: BTreeMap<String, String> = BTreeMap::new();

/// The longest value copied from an input into the enrichment. Real values
/// (ids, ARNs, addresses) are far shorter; a record that carries a huge one
/// where an account id should be must not make the enrichment itself too
/// large to send.
pub const MAX_ECHO_BYTES: usize = 1024;

/// A value from the input, cut to [`MAX_ECHO_BYTES`] at a character boundary.
pub fn echo(value: &str) -> &str {
    crate::size::prefix_within(value, MAX_ECHO_BYTES)
}

fn echo_opt(value: Option<&str>) -> Option<&str> {
    value.map(echo)
}

/// What trailrelay adds to a CloudTrail record, as the top-level key
/// `enrichment` of the event's detail.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "trailrelay enrichment")]
pub struct Enrichment<'a> {
    /// Version of this shape, `major.minor`: the major number changes only
    /// when consumers must adapt, the minor one when something is added.
    pub schema_version: &'static str,
    pub category: Category,
    /// The id of the rule in the classification table that chose the category.
    pub rule_id: &'a str,
    /// The account the event happened in.
    pub account: AccountContext<'a>,
    pub actor: Actor<'a>,
    /// Things worth a look, sorted, each at most once.
    pub signals: Vec<Signal>,
    pub provenance: Provenance<'a>,
}

#[derive(Debug, Clone, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountContext<'a> {
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub status: Option<&'a str>,
    /// Organizational unit names from the root, e.g. "Root/Workloads/Prod".
    pub ou_path: Option<&'a str>,
    pub tags: &'a BTreeMap<String, String>,
    pub environment: Option<&'a str>,
    /// False when the account directory does not list this account.
    pub known: bool,
    /// This very context as the directory rendered it, for a listed account.
    #[schemars(skip)]
    pub rendered: Option<&'a RawValue>,
}

impl Serialize for AccountContext<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(rendered) = self.rendered {
            return rendered.serialize(serializer);
        }
        AccountFields {
            id: self.id,
            name: self.name,
            email: self.email,
            status: self.status,
            ou_path: self.ou_path,
            tags: self.tags,
            environment: self.environment,
            known: self.known,
        }
        .serialize(serializer)
    }
}

impl<'a> AccountContext<'a> {
    pub fn lookup(id: Option<&'a str>, directory: &'a Directory) -> AccountContext<'a> {
        match id.and_then(|id| directory.listed(id)) {
            Some(listed) => AccountContext {
                rendered: Some(&listed.context_json),
                ..AccountContext::of_listed(id.unwrap_or_default(), &listed.info)
            },
            None => AccountContext {
                id: echo_opt(id),
                name: None,
                email: None,
                status: None,
                ou_path: None,
                tags: &NO_TAGS,
                environment: None,
                known: false,
                rendered: None,
            },
        }
    }

    /// The context of an account the directory lists, as it is rendered.
    pub fn of_listed(id: &'a str, info: &'a AccountInfo) -> AccountContext<'a> {
        AccountContext {
            id: Some(id),
            name: info.name.as_deref(),
            email: info.email.as_deref(),
            status: info.status.as_deref(),
            ou_path: info.ou_path.as_deref(),
            tags: &info.tags,
            environment: info.environment(),
            known: true,
            rendered: None,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Actor<'a> {
    /// `userIdentity.type` (Root, IAMUser, AssumedRole, AWSService, ...), or "Unknown".
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub arn: Option<&'a str>,
    /// The user name, the role name of an assumed role, or the end of the ARN.
    pub principal_name: Option<&'a str>,
    pub account_id: Option<&'a str>,
    /// The actor's account; null when the actor has no account id (AWS services).
    pub account: Option<AccountContext<'a>>,
    pub is_root: bool,
    /// The actor's account differs from the account the event happened in.
    pub cross_account: bool,
    /// Whether MFA was used; null when the record does not say.
    pub mfa: Option<bool>,
    pub invoked_by: Option<&'a str>,
    pub source_ip: Option<&'a str>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provenance<'a> {
    /// CloudTrail's `eventID`.
    pub event_id: Option<&'a str>,
    /// The EventBridge envelope's `id`.
    pub envelope_id: Option<&'a str>,
    /// The envelope's `source`, e.g. "aws.iam".
    pub source: Option<&'a str>,
    pub detail_type: Option<&'a str>,
    pub region: Option<&'a str>,
    /// When the relay received the event (RFC 3339).
    pub received_at: &'a str,
    /// "trailrelay/<version>".
    pub relay: &'static str,
    /// JSON pointers (into the delivered event) of what was trimmed to fit
    /// the size limit; empty when nothing was.
    pub truncated: Vec<String>,
    /// Put back by reconciliation: the organization trail holds the record
    /// but EventBridge never delivered it (or not in time). Written only
    /// when true; the record may still arrive on its own, so consumers
    /// should expect a duplicate by `eventId`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schemars(default)]
    pub backfilled: bool,
}

impl Actor<'_> {
    /// The actor of input that says nothing about one.
    pub fn unknown() -> Actor<'static> {
        Actor {
            kind: "Unknown",
            arn: None,
            principal_name: None,
            account_id: None,
            account: None,
            is_root: false,
            cross_account: false,
            mfa: None,
            invoked_by: None,
            source_ip: None,
        }
    }
}

impl Enrichment<'_> {
    pub fn to_json(&self) -> String {
        // Most enrichments fit this, which spares growing the buffer as it fills.
        let mut out = Vec::with_capacity(1536);
        // Serializing plain structs of strings, bools and string maps cannot fail,
        // and serde_json writes only UTF-8.
        match serde_json::to_writer(&mut out, self) {
            Ok(()) => String::from_utf8(out).unwrap_or_else(|_| String::from("{}")),
            Err(_) => String::from("{}"),
        }
    }

    /// Records what was trimmed, and says so in the signals.
    pub fn mark_truncated(&mut self, pointers: &[String]) {
        self.provenance.truncated = pointers.to_vec();
        if pointers.is_empty() {
            self.signals.retain(|s| *s != Signal::Truncated);
        } else if let Err(at) = self.signals.binary_search(&Signal::Truncated) {
            self.signals.insert(at, Signal::Truncated);
        }
    }
}

pub fn build_actor<'a>(
    record: &'a Record<'a>,
    facts: &ActorFacts<'a>,
    event_account: Option<&'a str>,
    directory: &'a Directory,
) -> Actor<'a> {
    let identity = record.identity();
    let arn = identity.and_then(|i| i.arn.non_empty());
    Actor {
        kind: echo(facts.kind.unwrap_or("Unknown")),
        arn: echo_opt(arn),
        principal_name: echo_opt(identity.and_then(|i| principal_name(i, facts.kind))),
        account_id: echo_opt(facts.account_id),
        account: facts
            .account_id
            .map(|id| AccountContext::lookup(Some(id), directory)),
        is_root: facts.kind == Some("Root"),
        cross_account: is_cross_account(facts.account_id, event_account),
        mfa: mfa_used(record),
        invoked_by: echo_opt(identity.and_then(|i| i.invoked_by.non_empty())),
        source_ip: echo_opt(record.source_ip_address.non_empty()),
    }
}

fn principal_name<'a>(identity: &'a UserIdentity<'a>, kind: Option<&str>) -> Option<&'a str> {
    let user = identity.user_name.non_empty();
    let role = identity
        .session_issuer()
        .and_then(|s| s.user_name.non_empty());
    let from_arn = || identity.arn.non_empty().and_then(arn_tail);
    match kind {
        Some("AssumedRole") => role.or(user).or_else(from_arn),
        _ => user.or(role).or_else(from_arn),
    }
}

/// The last name of an ARN's resource: `user/path/Bob` -> `Bob`, `root` -> `root`.
fn arn_tail(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    resource.rsplit('/').next().filter(|s| !s.is_empty())
}

/// `additionalEventData.MFAUsed` where the record has it (console sign-in),
/// else the session's `mfaAuthenticated`; null when neither says.
pub fn mfa_used(record: &Record<'_>) -> Option<bool> {
    let used = record
        .additional_event_data
        .get()
        .and_then(|d| d.mfa_used.non_empty());
    match used {
        Some("Yes") => return Some(true),
        Some("No") => return Some(false),
        _ => {}
    }
    match record.identity().and_then(UserIdentity::mfa_authenticated) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_accounts_rendered_context_is_its_context() {
        let directory = Directory::sample().unwrap();
        for id in ["111111111111", "333333333333", "555555555555"] {
            let context = AccountContext::lookup(Some(id), &directory);
            let rendered = serde_json::to_string(&context).unwrap();
            let fields = serde_json::to_string(&AccountContext {
                rendered: None,
                ..context.clone()
            })
            .unwrap();
            assert_eq!(rendered, fields);
            assert!(rendered.contains(r#""known":true"#), "{rendered}");
        }
        let unknown = AccountContext::lookup(Some("999999999999"), &directory);
        assert_eq!(
            serde_json::to_value(&unknown).unwrap(),
            serde_json::json!({"id": "999999999999", "name": null, "email": null, "status": null,
                "ouPath": null, "tags": {}, "environment": null, "known": false})
        );
    }

    #[test]
    fn arn_tail_reads_the_last_name() {
        assert_eq!(
            arn_tail("arn:aws:iam::111111111111:user/ops/alice"),
            Some("alice")
        );
        assert_eq!(arn_tail("arn:aws:iam::111111111111:root"), Some("root"));
        assert_eq!(arn_tail("not-an-arn"), None);
    }

    #[test]
    fn mark_truncated_keeps_signals_sorted() {
        let dir = Directory::default();
        let mut e = Enrichment {
            schema_version: SCHEMA_VERSION,
            category: Category::Other,
            rule_id: "other",
            account: AccountContext::lookup(None, &dir),
            actor: Actor::unknown(),
            signals: vec![Signal::AccessDenied, Signal::UnknownAccount],
            provenance: Provenance {
                event_id: None,
                envelope_id: None,
                source: None,
                detail_type: None,
                region: None,
                received_at: "2026-01-01T00:00:00Z",
                relay: RELAY,
                truncated: vec![],
                backfilled: false,
            },
        };
        e.mark_truncated(&["/detail/requestParameters".to_owned()]);
        assert_eq!(
            e.signals,
            vec![
                Signal::AccessDenied,
                Signal::Truncated,
                Signal::UnknownAccount
            ]
        );
        e.mark_truncated(&[
            "/detail/requestParameters".to_owned(),
            "/resources".to_owned(),
        ]);
        assert_eq!(e.signals.len(), 3);
        assert_eq!(e.provenance.truncated.len(), 2);
    }
}
