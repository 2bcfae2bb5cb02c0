//! `filter suggest`: an exclusion for the member forward rule that drops the
//! highest-volume read-only calls and always forwards what a pattern can
//! recognise as security-relevant.
//!
//! The forward rule's pattern gains one `$or` whose branches keep an event:
//! `readOnly` false or absent, `eventName` or `eventSource` absent, any
//! `errorCode`, Root, console sign-ins, the calls that can carry
//! `relay_tampering`, the control source, a caller from another account,
//! and finally every `eventSource` or `eventName` outside the excluded sets. Only an event that fails every
//! branch is dropped. An `anything-but` never matches an absent field, so
//! each "absent" case has its own `exists: false` branch. The signals that
//! depend on the relay's state (`unknown_account`, `directory_stale`,
//! `truncated`, `malformed_input`) are out of any pattern's reach.

use crate::matcher::{Pattern, PatternError};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// EventBridge's default limit on an event pattern's length, raisable to
/// 4,096 (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html).
pub const DEFAULT_PATTERN_LIMIT: usize = 2048;

/// What the member template substitutes for the account's own id.
pub const ACCOUNT_PLACEHOLDER: &str = "${AWS::AccountId}";

/// The calls an exclusion drops: their sources and names (a call is dropped
/// when its source is one of these and its name one of those, and it is in
/// none of the kept classes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusion {
    pub event_sources: BTreeSet<String>,
    pub event_names: BTreeSet<String>,
}

/// What the exclusion must always keep that is not in the record.
#[derive(Debug, Clone)]
pub struct Keep {
    pub control_source: String,
    pub tampering_names: Vec<String>,
}

impl Exclusion {
    pub fn is_empty(&self) -> bool {
        self.event_sources.is_empty() || self.event_names.is_empty()
    }

    /// The `$or` branches, with `account` for the caller's own account (the
    /// member template puts [`ACCOUNT_PLACEHOLDER`] there).
    pub fn branches(&self, keep: &Keep, account: &str) -> Vec<Value> {
        let detail = |v: Value| json!({ "detail": v });
        vec![
            json!({ "source": [keep.control_source] }),
            detail(json!({ "readOnly": [false] })),
            detail(json!({ "readOnly": [{ "exists": false }] })),
            detail(json!({ "eventName": [{ "exists": false }] })),
            detail(json!({ "eventSource": [{ "exists": false }] })),
            detail(json!({ "errorCode": [{ "exists": true }] })),
            detail(json!({ "userIdentity": { "type": ["Root"] } })),
            detail(json!({ "eventSource": ["signin.amazonaws.com"] })),
            detail(json!({ "eventName": keep.tampering_names })),
            detail(json!({ "userIdentity": { "accountId": [{ "anything-but": account }] } })),
            detail(json!({ "eventSource": [{ "anything-but": self.event_sources }] })),
            detail(json!({ "eventName": [{ "anything-but": self.event_names }] })),
        ]
    }

    /// The forward rule's pattern with the exclusion: `base` (today's
    /// pattern) and one `$or` of the branches.
    pub fn pattern(&self, base: &Value, keep: &Keep, account: &str) -> Value {
        let mut pattern = base.as_object().cloned().unwrap_or_else(Map::new);
        if !self.is_empty() {
            pattern.insert("$or".into(), Value::Array(self.branches(keep, account)));
        }
        Value::Object(pattern)
    }

    /// The pattern's length as EventBridge counts it (its JSON text), with
    /// the longest account id in place of the placeholder.
    pub fn pattern_len(&self, base: &Value, keep: &Keep) -> usize {
        self.pattern(base, keep, "123456789012").to_string().len()
    }
}

/// Decides what the forward rule drops, for one account's events.
pub struct Judge {
    base: Pattern,
    with_exclusion: Pattern,
}

impl Judge {
    pub fn new(
        exclusion: &Exclusion,
        base: &Value,
        keep: &Keep,
        account: &str,
    ) -> Result<Judge, PatternError> {
        Ok(Judge {
            base: Pattern::parse(base)?,
            with_exclusion: Pattern::parse(&exclusion.pattern(base, keep, account))?,
        })
    }

    /// Today's rule forwards the event and the rule with the exclusion does
    /// not.
    pub fn excludes(&self, event: &Value) -> bool {
        self.base.matches(event) && !self.with_exclusion.matches(event)
    }
}

/// The member forward rule's pattern today (member-account.yaml).
pub fn forward_pattern(control_source: &str) -> Value {
    json!({
        "source": [{ "prefix": "aws." }, control_source],
        "detail-type": [{ "suffix": " via CloudTrail" }, "trailrelay Test Event", "trailrelay Heartbeat"]
    })
}

/// A suggested exclusion and what the table says it would drop.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub exclusion: Exclusion,
    /// Chunks the chosen calls' droppable events hold (the proof pass
    /// counts what the pattern drops, which may be more: every source of
    /// the set with every name of the set).
    pub estimated_chunks: u64,
    pub pattern_len: usize,
}

/// Chooses calls, most droppable chunks first, until they hold `target`
/// chunks, keeping the pattern within `limit` characters. Never chooses a
/// call whose name can carry `relay_tampering` or that comes from the
/// control source. `Err` holds the best it could do.
pub fn choose(
    droppable: &[(&(String, String), u64)],
    target: u64,
    base: &Value,
    keep: &Keep,
    limit: usize,
) -> Result<Suggestion, Suggestion> {
    let mut best = Suggestion {
        exclusion: Exclusion::default(),
        estimated_chunks: 0,
        pattern_len: base.to_string().len(),
    };
    let chunks_of = |exclusion: &Exclusion| -> u64 {
        droppable
            .iter()
            .filter(|((s, n), _)| {
                exclusion.event_sources.contains(s) && exclusion.event_names.contains(n)
            })
            .map(|(_, c)| c)
            .sum()
    };
    for ((source, name), _) in droppable {
        if best.estimated_chunks >= target {
            break;
        }
        if keep.tampering_names.iter().any(|t| t == name) || *source == keep.control_source {
            continue;
        }
        let mut tried = best.exclusion.clone();
        tried.event_sources.insert(source.clone());
        tried.event_names.insert(name.clone());
        let len = tried.pattern_len(base, keep);
        if len > limit {
            continue;
        }
        best = Suggestion {
            estimated_chunks: chunks_of(&tried),
            exclusion: tried,
            pattern_len: len,
        };
    }
    if best.estimated_chunks >= target && target > 0 {
        Ok(best)
    } else {
        Err(best)
    }
}
