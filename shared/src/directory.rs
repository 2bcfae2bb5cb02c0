//! The account directory: what the organization knows of each account.
//!
//! A JSON document `{"formatVersion": 1, "generatedAt": "...", "accounts":
//! {"<12-digit id>": {name, email, status, ouPath, tags, environment}}}`.
//! `config/accounts.json` is a sample and the embedded default.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;

pub const SAMPLE_DIRECTORY: &str = include_str!("../../config/accounts.json");

/// The tag an account's environment is read from when the directory entry
/// does not name one.
pub const ENVIRONMENT_TAG: &str = "Environment";

/// The newest format this build reads; newer documents are refused rather
/// than half-understood.
pub const FORMAT_VERSION: u32 = 1;

/// One account. Unknown fields are ignored, so that a directory written by a
/// newer account-sync still reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccountInfo {
    pub name: Option<String>,
    pub email: Option<String>,
    /// Organizations' `Status` (ACTIVE, SUSPENDED, PENDING_CLOSURE).
    pub status: Option<String>,
    /// Organizations' `State` (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined_at: Option<String>,
    pub ou_path: Option<String>,
    /// The account's organization path of ids, as `aws:PrincipalOrgPaths`
    /// gives it (`o-.../r-.../ou-.../`), when account-sync could tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_path: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub environment: Option<String>,
    /// What account-sync could not read about this account, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AccountInfo {
    /// The environment as named, else from the `Environment` tag.
    pub fn environment(&self) -> Option<&str> {
        self.environment
            .as_deref()
            .or_else(|| self.tags.get(ENVIRONMENT_TAG).map(String::as_str))
    }
}

/// The document itself, as account-sync writes it and the relay reads it.
/// An account's context as the enrichment carries it (`enrichment.account`,
/// `actor.account`): the wire form of `enrich::AccountContext`, whose schema
/// is derived there (a test holds the two together). The directory renders
/// it once per listed account, so the per-event path copies text.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountFields<'a> {
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub status: Option<&'a str>,
    pub ou_path: Option<&'a str>,
    pub tags: &'a BTreeMap<String, String>,
    pub environment: Option<&'a str>,
    pub known: bool,
}

impl<'a> AccountFields<'a> {
    /// A listed account's context.
    pub fn of_listed(id: &'a str, info: &'a AccountInfo) -> AccountFields<'a> {
        AccountFields {
            id: Some(id),
            name: info.name.as_deref(),
            email: info.email.as_deref(),
            status: info.status.as_deref(),
            ou_path: info.ou_path.as_deref(),
            tags: &info.tags,
            environment: info.environment(),
            known: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryFile {
    #[serde(default)]
    pub format_version: Option<u32>,
    #[serde(default)]
    pub generated_at: Option<String>,
    pub accounts: BTreeMap<String, AccountInfo>,
}

#[derive(Debug, Clone, Default)]
pub struct Directory {
    accounts: HashMap<String, Listed>,
    generated_at: Option<String>,
}

/// An account as the directory lists it, with its enrichment context
/// rendered once as JSON: every event from the account carries the same
/// text, so it is written when the directory is read, not per event.
#[derive(Debug, Clone)]
pub struct Listed {
    pub info: AccountInfo,
    pub context_json: Box<RawValue>,
}

impl Directory {
    pub fn from_json(text: &str, origin: &str) -> Result<Directory, Error> {
        let fail = |reason: String| Error::Directory {
            origin: origin.to_owned(),
            reason,
        };
        let file: DirectoryFile = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
        if let Some(v) = file.format_version {
            if v > FORMAT_VERSION {
                return Err(fail(format!(
                    "formatVersion {v} is newer than this build reads ({FORMAT_VERSION})"
                )));
            }
        }
        if let Some(bad) = file.accounts.keys().find(|id| !is_account_id(id)) {
            return Err(fail(format!("{bad:?} is not a 12-digit account id")));
        }
        let accounts = file
            .accounts
            .into_iter()
            .map(|(id, info)| {
                let context = AccountFields::of_listed(&id, &info);
                let context_json = serde_json::value::to_raw_value(&context)
                    .map_err(|e| fail(format!("account {id} cannot be rendered: {e}")))?;
                Ok((id, Listed { info, context_json }))
            })
            .collect::<Result<_, Error>>()?;
        Ok(Directory {
            accounts,
            generated_at: file.generated_at,
        })
    }

    pub fn sample() -> Result<Directory, Error> {
        Self::from_json(SAMPLE_DIRECTORY, "embedded config/accounts.json")
    }

    pub fn get(&self, account_id: &str) -> Option<&AccountInfo> {
        self.accounts.get(account_id).map(|listed| &listed.info)
    }

    /// Every account, in no particular order.
    pub fn accounts(&self) -> impl Iterator<Item = (&str, &AccountInfo)> {
        self.accounts
            .iter()
            .map(|(id, listed)| (id.as_str(), &listed.info))
    }

    pub fn listed(&self, account_id: &str) -> Option<&Listed> {
        self.accounts.get(account_id)
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    pub fn generated_at(&self) -> Option<&str> {
        self.generated_at.as_deref()
    }
}

/// What a read of the directory object gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The object has not changed since the ETag given.
    NotModified,
    Document {
        text: String,
        etag: Option<String>,
    },
}

/// Where the directory object is read from (S3), behind a trait for tests.
pub trait DirectorySource: Send + Sync + 'static {
    fn fetch(&self, etag: Option<String>) -> impl Future<Output = Result<Fetched, String>> + Send;
}

pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_directory_loads() {
        let d = Directory::sample().unwrap();
        assert!(!d.is_empty());
    }

    #[test]
    fn environment_falls_back_to_the_tag() {
        let d = Directory::from_json(
            r#"{"accounts":{"111111111111":{"tags":{"Environment":"prod"}},
                "222222222222":{"environment":"dev","tags":{"Environment":"prod"}},
                "333333333333":{}}}"#,
            "test",
        )
        .unwrap();
        assert_eq!(d.get("111111111111").unwrap().environment(), Some("prod"));
        assert_eq!(d.get("222222222222").unwrap().environment(), Some("dev"));
        assert_eq!(d.get("333333333333").unwrap().environment(), None);
        assert!(d.get("444444444444").is_none());
    }

    #[test]
    fn bad_documents_are_refused_with_a_reason() {
        let err = Directory::from_json(r#"{"accounts":{"12":{}}}"#, "t").unwrap_err();
        assert!(err.to_string().contains("12-digit"), "{err}");
        let err = Directory::from_json(r#"{"formatVersion":9,"accounts":{}}"#, "t").unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
        assert!(Directory::from_json("[]", "t").is_err());
        assert!(Directory::from_json(r#"{"accounts":{"111111111111":"x"}}"#, "t").is_err());
    }

    #[test]
    fn newer_fields_are_read_compatibly() {
        let d = Directory::from_json(
            r#"{"formatVersion":1,"accounts":{"111111111111":{"name":"a","state":"CLOSED","futureField":[1]}}}"#,
            "t",
        )
        .unwrap();
        let a = d.get("111111111111").unwrap();
        assert_eq!(a.state.as_deref(), Some("CLOSED"));
        assert_eq!(a.name.as_deref(), Some("a"));
    }
}
