//! The real Organizations reader and S3 store, through the AWS SDK.

use crate::orgs::OrgAccount;
use crate::{Node, Organizations, SnapshotStore, SyncError};
use aws_sdk_organizations::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_organizations::primitives::DateTimeFormat;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Calls made, per API: the cost of a sync, reported with it.
#[derive(Debug, Default)]
pub struct CallCounts {
    pub list_roots: AtomicU64,
    pub list_organizational_units_for_parent: AtomicU64,
    pub list_accounts_for_parent: AtomicU64,
    pub list_tags_for_resource: AtomicU64,
}

impl CallCounts {
    /// Starts counting again (one container runs one sync at a time).
    pub fn reset(&self) {
        for counter in [
            &self.list_roots,
            &self.list_organizational_units_for_parent,
            &self.list_accounts_for_parent,
            &self.list_tags_for_resource,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        BTreeMap::from([
            ("ListRoots", self.list_roots.load(Ordering::Relaxed)),
            (
                "ListOrganizationalUnitsForParent",
                self.list_organizational_units_for_parent
                    .load(Ordering::Relaxed),
            ),
            (
                "ListAccountsForParent",
                self.list_accounts_for_parent.load(Ordering::Relaxed),
            ),
            (
                "ListTagsForResource",
                self.list_tags_for_resource.load(Ordering::Relaxed),
            ),
        ])
    }
}

pub struct OrganizationsApi {
    client: aws_sdk_organizations::Client,
    pub calls: CallCounts,
}

impl OrganizationsApi {
    pub fn new(client: aws_sdk_organizations::Client) -> Self {
        OrganizationsApi {
            client,
            calls: CallCounts::default(),
        }
    }
}

/// Throttling is worth a retry; anything else ends the read.
fn classify<E>(api: &str, err: E) -> SyncError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = format!("{api}: {}", DisplayErrorContext(&err));
    match err.code() {
        Some("TooManyRequestsException") | Some("ThrottlingException") => {
            SyncError::Throttled(detail)
        }
        _ => SyncError::Failed(detail),
    }
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Organizations for OrganizationsApi {
    async fn roots(&self) -> Result<Vec<Node>, SyncError> {
        let mut pages = self.client.list_roots().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            count(&self.calls.list_roots);
            let page = page.map_err(|e| classify("ListRoots", e))?;
            out.extend(page.roots().iter().map(|r| {
                Node {
                    id: r.id().unwrap_or_default().to_owned(),
                    name: r.name().unwrap_or("Root").to_owned(),
                    // arn:aws:organizations::<management>:root/o-.../r-...
                    organization_id: r
                        .arn()
                        .and_then(|arn| arn.split('/').nth(1))
                        .filter(|o| o.starts_with("o-"))
                        .map(str::to_owned),
                }
            }));
        }
        Ok(out)
    }

    async fn child_ous(&self, parent_id: &str) -> Result<Vec<Node>, SyncError> {
        let mut pages = self
            .client
            .list_organizational_units_for_parent()
            .parent_id(parent_id)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            count(&self.calls.list_organizational_units_for_parent);
            let page = page.map_err(|e| classify("ListOrganizationalUnitsForParent", e))?;
            out.extend(page.organizational_units().iter().map(|ou| Node {
                id: ou.id().unwrap_or_default().to_owned(),
                name: ou.name().unwrap_or_default().to_owned(),
                organization_id: None,
            }));
        }
        Ok(out)
    }

    async fn accounts_in(&self, parent_id: &str) -> Result<Vec<OrgAccount>, SyncError> {
        let mut pages = self
            .client
            .list_accounts_for_parent()
            .parent_id(parent_id)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            count(&self.calls.list_accounts_for_parent);
            let page = page.map_err(|e| classify("ListAccountsForParent", e))?;
            out.extend(page.accounts().iter().filter_map(|a| {
                Some(OrgAccount {
                    id: a.id()?.to_owned(),
                    name: a.name().map(str::to_owned),
                    email: a.email().map(str::to_owned),
                    status: a.status().map(|s| s.as_str().to_owned()),
                    state: a.state().map(|s| s.as_str().to_owned()),
                    joined_at: a
                        .joined_timestamp()
                        .and_then(|t| t.fmt(DateTimeFormat::DateTime).ok()),
                })
            }));
        }
        Ok(out)
    }

    async fn tags_of(&self, account_id: &str) -> Result<BTreeMap<String, String>, SyncError> {
        let mut pages = self
            .client
            .list_tags_for_resource()
            .resource_id(account_id)
            .into_paginator()
            .send();
        let mut out = BTreeMap::new();
        while let Some(page) = pages.next().await {
            count(&self.calls.list_tags_for_resource);
            let page = page.map_err(|e| classify("ListTagsForResource", e))?;
            out.extend(
                page.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned())),
            );
        }
        Ok(out)
    }
}

pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> Self {
        S3Store { client, bucket }
    }
}

impl SnapshotStore for S3Store {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), SyncError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|e| {
                SyncError::Failed(format!(
                    "PutObject s3://{}/{key}: {}",
                    self.bucket,
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(())
    }
}
