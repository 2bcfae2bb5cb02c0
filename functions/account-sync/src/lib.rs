//! account-sync: reads AWS Organizations (accounts, their OU path of names,
//! their tags) and writes the account directory snapshot that the enricher
//! reads. The AWS calls sit behind [`Organizations`] and [`SnapshotStore`],
//! filled by the adapters (`trailrelay_adapters`) at the end of this file.

/// The AWS calls account-sync makes under its role (main.rs), Organizations'
/// through `OrganizationsRoleArn` when one is given: the flow test
/// (`tests/templates/test_iam_flows.py`) judges each against the template.
pub const AWS_CALLS: &[trailrelay_adapters::calls::Call] = {
    use trailrelay_adapters::calls::*;
    &[
        ORGANIZATIONS_LIST_ROOTS,
        ORGANIZATIONS_LIST_ORGANIZATIONAL_UNITS_FOR_PARENT,
        ORGANIZATIONS_LIST_ACCOUNTS_FOR_PARENT,
        ORGANIZATIONS_LIST_TAGS_FOR_RESOURCE,
        S3_PUT_OBJECT,
        STS_ASSUME_ROLE,
    ]
};

pub mod orgs;

use crate::orgs::{snapshot, snapshot_keys, EnvironmentRule, PlacedAccount};
use futures_util::stream::{self, StreamExt};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use trailrelay_adapters::organizations::{Node, OrgAccount};
use trailrelay_shared::retry::{backoff, RetryPolicy};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Organizations said slow down (TooManyRequestsException); worth retrying.
    #[error("throttled: {0}")]
    Throttled(String),
    #[error("{0}")]
    Failed(String),
    #[error("setting {name}: {reason}")]
    Setting { name: &'static str, reason: String },
}

/// A place in the tree: the OU names and the organization path of ids
/// (`o-.../r-.../ou-.../`, the form of `aws:PrincipalOrgPaths`) down to it.
#[derive(Debug, Clone)]
struct Place {
    names: Vec<String>,
    ids: Option<String>,
}

/// What account-sync needs of AWS Organizations; implementations page
/// through every list.
pub trait Organizations: Sync {
    fn roots(&self) -> impl Future<Output = Result<Vec<Node>, SyncError>> + Send;
    fn child_ous(
        &self,
        parent_id: &str,
    ) -> impl Future<Output = Result<Vec<Node>, SyncError>> + Send;
    fn accounts_in(
        &self,
        parent_id: &str,
    ) -> impl Future<Output = Result<Vec<OrgAccount>, SyncError>> + Send;
    fn tags_of(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, SyncError>> + Send;
}

/// Where snapshots go (S3).
pub trait SnapshotStore: Sync {
    fn put(&self, key: &str, body: Vec<u8>) -> impl Future<Output = Result<(), SyncError>> + Send;
}

#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub environment: EnvironmentRule,
    /// Prefix of the snapshot keys in the bucket.
    pub prefix: String,
    /// Tag reads in flight at once.
    pub concurrency: usize,
    pub retry: RetryPolicy,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            environment: EnvironmentRule::default(),
            prefix: String::new(),
            concurrency: 4,
            retry: RetryPolicy {
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(5),
                max_attempts: 6,
                ..RetryPolicy::default()
            },
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub accounts: usize,
    pub organizational_units: usize,
    /// Accounts listed with an error (what could not be read of them).
    pub accounts_with_errors: usize,
    pub throttled_retries: usize,
    pub dated_key: String,
    pub latest_key: String,
    pub bytes: usize,
}

