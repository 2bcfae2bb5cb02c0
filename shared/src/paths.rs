//! Path health: every (account, region) forwarding path sends a heartbeat
//! along the same rule, role and ingest policy as its CloudTrail events.
//! The enricher records when each path was last heard from; a scheduled
//! check compares that with the paths the directory says should exist, and
//! says which went silent and which came back.
//!
//! Everything here is pure: the store is a trait (DynamoDB in AWS, a map in
//! tests), and the time is always given.

use crate::directory::{AccountInfo, Directory};
use crate::entry::Entry;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const PATH_SILENT: &str = "trailrelay Path Silent";
pub const PATH_RESTORED: &str = "trailrelay Path Restored";

/// By default a path is written at most this often, whatever arrives: a
/// burst of heartbeats (a replay, a duplicate schedule) costs no more writes.
pub const MIN_WRITE_INTERVAL: Duration = Duration::from_secs(60);

/// One forwarding path: a member account and a region it is enrolled in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PathKey {
    pub account: String,
    pub region: String,
}

impl PathKey {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> PathKey {
        PathKey {
            account: account.into(),
            region: region.into(),
        }
    }

    /// The key the store files the path under: `<account>#<region>`.
    pub fn id(&self) -> String {
        format!("{}#{}", self.account, self.region)
    }

    pub fn from_id(id: &str) -> Option<PathKey> {
        let (account, region) = id.split_once('#')?;
        (!account.is_empty() && !region.is_empty()).then(|| PathKey::new(account, region))
    }
}

/// What the store holds for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRecord {
    pub key: PathKey,
    /// When its last heartbeat was received.
    pub last_seen: Option<OffsetDateTime>,
    /// Since when the check has reported it silent; `None` while it is not.
    pub silent_since: Option<OffsetDateTime>,
}

/// What became of a heartbeat's write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Written,
    /// The store already holds a time this recent (another container wrote
    /// it, or a later heartbeat did): last seen only moves forward.
    AlreadyRecent,
    /// This container wrote the path less than the write interval ago.
    Skipped,
    /// No store is configured: heartbeats are consumed, not recorded.
    NoStore,
}

/// Where last-seen times live, behind a trait so tests can swap it.
pub trait PathStore: Sync {
    /// Sets the path's last seen to `at`, unless the store holds a time
    /// later than `at - min_interval` already.
    fn record_heartbeat(
        &self,
        path: &PathKey,
        at: OffsetDateTime,
        min_interval: Duration,
    ) -> impl Future<Output = Result<Recorded, Error>> + Send;

    /// Every path the store knows.
    fn list(&self) -> impl Future<Output = Result<Vec<PathRecord>, Error>> + Send;

    /// Marks a path silent since a time, or (with `None`) not silent.
    fn set_silent(
        &self,
        path: &PathKey,
        since: Option<OffsetDateTime>,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

impl<T: PathStore + Send> PathStore for std::sync::Arc<T> {
    fn record_heartbeat(
        &self,
        path: &PathKey,
        at: OffsetDateTime,
        min_interval: Duration,
    ) -> impl Future<Output = Result<Recorded, Error>> + Send {
        (**self).record_heartbeat(path, at, min_interval)
    }

    fn list(&self) -> impl Future<Output = Result<Vec<PathRecord>, Error>> + Send {
        (**self).list()
    }

    fn set_silent(
        &self,
        path: &PathKey,
        since: Option<OffsetDateTime>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).set_silent(path, since)
    }
}

/// A store that may not be configured.
impl<T: PathStore + Send> PathStore for Option<T> {
    async fn record_heartbeat(
        &self,
        path: &PathKey,
        at: OffsetDateTime,
        min_interval: Duration,
    ) -> Result<Recorded, Error> {
        match self {
            Some(store) => store.record_heartbeat(path, at, min_interval).await,
            None => Ok(Recorded::NoStore),
        }
    }

    async fn list(&self) -> Result<Vec<PathRecord>, Error> {
        match self {
            Some(store) => store.list().await,
            None => Ok(Vec::new()),
        }
    }

