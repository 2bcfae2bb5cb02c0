//! The signals: short flags an analyst filters on (root activity, a
//! console sign-in without MFA, an unknown account, ...), what they are
//! computed from, and the one function that decides them. Adding one: a
//! line in `Signal`'s list, its rule in [`signals`], its meaning in
//! docs/enrichment.md (docs/architecture.md lists the rest).

use crate::event::{Record, UserIdentity};
use schemars::JsonSchema;
use serde::Serialize;

named_enum! {
    /// Signal names, in the order they sort as strings (the derived order is
    /// the serialized order; a test keeps the two in step).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
    pub enum Signal {
        AccessDenied => "access_denied",
        AccountMismatch => "account_mismatch",
        ConsoleLoginFailure => "console_login_failure",
        ConsoleLoginWithoutMfa => "console_login_without_mfa",
        CrossAccountActor => "cross_account_actor",
        DirectoryStale => "directory_stale",
        LateDelivery => "late_delivery",
        MalformedInput => "malformed_input",
        RelayTampering => "relay_tampering",
        RootActivity => "root_activity",
        TestEvent => "test_event",
        Truncated => "truncated",
        UnknownAccount => "unknown_account",
    }
}

/// Who acted, as far as the record says.
pub struct ActorFacts<'a> {
    pub kind: Option<&'a str>,
    /// The actor's account; none for AWS services.
    pub account_id: Option<&'a str>,
}

pub fn actor_facts<'a>(identity: Option<&'a UserIdentity<'a>>) -> ActorFacts<'a> {
    let kind = identity.and_then(|i| i.kind.non_empty());
    let account_id = match (kind, identity) {
        (Some("AWSService"), _) | (_, None) => None,
        (_, Some(i)) => i
            .account_id
            .non_empty()
            .or_else(|| i.session_issuer().and_then(|s| s.account_id.non_empty())),
    };
    ActorFacts { kind, account_id }
}

/// Everything the signals are computed from.
pub struct SignalFacts<'a> {
    pub record: &'a Record<'a>,
    pub actor: &'a ActorFacts<'a>,
    pub event_account: Option<&'a str>,
    pub event_account_known: bool,
    pub actor_account_known: bool,
    pub envelope_account: Option<&'a str>,
    pub test_event: bool,
    pub malformed: bool,
    /// The account directory in use is older than its limit.
    pub directory_stale: bool,
    /// The event changes the forwarding path (see `tamper`).
    pub relay_tampering: bool,
    /// Put back by reconciliation, not delivered by EventBridge.
    pub backfilled: bool,
}

impl<'a> SignalFacts<'a> {
    /// The facts of one event; the flags (test event, malformed, tampering)
    /// start false and the accounts unknown until the caller says otherwise.
    /// The normal and the malformed path both start here, so a new fact is
    /// added in one place.
    pub fn new(
        record: &'a Record<'a>,
        actor: &'a ActorFacts<'a>,
        event_account: Option<&'a str>,
        envelope_account: Option<&'a str>,
        directory_stale: bool,
    ) -> Self {
        SignalFacts {
            record,
            actor,
            event_account,
            event_account_known: false,
            actor_account_known: false,
            envelope_account,
            test_event: false,
            malformed: false,
            directory_stale,
            relay_tampering: false,
            backfilled: false,
        }
    }
}

/// The one place signals are decided (docs/enrichment.md says what each means).
pub fn signals(f: &SignalFacts<'_>) -> Vec<Signal> {
    let record = f.record;
    let mut out = Vec::new();
    if f.actor.kind == Some("Root") {
        out.push(Signal::RootActivity);
    }
    if record.event_name.get() == Some("ConsoleLogin") {
        let result = record
            .response_elements
            .get()
            .and_then(|r| r.console_login.get());
        let mfa = record
            .additional_event_data
            .get()
            .and_then(|d| d.mfa_used.get());
        if result == Some("Failure") {
            out.push(Signal::ConsoleLoginFailure);
        }
        if result == Some("Success")
            && matches!(f.actor.kind, Some("IAMUser") | Some("Root"))
            && mfa == Some("No")
        {
            out.push(Signal::ConsoleLoginWithoutMfa);
        }
    }
    if record.error_code.get().is_some_and(is_access_denied) {
        out.push(Signal::AccessDenied);
    }
    if is_cross_account(f.actor.account_id, f.event_account) {
        out.push(Signal::CrossAccountActor);
    }
    // Without an account id there is nothing to look up: not "unknown".
    if (f.event_account.is_some() && !f.event_account_known)
        || (f.actor.account_id.is_some() && !f.actor_account_known)
    {
        out.push(Signal::UnknownAccount);
    }
    if let (Some(envelope), Some(recipient)) =
        (f.envelope_account, record.recipient_account_id.non_empty())
    {
        if envelope != recipient {
            out.push(Signal::AccountMismatch);
        }
    }
    if f.malformed {
        out.push(Signal::MalformedInput);
    }
    if f.test_event {
        out.push(Signal::TestEvent);
    }
    if f.directory_stale {
        out.push(Signal::DirectoryStale);
    }
    if f.relay_tampering {
        out.push(Signal::RelayTampering);
    }
    if f.backfilled {
        out.push(Signal::LateDelivery);
    }
    out.sort_unstable();
    out.dedup();
    out
}

pub fn is_access_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied" | "UnauthorizedOperation" | "Client.UnauthorizedOperation"
    ) || code.ends_with("AccessDenied")
        || code.ends_with("AccessDeniedException")
}

pub fn is_cross_account(actor_account: Option<&str>, event_account: Option<&str>) -> bool {
    matches!((actor_account, event_account), (Some(a), Some(e)) if a != e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_order_is_string_order() {
        let mut by_name = Signal::ALL.to_vec();
        by_name.sort_by_key(|s| s.as_str());
        assert_eq!(by_name, Signal::ALL.to_vec());
        let mut by_ord = Signal::ALL.to_vec();
        by_ord.sort();
        assert_eq!(by_ord, Signal::ALL.to_vec());
        for s in Signal::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn access_denied_codes() {
        for code in [
            "AccessDenied",
            "UnauthorizedOperation",
            "Client.UnauthorizedOperation",
            "AccessDeniedException",
            "KMS.AccessDeniedException",
            "S3AccessDenied",
        ] {
            assert!(is_access_denied(code), "{code}");
        }
        for code in [
            "ThrottlingException",
            "NoSuchBucket",
            "AccessDeniedExceptionX",
            "accessdenied",
        ] {
            assert!(!is_access_denied(code), "{code}");
        }
    }
}
