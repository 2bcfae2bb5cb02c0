//! Turning what AWS Organizations says into the account directory: OU paths
//! of names, environments from a tag or the OU names. The calls themselves
//! are the adapters' (`trailrelay_adapters::organizations`); this is the part
//! worth testing alone.

use std::collections::{BTreeMap, HashMap};
use trailrelay_adapters::organizations::OrgAccount;
use trailrelay_shared::directory::{AccountInfo, DirectoryFile, FORMAT_VERSION};

/// An account with where it sits and what it is tagged with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacedAccount {
    pub account: OrgAccount,
    /// OU names from the root down to the account's parent, the root first
    /// (its name is "Root").
    pub ou_names: Vec<String>,
    /// The organization path of ids down to the account's parent, as
    /// `aws:PrincipalOrgPaths` gives it (`o-.../r-.../ou-.../`), when the
    /// organization's id is known.
    pub org_path: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// What could not be read (its tags, say); the rest is still listed.
    pub error: Option<String>,
}

/// How an account's environment is decided: its tag, else the nearest OU
/// whose name is mapped, else none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentRule {
    pub tag_key: String,
    /// OU name (compared case-insensitively) -> environment.
    pub ou_names: HashMap<String, String>,
}

impl Default for EnvironmentRule {
    fn default() -> Self {
        let ou_names = [
            ("prod", "prod"),
            ("production", "prod"),
            ("staging", "staging"),
            ("dev", "dev"),
            ("development", "dev"),
            ("test", "test"),
            ("sandbox", "sandbox"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        EnvironmentRule {
            tag_key: "Environment".to_owned(),
            ou_names,
        }
    }
}

impl EnvironmentRule {
    /// Reads `prod=prod,Production=prod,...`; an empty text maps nothing.
    pub fn parse_ou_map(text: &str) -> Result<HashMap<String, String>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((ou, env)) if !ou.trim().is_empty() && !env.trim().is_empty() => {
                    Ok((ou.trim().to_lowercase(), env.trim().to_owned()))
                }
                _ => Err(format!("{pair:?} is not OU=environment")),
            })
            .collect()
    }

    pub fn environment(
        &self,
        tags: &BTreeMap<String, String>,
        ou_names: &[String],
    ) -> Option<String> {
        if let Some(value) = tags.get(&self.tag_key).filter(|v| !v.is_empty()) {
            return Some(value.clone());
        }
        ou_names
            .iter()
            .rev()
            .find_map(|ou| self.ou_names.get(&ou.to_lowercase()))
            .cloned()
    }
}

/// The directory document for these accounts.
pub fn snapshot(
    accounts: &[PlacedAccount],
    rule: &EnvironmentRule,
    generated_at: &str,
) -> DirectoryFile {
    let accounts = accounts
        .iter()
        .map(|p| {
            let a = &p.account;
            let info = AccountInfo {
                name: a.name.clone(),
                email: a.email.clone(),
                status: a.status.clone(),
                state: a.state.clone(),
                joined_at: a.joined_at.clone(),
                ou_path: (!p.ou_names.is_empty()).then(|| p.ou_names.join("/")),
                org_path: p.org_path.clone(),
                environment: rule.environment(&p.tags, &p.ou_names),
                tags: p.tags.clone(),
                error: p.error.clone(),
            };
            (a.id.clone(), info)
        })
        .collect();
    DirectoryFile {
        format_version: Some(FORMAT_VERSION),
        generated_at: Some(generated_at.to_owned()),
        accounts,
    }
}