    async fn set_silent(&self, path: &PathKey, since: Option<OffsetDateTime>) -> Result<(), Error> {
        match self {
            Some(store) => store.set_silent(path, since).await,
            None => Ok(()),
        }
    }
}

/// The store of a relay that has none configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPathStore;

impl PathStore for NoPathStore {
    async fn record_heartbeat(
        &self,
        _: &PathKey,
        _: OffsetDateTime,
        _: Duration,
    ) -> Result<Recorded, Error> {
        Ok(Recorded::NoStore)
    }

    async fn list(&self) -> Result<Vec<PathRecord>, Error> {
        Ok(Vec::new())
    }

    async fn set_silent(&self, _: &PathKey, _: Option<OffsetDateTime>) -> Result<(), Error> {
        Ok(())
    }
}

/// The heartbeat's detail, as the member template's schedule writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HeartbeatDetail {
    account: Option<String>,
    region: Option<String>,
}

/// The path a heartbeat proves.
///
/// Both halves come from the envelope, which the forwarding path wrote: the
/// ingest bus admits only the organization's forwarder roles used by forward
/// rules (`aws:PrincipalArn`, `aws:SourceArn`), the role proves the account
/// and the rule, which keeps the region the event was put in, proves the
/// region. A heartbeat whose detail names another account or region is
/// refused, so no path can keep another looking alive. (The detail's values
/// stand in only where the envelope has none, as local emulators deliver it.)
pub fn heartbeat_path(
    envelope_account: Option<&str>,
    envelope_region: Option<&str>,
    detail: Option<&str>,
) -> Option<PathKey> {
    let detail: HeartbeatDetail = detail
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    let account = envelope_unless_contradicted(envelope_account, detail.account.as_deref())?;
    let region = envelope_unless_contradicted(envelope_region, detail.region.as_deref())
        .filter(|r| is_region_name(r))?;
    crate::directory::is_account_id(&account).then(|| PathKey::new(account, region))
}

/// The envelope's value; none when the detail claims another; the detail's
/// only where the envelope has none.
fn envelope_unless_contradicted(envelope: Option<&str>, claimed: Option<&str>) -> Option<String> {
    match (envelope, claimed) {
        (Some(envelope), Some(claimed)) if envelope != claimed => None,
        (Some(envelope), _) => Some(envelope.to_owned()),
        (None, claimed) => claimed.map(str::to_owned),
    }
}

/// `eu-west-1`, `us-gov-east-1`, `cn-north-1`: letters, digits and dashes.
fn is_region_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Remembers, per container, when each path was last written, so that a
/// burst of heartbeats makes no calls at all.
#[derive(Debug)]
pub struct WriteThrottle {
    interval: Duration,
    written: HashMap<PathKey, OffsetDateTime>,
}

impl Default for WriteThrottle {
    fn default() -> Self {
        WriteThrottle::every(MIN_WRITE_INTERVAL)
    }
}

