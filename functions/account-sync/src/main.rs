//! The account-sync Lambda: on a schedule, and when Organizations changes
//! (a rule on the governance bus), it rewrites the account directory.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::{json, Value};
use trailrelay_account_sync::orgs::EnvironmentRule;
use trailrelay_account_sync::{sync, S3Store, SyncError, SyncSettings};
use trailrelay_adapters::organizations::Tree;

const ENV_BUCKET: &str = "TRAILRELAY_DIRECTORY_BUCKET";
const ENV_PREFIX: &str = "TRAILRELAY_DIRECTORY_PREFIX";
const ENV_ROLE: &str = "TRAILRELAY_ORGANIZATIONS_ROLE_ARN";
const ENV_TAG: &str = "TRAILRELAY_ENVIRONMENT_TAG";
const ENV_OU_MAP: &str = "TRAILRELAY_ENVIRONMENT_OU_MAP";

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn settings() -> Result<(String, SyncSettings), SyncError> {
    let bucket = var(ENV_BUCKET).ok_or(SyncError::Setting {
        name: ENV_BUCKET,
        reason: "the directory bucket is not set".into(),
    })?;
    let mut s = SyncSettings::default();
    if let Some(prefix) = var(ENV_PREFIX) {
        s.prefix = prefix;
    }
    if let Some(tag) = var(ENV_TAG) {
        s.environment.tag_key = tag;
    }
    if let Some(map) = var(ENV_OU_MAP) {
        s.environment.ou_names =
            EnvironmentRule::parse_ou_map(&map).map_err(|reason| SyncError::Setting {
                name: ENV_OU_MAP,
                reason,
            })?;
    }
    Ok((bucket, s))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailrelay_lambda::logging::init_json();

    let (bucket, sync_settings) =
        settings().map_err(|e| lambda_runtime::Error::from(e.to_string()))?;
    let config = trailrelay_adapters::config_loader().load().await;
    // Organizations is read from the management account (or a delegated
    // administrator) through a role there, when one is given.
    let org_config = match var(ENV_ROLE) {
        Some(role) => {
            trailrelay_adapters::assume_role(&config, &role, "trailrelay-account-sync").await
        }
        None => config.clone(),
    };
    let org = Tree::new(&org_config);
    let store = S3Store { config, bucket };
    let (org, store, sync_settings) = (&org, &store, &sync_settings);

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let trigger = event.payload.get("detail-type").and_then(Value::as_str).unwrap_or("invocation").to_owned();
        let now = time::OffsetDateTime::now_utc();
        org.calls.reset();
        match sync(org, store, sync_settings, now).await {
            Ok(report) => {
                let calls = org.calls.snapshot();
                tracing::info!(%trigger, accounts = report.accounts, ous = report.organizational_units,
                    errors = report.accounts_with_errors, calls = ?calls, "directory written");
                println!("{}", emf(now, report.accounts, report.accounts_with_errors, 0));
                Ok(json!({"report": report, "calls": calls}))
            }
            Err(e) => {
                tracing::error!(%trigger, error = %e, "sync failed; the last directory stays in place");
                println!("{}", emf(now, 0, 0, 1));
                Err(lambda_runtime::Diagnostic {
                    error_type: "trailrelay.SyncFailed".into(),
                    error_message: e.to_string(),
                })
            }
        }
    }))
    .await
}

/// One embedded-metric-format line per sync.
fn emf(now: time::OffsetDateTime, accounts: usize, with_errors: usize, failed: u64) -> String {
    trailrelay_lambda::emf::line(
        i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
        &[],
        &[
            ("DirectoryAccounts", accounts as u64),
            ("DirectoryAccountsWithErrors", with_errors as u64),
            ("DirectorySyncFailed", failed),
        ],
    )
}