/// Where a snapshot is kept: a dated key for history, then `latest.json`.
pub fn snapshot_keys(prefix: &str, generated_at: &time::OffsetDateTime) -> (String, String) {
    let prefix = prefix.trim_end_matches('/');
    let join = |name: String| {
        if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        }
    };
    let dated = format!(
        "snapshots/{:04}/{:02}/{:02}/{:04}{:02}{:02}T{:02}{:02}{:02}Z.json",
        generated_at.year(),
        u8::from(generated_at.month()),
        generated_at.day(),
        generated_at.year(),
        u8::from(generated_at.month()),
        generated_at.day(),
        generated_at.hour(),
        generated_at.minute(),
        generated_at.second()
    );
    (join(dated), join("latest.json".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailrelay_shared::directory::Directory;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ous(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn environment_comes_from_the_tag_then_the_nearest_mapped_ou() {
        let rule = EnvironmentRule::default();
        assert_eq!(
            rule.environment(&tags(&[("Environment", "qa")]), &ous(&["Root", "Prod"])),
            Some("qa".into())
        );
        assert_eq!(
            rule.environment(&tags(&[]), &ous(&["Root", "Workloads", "Prod"])),
            Some("prod".into())
        );
        assert_eq!(
            rule.environment(&tags(&[]), &ous(&["Root", "Dev", "Team-A"])),
            Some("dev".into())
        );
        assert_eq!(
            rule.environment(&tags(&[]), &ous(&["Root", "Workloads"])),
            None
        );
        assert_eq!(
            rule.environment(&tags(&[("Environment", "")]), &ous(&["Root"])),
            None
        );
        let custom = EnvironmentRule {
            tag_key: "env".into(),
            ou_names: EnvironmentRule::parse_ou_map("Live=prod, Lab = dev").unwrap(),
        };
        assert_eq!(
            custom.environment(&tags(&[("Environment", "x")]), &ous(&["Root", "LIVE"])),
            Some("prod".into())
        );
        assert!(EnvironmentRule::parse_ou_map("nonsense").is_err());
        assert!(EnvironmentRule::parse_ou_map("").unwrap().is_empty());
    }

    #[test]
    fn a_snapshot_reads_back_as_the_directory() {
        let placed = vec![
            PlacedAccount {
                account: OrgAccount {
                    id: "333333333333".into(),
                    name: Some("payments-prod".into()),
                    email: Some("p@example.com".into()),
                    status: Some("ACTIVE".into()),
                    state: Some("ACTIVE".into()),
                    joined_at: Some("2024-01-01T00:00:00Z".into()),
                },
                ou_names: ous(&["Root", "Workloads", "Prod"]),
                org_path: Some("o-a/r-b/ou-b-w/ou-b-p/".into()),
                tags: tags(&[("Owner", "payments")]),
                error: None,
            },
            PlacedAccount {
                account: OrgAccount {
                    id: "444444444444".into(),
                    ..OrgAccount::default()
                },
                ou_names: ous(&["Root"]),
                org_path: None,
                tags: tags(&[]),
                error: Some("ListTagsForResource: AccessDenied".into()),
            },
        ];
        let file = snapshot(&placed, &EnvironmentRule::default(), "2026-11-26T10:00:00Z");
        let text = serde_json::to_string(&file).unwrap();
        let d = Directory::from_json(&text, "snapshot").unwrap();
        let a = d.get("333333333333").unwrap();
        assert_eq!(a.ou_path.as_deref(), Some("Root/Workloads/Prod"));
        assert_eq!(a.org_path.as_deref(), Some("o-a/r-b/ou-b-w/ou-b-p/"));
        assert_eq!(a.environment(), Some("prod"));
        assert_eq!(a.state.as_deref(), Some("ACTIVE"));
        assert_eq!(
            d.get("444444444444").unwrap().error.as_deref(),
            Some("ListTagsForResource: AccessDenied")
        );
        assert_eq!(d.generated_at(), Some("2026-11-26T10:00:00Z"));
    }

    #[test]
    fn snapshot_keys_are_dated_then_latest() {
        let at = time::macros::datetime!(2026-11-26 09:05:07 UTC);
        let (dated, latest) = snapshot_keys("directory/", &at);
        assert_eq!(
            dated,
            "directory/snapshots/2026/11/26/20261126T090507Z.json"
        );
        assert_eq!(latest, "directory/latest.json");
        assert_eq!(snapshot_keys("", &at).1, "latest.json");
    }
}
