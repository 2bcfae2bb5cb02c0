//! AWS Organizations: the organization itself, and the tree account-sync
//! reads (roots, OUs, accounts, tags), every list paged through.

use crate::Error;
use aws_config::SdkConfig;
use aws_sdk_organizations::primitives::DateTimeFormat;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The organization's id and its management account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Organization {
    pub id: Option<String>,
    pub management_account: Option<String>,
}

pub async fn describe(config: &SdkConfig) -> Result<Organization, Error> {
    let answer = aws_sdk_organizations::Client::new(config)
        .describe_organization()
        .send()
        .await
        .map_err(|e| Error::of("DescribeOrganization", e))?;
    let organization = answer.organization();
    Ok(Organization {
        id: organization.and_then(|o| o.id()).map(str::to_owned),
        management_account: organization
            .and_then(|o| o.master_account_id())
            .map(str::to_owned),
    })
}

/// An OU or root: its id and name; a root also its organization's id (from
/// its ARN), with which the accounts' organization paths begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub organization_id: Option<String>,
}

/// An account as Organizations lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub status: Option<String>,
    pub state: Option<String>,
    pub joined_at: Option<String>,
}

/// Calls made, per API: the cost of a sync, reported with it.
#[derive(Debug, Default)]
pub struct CallCounts {
    pub list_roots: AtomicU64,
    pub list_organizational_units_for_parent: AtomicU64,
    pub list_accounts_for_parent: AtomicU64,
    pub list_tags_for_resource: AtomicU64,
}

impl CallCounts {
    fn all(&self) -> [(&'static str, &AtomicU64); 4] {
        [
            ("ListRoots", &self.list_roots),
            (
                "ListOrganizationalUnitsForParent",
                &self.list_organizational_units_for_parent,
            ),
            ("ListAccountsForParent", &self.list_accounts_for_parent),
            ("ListTagsForResource", &self.list_tags_for_resource),
        ]
    }

    /// Starts counting again (one container runs one sync at a time).
    pub fn reset(&self) {
        for (_, counter) in self.all() {
            counter.store(0, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.all()
            .into_iter()
            .map(|(api, counter)| (api, counter.load(Ordering::Relaxed)))
            .collect()
    }
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The organization's tree, read page by page, each call counted.
pub struct Tree {
    client: aws_sdk_organizations::Client,
    pub calls: CallCounts,
}

impl Tree {
    pub fn new(config: &SdkConfig) -> Self {
        Tree {
            client: aws_sdk_organizations::Client::new(config),
            calls: CallCounts::default(),
        }
    }

    pub async fn roots(&self) -> Result<Vec<Node>, Error> {
        let mut pages = self.client.list_roots().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            count(&self.calls.list_roots);
            let page = page.map_err(|e| Error::of("ListRoots", e))?;
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

    pub async fn child_ous(&self, parent_id: &str) -> Result<Vec<Node>, Error> {
        let mut pages = self
            .client
            .list_organizational_units_for_parent()
            .parent_id(parent_id)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            count(&self.calls.list_organizational_units_for_parent);
            let page = page.map_err(|e| Error::of("ListOrganizationalUnitsForParent", e))?;
            out.extend(page.organizational_units().iter().map(|ou| Node {
                id: ou.id().unwrap_or_default().to_owned(),
                name: ou.name().unwrap_or_default().to_owned(),
                organization_id: None,
            }));
        }
        Ok(out)
    }

    pub async fn accounts_in(&self, parent_id: &str) -> Result<Vec<OrgAccount>, Error> {
        let mut pages = self
            .client
            .list_accounts_for_parent()
            .parent_id(parent_id)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            count(&self.calls.list_accounts_for_parent);
            let page = page.map_err(|e| Error::of("ListAccountsForParent", e))?;
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

    pub async fn tags_of(&self, account_id: &str) -> Result<BTreeMap<String, String>, Error> {
        let mut pages = self
            .client
            .list_tags_for_resource()
            .resource_id(account_id)
            .into_paginator()
            .send();
        let mut out = BTreeMap::new();
        while let Some(page) = pages.next().await {
            count(&self.calls.list_tags_for_resource);
            let page = page.map_err(|e| Error::of("ListTagsForResource", e))?;
            out.extend(
                page.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned())),
            );
        }
        Ok(out)
    }
}
