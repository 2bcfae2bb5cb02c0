//! Forwarding paths as the per-event path sees them: every (account, region)
//! path sends a heartbeat along the same rule, role and ingest policy as its
//! CloudTrail events, and the enricher records when each was last heard
//! from. Judging the paths (which should exist, which went silent) is the
//! path check's, in the `trailrelay-path-health` crate.
//!
//! The store is a trait (DynamoDB in AWS, a map in tests), and the time is
//! always given.

use crate::directory::AccountInfo;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

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

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-26 12:00 UTC);

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
