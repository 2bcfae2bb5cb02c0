//! The enricher Lambda: builds its clients once per container and hands each
//! payload to [`Enricher`].

// The handler's future nests the SDK's futures deeply enough to pass the default.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;
use trailrelay_adapters::dynamodb::DynamoPathStore;
use trailrelay_adapters::eventbridge::EventBridgePublisher;
use trailrelay_adapters::s3::S3Directory;
use trailrelay_enricher::directory::LiveDirectory;
use trailrelay_enricher::{Enricher, EnricherError, Response};
use trailrelay_lambda::budget::invocation_budget;
use trailrelay_lambda::emf;
use trailrelay_shared::{Relay, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailrelay_lambda::logging::init_json();

    let relay = Relay::load(Settings::from_env().map_err(EnricherError::from)?)
        .map_err(EnricherError::from)?;
    // AWS_ENDPOINT_URL, when set, points the SDK at a local emulator.
    let config = trailrelay_adapters::config_loader().load().await;
    let publisher = EventBridgePublisher::new(EventBridgePublisher::client(&config));
    let live = relay.settings().live_directory.clone().map(|location| {
        let s3 = trailrelay_adapters::s3::client(&config);
        let source = S3Directory::new(s3, location.bucket.clone(), location.key.clone());
        LiveDirectory::new(source, Arc::new(relay.directory().clone()), location)
    });
    let paths = relay
        .settings()
        .paths
        .table
        .clone()
        .map(|table| DynamoPathStore::new(DynamoPathStore::client(&config), table));
    if paths.is_none() {
        tracing::warn!(
            "no path store (TRAILRELAY_PATHS_TABLE): heartbeats are consumed, not recorded"
        );
    }
    let enricher = Enricher::new(relay, publisher).with_path_store(paths);
    let (enricher, live) = (&enricher, &live);

    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            let fallback = enricher.relay().settings().retry.fallback_budget;
            let (left, from_deadline) =
                invocation_budget(event.context.deadline(), SystemTime::now(), fallback);
            if !from_deadline {
                tracing::warn!(
                    deadline_ms = event.context.deadline,
                    budget_ms = left.as_millis() as u64,
                    "the runtime's deadline is not a plausible time; using the fallback budget"
                );
            }
            let deadline = Instant::now() + left;
            let (result, counters) = match live {
                Some(live) => {
                    let (directory, stale) = live.current().await;
                    enricher
                        .handle_with(event.payload.get(), deadline, &directory, stale)
                        .await
                }
                None => enricher.handle(event.payload.get(), deadline).await,
            };
            for line in trailrelay_enricher::metric_lines(&counters, emf::now_ms()) {
                println!("{line}");
            }
            result.map(|response: Response| response)
        },
    ))
    .await
}