impl WriteThrottle {
    pub fn every(interval: Duration) -> WriteThrottle {
        WriteThrottle {
            interval,
            written: HashMap::new(),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Is a write of `path` at `now` due? (Marks it written if so.)
    pub fn due(&mut self, path: &PathKey, now: OffsetDateTime) -> bool {
        match self.written.get(path) {
            Some(&last) if now - last < self.interval && now >= last => false,
            _ => {
                self.written.insert(path.clone(), now);
                true
            }
        }
    }

    /// Forgets a write that failed, so the next heartbeat tries again.
    pub fn forget(&mut self, path: &PathKey) {
        self.written.remove(path);
    }
}

/// An account the check expects paths from: one whose Organizations `State`
/// (else `Status`) is ACTIVE, or that says neither.
pub fn is_expected(info: &AccountInfo) -> bool {
    match info.state.as_deref().or(info.status.as_deref()) {
        Some(state) => state.eq_ignore_ascii_case("ACTIVE"),
        None => true,
    }
}

/// Which accounts the ingest bus admits (the template's OrganizationPaths,
/// and the management account, which sits under the root and is admitted
/// beside them), so that no path is expected that could never be heard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationScope {
    /// `o-.../r-.../ou-.../*` patterns, as `aws:PrincipalOrgPaths` matches
    /// them (`StringLike`); empty: the whole organization.
    pub organization_paths: Vec<String>,
    pub management_account: Option<String>,
}

impl OrganizationScope {
    /// An account without an organization path (a static directory) is
    /// taken to be in scope: expecting a path too many is loud, one too
    /// few is silent.
    pub fn includes(&self, account_id: &str, info: &AccountInfo) -> bool {
        if self.organization_paths.is_empty()
            || self.management_account.as_deref() == Some(account_id)
        {
            return true;
        }
        match info.org_path.as_deref() {
            Some(path) => self
                .organization_paths
                .iter()
                .any(|pattern| wildmatch::WildMatch::new(pattern).matches(path)),
            None => true,
        }
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

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
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

    #[test]
    fn heartbeats_name_their_path_by_the_envelope_and_may_not_contradict_it() {
        let detail = Some(r#"{"account":"222222222222","region":"eu-west-1"}"#);
        assert_eq!(
            heartbeat_path(Some("222222222222"), Some("eu-west-1"), detail),
            Some(PathKey::new("222222222222", "eu-west-1"))
        );
        // No account speaks for another.
        assert_eq!(
            heartbeat_path(Some("111111111111"), Some("eu-west-1"), detail),
            None
        );
        // No region speaks for another: a heartbeat that came through the
        // us-east-1 forward rule cannot keep the eu-west-1 path alive.
        assert_eq!(
            heartbeat_path(Some("222222222222"), Some("us-east-1"), detail),
            None
        );
        assert_eq!(
            heartbeat_path(None, None, detail),
            Some(PathKey::new("222222222222", "eu-west-1"))
        );
        assert_eq!(
            heartbeat_path(Some("111111111111"), Some("us-east-1"), Some("{}")),
            Some(PathKey::new("111111111111", "us-east-1"))
        );
        assert_eq!(heartbeat_path(None, Some("eu-west-1"), Some("{}")), None);
        assert_eq!(heartbeat_path(Some("1"), Some("eu-west-1"), None), None);
        assert_eq!(
            heartbeat_path(Some("111111111111"), Some("EU WEST"), None),
            None
        );
    }

    #[test]
    fn organization_paths_narrow_the_expected_accounts_but_never_the_management_account() {
        let info = |path: Option<&str>| AccountInfo {
            status: Some("ACTIVE".into()),
            org_path: path.map(str::to_owned),
            ..AccountInfo::default()
        };
        let scope = OrganizationScope {
            organization_paths: vec!["o-a/r-b/ou-b-workloads/*".into()],
            management_account: Some("111111111111".into()),
        };
        assert!(scope.includes(
            "222222222222",
            &info(Some("o-a/r-b/ou-b-workloads/ou-b-prod/"))
        ));
        assert!(!scope.includes("333333333333", &info(Some("o-a/r-b/ou-b-sandbox/"))));
        // Under the root, outside every path, but admitted by the template.
        assert!(scope.includes("111111111111", &info(Some("o-a/r-b/"))));
        // A directory that does not say: expected.
        assert!(scope.includes("444444444444", &info(None)));
        assert!(OrganizationScope::default()
            .includes("333333333333", &info(Some("o-a/r-b/ou-b-sandbox/"))));
    }

    #[test]
    fn the_throttle_lets_one_write_a_minute_through() {
        let mut throttle = WriteThrottle::default();
        let path = PathKey::new("111111111111", "eu-west-1");
        assert!(throttle.due(&path, NOW));
        assert!(!throttle.due(&path, NOW + time::Duration::seconds(59)));
        assert!(throttle.due(&path, NOW + time::Duration::seconds(60)));
        throttle.forget(&path);
        assert!(throttle.due(&path, NOW + time::Duration::seconds(61)));
        assert!(throttle.due(&PathKey::new("111111111111", "us-east-1"), NOW));
    }

    #[test]
    fn path_ids_round_trip() {
        let key = PathKey::new("111111111111", "eu-west-1");
        assert_eq!(PathKey::from_id(&key.id()), Some(key));
        assert_eq!(PathKey::from_id("nohash"), None);
    }
}
