//! The path-check Lambda: on a schedule, reads the account directory and
//! the path store, and reports silent and restored paths on the audit bus.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::{json, Value};
use std::time::SystemTime;
use time::OffsetDateTime;
use tokio::time::Instant;
use trailrelay_adapters::dynamodb::DynamoPathStore;
use trailrelay_adapters::eventbridge::EventBridgePublisher;
use trailrelay_adapters::s3::read_directory;
use trailrelay_lambda::budget::invocation_budget;
use trailrelay_path_check::{CheckError, PathCheck, FALLBACK_BUDGET};
use trailrelay_shared::settings::ENV_PATHS_TABLE;
use trailrelay_shared::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailrelay_lambda::logging::init_json();

    let settings = Settings::from_env().map_err(CheckError::from)?;
    let table = settings.paths.table.clone().ok_or_else(|| {
        lambda_runtime::Error::from(format!(
            "{ENV_PATHS_TABLE} is not set: there is no path store to check"
        ))
    })?;
    let config = trailrelay_adapters::config_loader().load().await;
    let check = PathCheck {
        store: DynamoPathStore::new(DynamoPathStore::client(&config), table),
        publisher: EventBridgePublisher::new(EventBridgePublisher::client(&config)),
        settings,
    };
    let (check, config) = (&check, &config);

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let (left, _) =
            invocation_budget(event.context.deadline(), SystemTime::now(), FALLBACK_BUDGET);
        let deadline = Instant::now() + left;
        // Expected paths come from the current directory: an unreadable one
        // fails the check (and its alarm) rather than expect the wrong paths.
        let directory = read_directory(&check.settings, config)
            .await
            .map_err(CheckError::Directory)?;
        let (report, _) = check
            .run(&directory, OffsetDateTime::now_utc(), deadline)
            .await?;
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        println!("{}", report.to_emf(now_ms));
        Ok::<Value, lambda_runtime::Error>(json!({ "report": report }))
    }))
    .await
}
