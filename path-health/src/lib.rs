//! Path health: which forwarding paths should exist (active accounts in
//! scope x enrolled regions), how each stands against when it was last
//! heard from, and the events that report a path silent or restored. Its
//! users are the path-check function and `trailrelay paths`.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trailrelay_shared::directory::{AccountInfo, Directory};
use trailrelay_shared::paths::{rfc3339, OrganizationScope, PathKey, PathRecord};
use trailrelay_shared::Entry;

pub const PATH_SILENT: &str = "trailrelay Path Silent";
pub const PATH_RESTORED: &str = "trailrelay Path Restored";

/// An account the check expects paths from: one whose Organizations `State`
/// (else `Status`) is ACTIVE, or that says neither.
pub fn is_expected(info: &AccountInfo) -> bool {
    match info.state.as_deref().or(info.status.as_deref()) {
        Some(state) => state.eq_ignore_ascii_case("ACTIVE"),
        None => true,
    }
}

/// The paths that should exist: expected accounts (in scope) x enrolled regions.
pub fn expected_paths(
    directory: &Directory,
    regions: &[String],
    scope: &OrganizationScope,
) -> Vec<PathKey> {
    let mut paths: Vec<PathKey> = directory
        .accounts()
        .filter(|(id, info)| is_expected(info) && scope.includes(id, info))
        .flat_map(|(id, _)| regions.iter().map(move |r| PathKey::new(id, r.as_str())))
        .collect();
    paths.sort();
    paths
}

/// How a path stands at a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathState {
    /// Heard from within the threshold.
    Healthy,
    /// Not heard from for longer than the threshold, or never.
    Silent,
    /// Never heard from, but its account joined less than a threshold ago.
    Pending,
    /// In the store, but its account is not ACTIVE or the region not enrolled.
    NotExpected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStatus {
    pub key: PathKey,
    pub account_name: Option<String>,
    pub last_seen: Option<OffsetDateTime>,
    pub state: PathState,
    pub silent_since: Option<OffsetDateTime>,
}

/// A change the check reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Silent {
        key: PathKey,
        last_seen: Option<OffsetDateTime>,
    },
    Restored {
        key: PathKey,
        last_seen: OffsetDateTime,
        silent_since: OffsetDateTime,
    },
    /// A path marked silent whose account is no longer expected (suspended,
    /// closed, gone): its mark is cleared without an event.
    Dropped { key: PathKey },
}

impl Change {
    pub fn key(&self) -> &PathKey {
        match self {
            Change::Silent { key, .. } | Change::Restored { key, .. } | Change::Dropped { key } => {
                key
            }
        }
    }

    /// The silent mark the store should hold once the change is reported.
    pub fn mark(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        match self {
            Change::Silent { .. } => Some(now),
            Change::Restored { .. } | Change::Dropped { .. } => None,
        }
    }
}

/// The check itself: each expected path's state, and what changed since the
/// marks the store holds.
pub fn assess(
    expected: &[PathKey],
    records: &[PathRecord],
    directory: &Directory,
    now: OffsetDateTime,
    threshold: Duration,
) -> (Vec<PathStatus>, Vec<Change>) {
    let by_key: BTreeMap<&PathKey, &PathRecord> = records.iter().map(|r| (&r.key, r)).collect();
    let mut statuses = Vec::new();
    let mut changes = Vec::new();
    let recent = |t: OffsetDateTime| now - t <= threshold;
    for key in expected {
        let record = by_key.get(key);
        let last_seen = record.and_then(|r| r.last_seen);
        let silent_since = record.and_then(|r| r.silent_since);
        let info = directory.get(&key.account);
        let joined_recently = info
            .and_then(|i| i.joined_at.as_deref())
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .is_some_and(recent);
        let state = match last_seen {
            Some(t) if recent(t) => PathState::Healthy,
            None if joined_recently => PathState::Pending,
            _ => PathState::Silent,
        };
        match (state, silent_since, last_seen) {
            (PathState::Silent, None, _) => changes.push(Change::Silent {
                key: key.clone(),
                last_seen,
            }),
            (PathState::Healthy, Some(since), Some(seen)) => changes.push(Change::Restored {
                key: key.clone(),
                last_seen: seen,
                silent_since: since,
            }),
            _ => {}
        }
        statuses.push(PathStatus {
            key: key.clone(),
            account_name: info.and_then(|i| i.name.clone()),
            last_seen,
            state,
            silent_since: if state == PathState::Silent {
                silent_since.or(Some(now))
            } else {
                None
            },
        });
    }
    let expected_keys: std::collections::BTreeSet<&PathKey> = expected.iter().collect();
    for record in records {
        if expected_keys.contains(&record.key) {
            continue;
        }
        if record.silent_since.is_some() {
            changes.push(Change::Dropped {
                key: record.key.clone(),
            });
        }
        statuses.push(PathStatus {
            key: record.key.clone(),
            account_name: directory
                .get(&record.key.account)
                .and_then(|i| i.name.clone()),
            last_seen: record.last_seen,
            state: PathState::NotExpected,
            silent_since: None,
        });
    }
    (statuses, changes)
}

