//! The reconciler Lambda: builds its clients once per container; each
//! scheduled invocation reads one window's pass (functions/reconcile's lib
//! says what it does) and answers with the totals.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::{json, Value};
use std::io::Read;
use std::time::SystemTime;
use time::OffsetDateTime;
use tokio::runtime::Handle;
use tokio::time::Instant;
use trailrelay_adapters::eventbridge::EventBridgePublisher;
use trailrelay_adapters::s3::{read_directory, Bucket};
use trailrelay_lambda::budget::invocation_budget;
use trailrelay_lambda::emf;
use trailrelay_path_health::expected_paths;
use trailrelay_reconciler::{
    invocation_failures, invocation_payload, metric_line, put_back, reconcile, report_details,
    report_entries, Backfill, Objects, Plan, PutBack, PutBackTarget, ReconcileError,
    ReconcileSettings, Request, INVOKE_BATCH_BYTES, INVOKE_BATCH_MESSAGES, QUEUE_BATCH_BYTES,
    QUEUE_BATCH_MESSAGES,
};
use trailrelay_shared::publish::{Delivering, Delivery};
use trailrelay_shared::relay::BACKFILL_ATTRIBUTE;
use trailrelay_shared::{Category, Settings};

/// A bucket read from the blocking thread the pass runs on.
struct S3Objects {
    bucket: Bucket,
    runtime: Handle,
}

impl Objects for S3Objects {
    fn list(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<String>, String> {
        self.runtime
            .block_on(self.bucket.list_after(prefix, start_after))
            .map_err(|e| e.to_string())
    }

    fn open(&self, key: &str) -> Result<Box<dyn Read + '_>, String> {
        let body = self
            .runtime
            .block_on(self.bucket.open(key))
            .map_err(|e| e.to_string())?;
        Ok(Box::new(tokio_util::io::SyncIoBridge::new_with_handle(
            body,
            self.runtime.clone(),
        )))
    }
}

struct QueueTarget {
    queues: trailrelay_adapters::sqs::Queues,
    url: String,
}

impl PutBackTarget for QueueTarget {
    fn limits(&self) -> (usize, usize) {
        (QUEUE_BATCH_MESSAGES, QUEUE_BATCH_BYTES)
    }

    async fn send(&self, group: &[String]) -> Result<Vec<usize>, String> {
        self.queues
            .send_marked(&self.url, group, BACKFILL_ATTRIBUTE)
            .await
            .map_err(|e| e.to_string())
    }
}

struct InvokeTarget {
    config: aws_config::SdkConfig,
    function: String,
}

impl PutBackTarget for InvokeTarget {
    fn limits(&self) -> (usize, usize) {
        (INVOKE_BATCH_MESSAGES, INVOKE_BATCH_BYTES)
    }

    async fn send(&self, group: &[String]) -> Result<Vec<usize>, String> {
        let payload = invocation_payload(group, BACKFILL_ATTRIBUTE).into_bytes();
        let answer = trailrelay_adapters::lambda::invoke(&self.config, &self.function, payload)
            .await
            .map_err(|e| e.to_string())?;
        Ok(invocation_failures(&answer, group.len()))
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailrelay_lambda::logging::init_json();
    let relay = Settings::from_env().map_err(|e| ReconcileError::Settings(e.to_string()))?;
    let settings = ReconcileSettings::from_lookup(|name| std::env::var(name).ok())?;
    let config = trailrelay_adapters::config_loader().load().await;
    let trail_config = match &settings.trail_read_role {
        Some(role) => trailrelay_adapters::assume_role(&config, role, "trailrelay-reconcile").await,
        None => config.clone(),
    };
    let publisher = EventBridgePublisher::new(EventBridgePublisher::client(&config));
    let (relay, settings, config, trail_config, publisher) =
        (&relay, &settings, &config, &trail_config, &publisher);

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let (left, _) = invocation_budget(
            event.context.deadline(),
            SystemTime::now(),
            relay.retry.fallback_budget,
        );
        let deadline = Instant::now() + left;
        let request: Request = serde_json::from_value(event.payload)
            .map_err(|e| ReconcileError::Request(e.to_string()))?;
        let now = OffsetDateTime::now_utc();
        let (pass, window) = request.window(now, settings.window)?;
        let directory = read_directory(relay, config)
            .await
            .map_err(ReconcileError::Directory)?;
        let regions = relay.paths.enrolled_regions.clone();
        let paths = expected_paths(&directory, &regions, &relay.paths.scope);

        let trail = S3Objects {
            bucket: Bucket::new(trail_config, &settings.trail_bucket),
            runtime: Handle::current(),
        };
        let copy = S3Objects {
            bucket: Bucket::new(config, &settings.copy_bucket),
            runtime: Handle::current(),
        };
        let pass_settings = settings.clone();
        let (paths_expected, found) = tokio::task::spawn_blocking(move || {
            let plan = Plan {
                settings: &pass_settings,
                pass,
                window,
                until: now,
                paths: &paths,
                regions: &regions,
            };
            (paths.len(), reconcile(&plan, &trail, &copy))
        })
        .await
        .map_err(|e| ReconcileError::Request(format!("the pass stopped: {e}")))?;
        let found = found?;

        let mode = settings.backfill.mode();
        let put = match &settings.backfill {
            Backfill::Off => PutBack {
                mode,
                ..PutBack::default()
            },
            Backfill::Queue(url) => {
                let target = QueueTarget {
                    queues: trailrelay_adapters::sqs::Queues::new(config),
                    url: url.clone(),
                };
                put_back(&target, mode, &found.missing).await
            }
            Backfill::Invoke(function) => {
                let target = InvokeTarget {
                    config: config.clone(),
                    function: function.clone(),
                };
                put_back(&target, mode, &found.missing).await
            }
        };

        let details = report_details(&found, pass, &window, &put, paths_expected);
        let entries = report_entries(details, &relay.source, relay.bus(Category::Audit), &window);
        let delivery = Delivering {
            publisher,
            limits: &relay.limits,
            retry: &relay.retry,
            concurrency: relay.concurrency,
            deadline,
        }
        .deliver(&entries)
        .await;
        let undelivered = delivery
            .outcomes
            .iter()
            .filter(|o| !matches!(o, Delivery::Delivered))
            .count();
        println!("{}", metric_line(&found, pass, &put, emf::now_ms()));
        let totals = found.report.totals;
        tracing::info!(
            pass = pass.as_str(),
            from = %trailrelay_reconciler::rfc3339(window.from),
            expected = totals.expected,
            seen = totals.seen,
            missing = totals.missing,
            late = totals.late,
            put_back = put.sent,
            put_back_failed = put.failed,
            "reconciled"
        );
        if undelivered > 0 {
            return Err(lambda_runtime::Error::from(format!(
                "{undelivered} part(s) of the reconciliation report not delivered"
            )));
        }
        Ok::<Value, lambda_runtime::Error>(json!({
            "pass": pass.as_str(),
            "window": {"from": trailrelay_reconciler::rfc3339(window.from), "to": trailrelay_reconciler::rfc3339(window.to)},
            "totals": totals,
            "putBack": put,
            "reportParts": entries.len(),
        }))
    }))
    .await
}