/// Calls `op` until it succeeds, retrying throttling with backoff.
async fn retrying<T, F, Fut>(
    policy: &RetryPolicy,
    throttled: &mut usize,
    mut op: F,
) -> Result<T, SyncError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SyncError>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(SyncError::Throttled(why)) if attempt < policy.max_attempts => {
                *throttled += 1;
                tracing::info!(attempt, %why, "throttled by Organizations; backing off");
                tokio::time::sleep(backoff(policy, attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Reads the whole organization, top down (a root, its OUs, their accounts),
/// so each account's OU path costs no call of its own.
pub async fn read_organization<O: Organizations>(
    org: &O,
    settings: &SyncSettings,
) -> Result<(Vec<PlacedAccount>, usize, usize), SyncError> {
    let policy = &settings.retry;
    let mut throttled = 0;
    let roots = retrying(policy, &mut throttled, || org.roots()).await?;
    let mut pending: Vec<(Node, Place)> = roots
        .into_iter()
        .map(|r| {
            let place = Place {
                names: vec![r.name.clone()],
                ids: r.organization_id.as_ref().map(|o| format!("{o}/{}/", r.id)),
            };
            (r, place)
        })
        .collect();
    let mut placed: Vec<(OrgAccount, Place)> = Vec::new();
    let mut ous = 0;
    while let Some((node, place)) = pending.pop() {
        let accounts = retrying(policy, &mut throttled, || org.accounts_in(&node.id)).await?;
        placed.extend(accounts.into_iter().map(|a| (a, place.clone())));
        for child in retrying(policy, &mut throttled, || org.child_ous(&node.id)).await? {
            ous += 1;
            let mut child_place = place.clone();
            child_place.names.push(child.name.clone());
            child_place.ids = place.ids.as_ref().map(|ids| format!("{ids}{}/", child.id));
            pending.push((child, child_place));
        }
    }

    // One account whose tags cannot be read is listed without them.
    let tagged: Vec<(PlacedAccount, usize)> = stream::iter(placed)
        .map(|(account, Place { names: ou_names, ids: org_path })| async move {
            let mut throttled = 0;
            let tags = retrying(policy, &mut throttled, || org.tags_of(&account.id)).await;
            let (tags, error) = match tags {
                Ok(tags) => (tags, None),
                Err(e) => {
                    tracing::error!(account_id = %account.id, error = %e, "cannot read the account's tags; listed without them");
                    (BTreeMap::new(), Some(format!("ListTagsForResource: {e}")))
                }
            };
            (PlacedAccount { account, ou_names, org_path, tags, error }, throttled)
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    throttled += tagged.iter().map(|(_, t)| t).sum::<usize>();
    let mut accounts: Vec<PlacedAccount> = tagged.into_iter().map(|(p, _)| p).collect();
    accounts.sort_by(|a, b| a.account.id.cmp(&b.account.id));
    Ok((accounts, ous, throttled))
}

/// Reads the organization and writes the snapshot: the dated key first,
/// then `latest.json` (one PUT replaces the object whole).
pub async fn sync<O: Organizations, S: SnapshotStore>(
    org: &O,
    store: &S,
    settings: &SyncSettings,
    now: time::OffsetDateTime,
) -> Result<SyncReport, SyncError> {
    let (accounts, ous, throttled) = read_organization(org, settings).await?;
    let generated_at = now
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| SyncError::Failed(format!("cannot format the time: {e}")))?;
    let file = snapshot(&accounts, &settings.environment, &generated_at);
    let body = serde_json::to_vec_pretty(&file).map_err(|e| SyncError::Failed(e.to_string()))?;
    let (dated, latest) = snapshot_keys(&settings.prefix, &now);
    store.put(&dated, body.clone()).await?;
    store.put(&latest, body.clone()).await?;
    Ok(SyncReport {
        accounts: accounts.len(),
        organizational_units: ous,
        accounts_with_errors: accounts.iter().filter(|a| a.error.is_some()).count(),
        throttled_retries: throttled,
        dated_key: dated,
        latest_key: latest,
        bytes: body.len(),
    })
}

/// Organizations through the adapter: throttling stays worth a retry.
impl Organizations for trailrelay_adapters::organizations::Tree {
    async fn roots(&self) -> Result<Vec<Node>, SyncError> {
        self.roots().await.map_err(SyncError::from)
    }
    async fn child_ous(&self, parent_id: &str) -> Result<Vec<Node>, SyncError> {
        self.child_ous(parent_id).await.map_err(SyncError::from)
    }
    async fn accounts_in(&self, parent_id: &str) -> Result<Vec<OrgAccount>, SyncError> {
        self.accounts_in(parent_id).await.map_err(SyncError::from)
    }
    async fn tags_of(&self, account_id: &str) -> Result<BTreeMap<String, String>, SyncError> {
        self.tags_of(account_id).await.map_err(SyncError::from)
    }
}

impl From<trailrelay_adapters::Error> for SyncError {
    fn from(e: trailrelay_adapters::Error) -> Self {
        if e.is_throttling() {
            SyncError::Throttled(e.to_string())
        } else {
            SyncError::Failed(e.to_string())
        }
    }
}

/// The directory bucket, written through the adapter.
pub struct S3Store {
    pub config: aws_config::SdkConfig,
    pub bucket: String,
}

impl SnapshotStore for S3Store {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), SyncError> {
        trailrelay_adapters::s3::put_json(&self.config, &self.bucket, key, body)
            .await
            .map_err(SyncError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use trailrelay_shared::directory::Directory;

    /// An organization in memory: Root > Workloads > {Prod, Dev}, Sandbox.
    struct FakeOrg {
        ous: HashMap<&'static str, Vec<Node>>,
        accounts: HashMap<&'static str, Vec<OrgAccount>>,
        tags: HashMap<&'static str, BTreeMap<String, String>>,
        /// Calls to throttle before answering, per API.
        throttle_first: AtomicUsize,
        denied_tags: &'static str,
        calls: AtomicUsize,
    }

    fn account(id: &str, name: &str) -> OrgAccount {
        OrgAccount {
            id: id.into(),
            name: Some(name.into()),
            status: Some("ACTIVE".into()),
            state: Some("ACTIVE".into()),
            ..OrgAccount::default()
        }
    }

    fn node(id: &str, name: &str) -> Node {
        Node {
            id: id.into(),
            name: name.into(),
            organization_id: None,
        }
    }

    impl FakeOrg {
        fn new() -> Self {
            let mut ous = HashMap::new();
            ous.insert(
                "r-root",
                vec![node("ou-work", "Workloads"), node("ou-sand", "Sandbox")],
            );
            ous.insert(
                "ou-work",
                vec![node("ou-prod", "Prod"), node("ou-dev", "Dev")],
            );
            let mut accounts = HashMap::new();
            accounts.insert("r-root", vec![account("111111111111", "management")]);
            accounts.insert("ou-prod", vec![account("333333333333", "payments-prod")]);
            accounts.insert("ou-dev", vec![account("444444444444", "payments-dev")]);
            accounts.insert("ou-sand", vec![account("555555555555", "sandbox")]);
            let mut tags = HashMap::new();
            tags.insert(
                "333333333333",
                BTreeMap::from([("Owner".to_string(), "payments".to_string())]),
            );
            tags.insert(
                "555555555555",
                BTreeMap::from([("Environment".to_string(), "lab".to_string())]),
            );
            FakeOrg {
                ous,
                accounts,
                tags,
                throttle_first: AtomicUsize::new(0),
                denied_tags: "",
                calls: AtomicUsize::new(0),
            }
        }

        fn answer<T>(&self, value: T) -> Result<T, SyncError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let left = self.throttle_first.load(Ordering::SeqCst);
            if left > 0 {
                self.throttle_first.store(left - 1, Ordering::SeqCst);
                return Err(SyncError::Throttled("TooManyRequestsException".into()));
            }
            Ok(value)
        }
    }

    impl Organizations for FakeOrg {
        async fn roots(&self) -> Result<Vec<Node>, SyncError> {
            self.answer(vec![Node {
                organization_id: Some("o-exampleorg".into()),
                ..node("r-root", "Root")
            }])
        }
        async fn child_ous(&self, parent: &str) -> Result<Vec<Node>, SyncError> {
            self.answer(self.ous.get(parent).cloned().unwrap_or_default())
        }
        async fn accounts_in(&self, parent: &str) -> Result<Vec<OrgAccount>, SyncError> {
            self.answer(self.accounts.get(parent).cloned().unwrap_or_default())
        }
        async fn tags_of(&self, id: &str) -> Result<BTreeMap<String, String>, SyncError> {
            if id == self.denied_tags {
                return Err(SyncError::Failed("AccessDeniedException".into()));
            }
            self.answer(self.tags.get(id).cloned().unwrap_or_default())
        }
    }

    #[derive(Default)]
    struct MemoryStore {
        puts: Mutex<Vec<(String, Vec<u8>)>>,
    }

    impl SnapshotStore for MemoryStore {
        async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), SyncError> {
            self.puts.lock().unwrap().push((key.to_owned(), body));
            Ok(())
        }
    }

    fn now() -> time::OffsetDateTime {
        time::macros::datetime!(2026-11-26 10:00:00 UTC)
    }

    #[tokio::test(start_paused = true)]
    async fn the_snapshot_has_every_account_with_its_ou_path_tags_and_environment() {
        let org = FakeOrg::new();
        let store = MemoryStore::default();
        let report = sync(&org, &store, &SyncSettings::default(), now())
            .await
            .unwrap();
        assert_eq!((report.accounts, report.organizational_units), (4, 4));
        let puts = store.puts.lock().unwrap();
        assert_eq!(puts.len(), 2);
        assert_eq!(puts[0].0, "snapshots/2026/11/26/20261126T100000Z.json");
        assert_eq!(puts[1].0, "latest.json");
        assert_eq!(puts[0].1, puts[1].1);
        let d = Directory::from_json(std::str::from_utf8(&puts[1].1).unwrap(), "latest").unwrap();
        let prod = d.get("333333333333").unwrap();
        assert_eq!(prod.ou_path.as_deref(), Some("Root/Workloads/Prod"));
        // The ids, as aws:PrincipalOrgPaths gives them.
        let ou_ids = prod.org_path.as_deref().unwrap();
        assert!(
            ou_ids.starts_with("o-exampleorg/r-root/") && ou_ids.ends_with('/'),
            "{ou_ids}"
        );
        assert_eq!(
            ou_ids.matches('/').count(),
            4,
            "org, root, Workloads, Prod: {ou_ids}"
        );
        assert_eq!(prod.environment(), Some("prod"));
        assert_eq!(prod.tags.get("Owner").map(String::as_str), Some("payments"));
        assert_eq!(d.get("444444444444").unwrap().environment(), Some("dev"));
        assert_eq!(
            d.get("555555555555").unwrap().environment(),
            Some("lab"),
            "the tag wins"
        );
        assert_eq!(
            d.get("111111111111").unwrap().ou_path.as_deref(),
            Some("Root")
        );
        assert_eq!(
            d.get("111111111111").unwrap().org_path.as_deref(),
            Some("o-exampleorg/r-root/")
        );
        assert_eq!(d.generated_at(), Some("2026-11-26T10:00:00Z"));
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_with_backoff() {
        let org = FakeOrg::new();
        org.throttle_first.store(3, Ordering::SeqCst);
        let store = MemoryStore::default();
        let report = sync(&org, &store, &SyncSettings::default(), now())
            .await
            .unwrap();
        assert_eq!(report.accounts, 4);
        assert_eq!(report.throttled_retries, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn endless_throttling_fails_the_sync_and_writes_nothing() {
        let org = FakeOrg::new();
        org.throttle_first.store(usize::MAX, Ordering::SeqCst);
        let store = MemoryStore::default();
        let err = sync(&org, &store, &SyncSettings::default(), now())
            .await
            .unwrap_err();
        assert!(matches!(err, SyncError::Throttled(_)), "{err}");
        assert!(
            store.puts.lock().unwrap().is_empty(),
            "no partial directory"
        );
        assert_eq!(
            org.calls.load(Ordering::SeqCst),
            6,
            "max_attempts calls, then it gives up"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_unreadable_account_does_not_lose_the_others() {
        let mut org = FakeOrg::new();
        org.denied_tags = "333333333333";
        let store = MemoryStore::default();
        let report = sync(&org, &store, &SyncSettings::default(), now())
            .await
            .unwrap();
        assert_eq!((report.accounts, report.accounts_with_errors), (4, 1));
        let puts = store.puts.lock().unwrap();
        let d = Directory::from_json(std::str::from_utf8(&puts[1].1).unwrap(), "latest").unwrap();
        let prod = d.get("333333333333").unwrap();
        assert_eq!(prod.name.as_deref(), Some("payments-prod"));
        assert!(prod.error.as_deref().unwrap().contains("AccessDenied"));
        assert!(prod.tags.is_empty());
    }
}