/// The detail of a `Path Silent` or `Path Restored` event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathEventDetail<'a> {
    pub account: &'a str,
    pub account_name: Option<&'a str>,
    pub region: &'a str,
    /// RFC 3339, or null when the path was never heard from.
    pub last_seen: Option<String>,
    /// For `Path Silent`: since the last heartbeat (or null when never);
    /// for `Path Restored`: how long it was reported silent.
    pub silent_for_seconds: Option<i64>,
    /// For `Path Restored`: when the check first reported it silent.
    pub silent_since: Option<String>,
    pub threshold_seconds: u64,
    pub checked_at: String,
}

/// The entry reporting a change on the audit bus; `None` for changes that
/// are not reported (a dropped path).
pub fn change_entry(
    change: &Change,
    directory: &Directory,
    now: OffsetDateTime,
    threshold: Duration,
    source: &str,
    audit_bus: &str,
) -> Option<Entry> {
    let (key, detail_type, last_seen, silent_for, since) = match change {
        Change::Silent { key, last_seen } => (
            key,
            PATH_SILENT,
            *last_seen,
            last_seen.map(|t| now - t),
            None,
        ),
        Change::Restored {
            key,
            last_seen,
            silent_since,
        } => (
            key,
            PATH_RESTORED,
            Some(*last_seen),
            Some(now - *silent_since),
            Some(*silent_since),
        ),
        Change::Dropped { .. } => return None,
    };
    let detail = PathEventDetail {
        account: &key.account,
        account_name: directory.get(&key.account).and_then(|i| i.name.as_deref()),
        region: &key.region,
        last_seen: last_seen.map(rfc3339),
        silent_for_seconds: silent_for.map(|d| d.whole_seconds()),
        silent_since: since.map(rfc3339),
        threshold_seconds: threshold.as_secs(),
        checked_at: rfc3339(now),
    };
    Some(Entry {
        event_bus_name: audit_bus.to_owned(),
        source: source.to_owned(),
        detail_type: detail_type.to_owned(),
        detail: serde_json::to_string(&detail).unwrap_or_else(|_| String::from("{}")),
        time: now,
        resources: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-26 12:00 UTC);
    const THRESHOLD: Duration = Duration::from_secs(15 * 60);

    fn directory() -> Directory {
        Directory::from_json(
            r#"{"accounts":{
                "111111111111":{"name":"a","state":"ACTIVE"},
                "222222222222":{"name":"b","status":"ACTIVE"},
                "333333333333":{"name":"c","state":"SUSPENDED","status":"SUSPENDED"},
                "444444444444":{"name":"d","state":"ACTIVE","joinedAt":"2026-11-26T11:58:00Z"}}}"#,
            "test",
        )
        .unwrap()
    }

    fn regions() -> Vec<String> {
        vec!["eu-west-1".into(), "us-east-1".into()]
    }

    fn seen(account: &str, region: &str, minutes_ago: i64, silent: Option<i64>) -> PathRecord {
        PathRecord {
            key: PathKey::new(account, region),
            last_seen: Some(NOW - time::Duration::minutes(minutes_ago)),
            silent_since: silent.map(|m| NOW - time::Duration::minutes(m)),
        }
    }

    #[test]
    fn expected_paths_are_active_accounts_times_regions() {
        let paths = expected_paths(&directory(), &regions(), &OrganizationScope::default());
        let accounts: Vec<&str> = paths.iter().map(|p| p.account.as_str()).collect();
        assert_eq!(paths.len(), 6);
        assert!(
            !accounts.contains(&"333333333333"),
            "suspended: not expected"
        );
    }

    #[test]
    fn a_path_silent_past_the_threshold_is_reported_once_then_restored() {
        let d = directory();
        let expected = expected_paths(&d, &regions(), &OrganizationScope::default());
        let mut records: Vec<PathRecord> = expected
            .iter()
            .map(|k| seen(&k.account, &k.region, 1, None))
            .collect();
        records[0] = seen("111111111111", "eu-west-1", 16, None);
        let (_, changes) = assess(&expected, &records, &d, NOW, THRESHOLD);
        assert_eq!(
            changes,
            vec![Change::Silent {
                key: PathKey::new("111111111111", "eu-west-1"),
                last_seen: records[0].last_seen,
            }]
        );
        // Marked silent: the next check says nothing new.
        records[0] = seen("111111111111", "eu-west-1", 20, Some(4));
        let (statuses, changes) = assess(&expected, &records, &d, NOW, THRESHOLD);
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(statuses[0].state, PathState::Silent);
        // A heartbeat again: restored, with how long it was silent.
        records[0] = seen("111111111111", "eu-west-1", 0, Some(30));
        let (_, changes) = assess(&expected, &records, &d, NOW, THRESHOLD);
        assert!(
            matches!(&changes[..], [Change::Restored { silent_since, .. }]
            if *silent_since == NOW - time::Duration::minutes(30))
        );
    }

    #[test]
    fn never_heard_from_is_silent_unless_the_account_just_joined() {
        let d = directory();
        let expected = expected_paths(&d, &regions(), &OrganizationScope::default());
        let (statuses, changes) = assess(&expected, &[], &d, NOW, THRESHOLD);
        let state = |account: &str| {
            statuses
                .iter()
                .find(|s| s.key.account == account)
                .map(|s| s.state)
        };
        assert_eq!(state("111111111111"), Some(PathState::Silent));
        assert_eq!(state("444444444444"), Some(PathState::Pending));
        assert_eq!(changes.len(), 4, "two accounts x two regions: {changes:?}");
    }

    #[test]
    fn a_suspended_accounts_silent_mark_is_dropped_without_an_event() {
        let d = directory();
        let expected = expected_paths(&d, &regions(), &OrganizationScope::default());
        let records = vec![seen("333333333333", "eu-west-1", 60, Some(40))];
        let (statuses, changes) = assess(&expected, &records, &d, NOW, THRESHOLD);
        let dropped = Change::Dropped {
            key: PathKey::new("333333333333", "eu-west-1"),
        };
        assert!(changes.contains(&dropped));
        assert!(change_entry(&dropped, &d, NOW, THRESHOLD, "trailrelay", "audit").is_none());
        assert!(statuses
            .iter()
            .any(|s| s.key.account == "333333333333" && s.state == PathState::NotExpected));
    }

    #[test]
    fn the_silent_event_says_which_path_and_since_when() {
        let d = directory();
        let change = Change::Silent {
            key: PathKey::new("111111111111", "eu-west-1"),
            last_seen: Some(NOW - time::Duration::minutes(16)),
        };
        let entry = change_entry(
            &change,
            &d,
            NOW,
            THRESHOLD,
            "trailrelay",
            "trailrelay-audit",
        )
        .unwrap();
        assert_eq!(entry.detail_type, PATH_SILENT);
        assert_eq!(entry.event_bus_name, "trailrelay-audit");
        let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
        assert_eq!(detail["account"], "111111111111");
        assert_eq!(detail["accountName"], "a");
        assert_eq!(detail["region"], "eu-west-1");
        assert_eq!(detail["silentForSeconds"], 960);
        assert_eq!(detail["lastSeen"], "2026-11-26T11:44:00Z");
    }
}
