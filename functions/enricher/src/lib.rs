//! The enricher Lambda's handler: takes one EventBridge event (direct mode)
//! or an SQS batch of them (buffered mode), hands each to the shared relay,
//! publishes the entries, and reports what was not delivered.
//!
//! Reconciliation puts missing records back through the same entry: on the
//! buffer queue, or by invoking the function with the batch shape the queue
//! delivers, each message marked with the attribute
//! [`trailrelay_shared::relay::BACKFILL_ATTRIBUTE`]. EventBridge cannot set
//! message attributes and never delivers a payload with `Records`, so a
//! member account cannot mark its own events.

/// The AWS calls the enricher makes under its role (main.rs): the flow test
/// (`tests/templates/test_iam_flows.py`) judges each against the template.
pub const AWS_CALLS: &[trailrelay_adapters::calls::Call] = {
    use trailrelay_adapters::calls::*;
    &[EVENTS_PUT_EVENTS, S3_GET_OBJECT, DYNAMODB_UPDATE_ITEM]
};

pub mod directory;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsMessageAttribute};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;
use tokio::time::Instant;
use trailrelay_lambda::emf;
use trailrelay_shared::directory::Directory;
use trailrelay_shared::metrics::Counters;
use trailrelay_shared::paths::{NoPathStore, PathKey, PathStore, Recorded, WriteThrottle};
use trailrelay_shared::publish::{Delivering, Delivery, Publisher};
use trailrelay_shared::{
    Category, Circumstances, Entry, Prepared, PreparedEntry, ReceivedAt, Relay,
};

#[derive(Debug, thiserror::Error)]
pub enum EnricherError {
    #[error("start-up: {0}")]
    Startup(#[from] trailrelay_shared::Error),

    /// Direct mode: the event was not delivered; Lambda's retries and the
    /// on-failure destination take over.
    #[error("event {event_id} not delivered: {code}: {message}")]
    NotDelivered {
        event_id: String,
        code: String,
        message: String,
    },

    /// Buffered mode: a message that failed has no id to report it by, so
    /// the whole batch must come back.
    #[error("{failed} SQS message(s) without a messageId were not delivered; failing the whole batch so none is lost")]
    UnidentifiedFailure { failed: usize },
}

impl EnricherError {
    /// The error type Lambda records, so alarms can tell them apart.
    pub fn kind(&self) -> &'static str {
        match self {
            EnricherError::Startup(_) => "trailrelay.Startup",
            EnricherError::NotDelivered { .. } => "trailrelay.NotDelivered",
            EnricherError::UnidentifiedFailure { .. } => "trailrelay.UnidentifiedFailure",
        }
    }
}

impl From<EnricherError> for lambda_runtime::Diagnostic {
    fn from(e: EnricherError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.kind().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Is a message with these attributes one that reconciliation put back?
pub fn is_backfill(attributes: &HashMap<String, SqsMessageAttribute>) -> bool {
    attributes
        .get(trailrelay_shared::relay::BACKFILL_ATTRIBUTE)
        .and_then(|a| a.string_value.as_deref())
        == Some("true")
}

/// What a direct invocation answers when it succeeds.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DirectResponse {
    pub outcome: &'static str,
    pub event_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Response {
    Batch(SqsBatchResponse),
    Direct(DirectResponse),
}

/// An SQS batch as the event source mapping delivers it, read in place:
/// each body stays the JSON string it is in the payload until its turn
/// comes, so a 6 MB batch is not held a second time as 6 MB of bodies.
#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<QueuedMessage<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueuedMessage<'a> {
    #[serde(borrow, default)]
    message_id: Option<Cow<'a, str>>,
    /// The body's JSON string, escapes and all (null when absent).
    #[serde(borrow, default)]
    body: Option<&'a RawValue>,
    /// Null where the queue sends none (the event source mapping sends `{}`).
    #[serde(default)]
    message_attributes: Option<HashMap<String, SqsMessageAttribute>>,
}

impl<'a> Batch<'a> {
    /// The payload as a batch, if it is one: `Records` of messages whose
    /// bodies are strings (what `aws_lambda_events`' `SqsEvent` accepts).
    fn read(payload: &'a str) -> Option<Batch<'a>> {
        let batch: Batch = serde_json::from_str(payload).ok()?;
        let strings = batch
            .records
            .iter()
            .filter_map(|m| m.body)
            .all(|body| body.get().starts_with('"') || body.get() == "null");
        strings.then_some(batch)
    }
}

impl QueuedMessage<'_> {
    /// The body, unescaped (an absent or unreadable one is empty, as before:
    /// it becomes a malformed-input entry, never a lost message).
    fn body(&self) -> Cow<'_, str> {
        self.body
            .and_then(|raw| serde_json::from_str::<Option<Cow<str>>>(raw.get()).ok())
            .flatten()
            .unwrap_or(Cow::Borrowed(""))
    }
}

/// Where the time comes from (a fixed or stepped one in tests).
pub type Clock = Box<dyn Fn() -> OffsetDateTime + Send + Sync>;

pub struct Enricher<P, S = NoPathStore> {
    relay: Relay,
    publisher: P,
    paths: S,
    throttle: Mutex<WriteThrottle>,
    clock: Clock,
}

impl<P: Publisher> Enricher<P, NoPathStore> {
    pub fn new(relay: Relay, publisher: P) -> Self {
        let throttle = WriteThrottle::every(relay.settings().paths.write_interval);
        Enricher {
            relay,
            publisher,
            paths: NoPathStore,
            throttle: Mutex::new(throttle),
            clock: Box::new(OffsetDateTime::now_utc),
        }
    }
}

impl<P: Publisher, S: PathStore> Enricher<P, S> {
    /// Records heartbeats' last-seen times in `store`.
    pub fn with_path_store<T: PathStore>(self, store: T) -> Enricher<P, T> {
        Enricher {
            relay: self.relay,
            publisher: self.publisher,
            paths: store,
            throttle: self.throttle,
            clock: self.clock,
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn path_store(&self) -> &S {
        &self.paths
    }

    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// Handles one invocation's payload with the relay's own directory.
    pub async fn handle(
        &self,
        payload: &str,
        deadline: Instant,
    ) -> (Result<Response, EnricherError>, Counters) {
        self.handle_with(payload, deadline, self.relay.directory(), false)
            .await
    }

    /// Handles one invocation's payload with a given account directory (the
    /// live copy) and whether it is stale. The counters are returned in every
    /// case, so the caller can emit them even when the invocation fails.
    pub async fn handle_with(
        &self,
        payload: &str,
        deadline: Instant,
        directory: &Directory,
        directory_stale: bool,
    ) -> (Result<Response, EnricherError>, Counters) {
        let view = View {
            directory,
            directory_stale,
        };
        // An SQS batch has `Records`; an EventBridge event never does.
        match Batch::read(payload) {
            Some(batch) => self.handle_batch(batch, deadline, &view).await,
            None => self.handle_direct(payload, deadline, &view).await,
        }
    }

    async fn handle_direct(
        &self,
        payload: &str,
        deadline: Instant,
        view: &View<'_>,
    ) -> (Result<Response, EnricherError>, Counters) {
        let input = Input {
            body: Cow::Borrowed(payload),
            backfilled: false,
        };
        let (outcomes, counters) = self.process([input], deadline, view).await;
        let result = match outcomes.into_iter().next() {
            Some(Outcome::Failed {
                event_id,
                code,
                message,
            }) => Err(EnricherError::NotDelivered {
                event_id: event_id.unwrap_or_else(|| "(no id)".into()),
                code,
                message,
            }),
            Some(Outcome::Done { outcome, event_id }) => {
                Ok(Response::Direct(DirectResponse { outcome, event_id }))
            }
            None => Ok(Response::Direct(DirectResponse {
                outcome: "empty",
                event_id: None,
            })),
        };
        (result, counters)
    }

    async fn handle_batch(
        &self,
        batch: Batch<'_>,
        deadline: Instant,
        view: &View<'_>,
    ) -> (Result<Response, EnricherError>, Counters) {
        // One body unescaped at a time, dropped once its entry is prepared.
        let inputs = batch.records.iter().map(|m| Input {
            body: m.body(),
            backfilled: m.message_attributes.as_ref().is_some_and(is_backfill),
        });
        let (outcomes, counters) = self.process(inputs, deadline, view).await;
        let mut response = SqsBatchResponse::default();
        let mut unidentified = 0;
        for (message, outcome) in batch.records.iter().zip(&outcomes) {
            if let Outcome::Failed { .. } = outcome {
                match &message.message_id {
                    Some(id) => response.add_failure(id.to_string()),
                    None => unidentified += 1,
                }
            }
        }
        if unidentified > 0 {
            return (
                Err(EnricherError::UnidentifiedFailure {
                    failed: unidentified,
                }),
                counters,
            );
        }
        (Ok(Response::Batch(response)), counters)
    }

    /// Prepares and publishes the inputs; one outcome per input, in order.
    async fn process<'i>(
        &self,
        inputs: impl IntoIterator<Item = Input<'i>>,
        deadline: Instant,
        view: &View<'_>,
    ) -> (Vec<Outcome>, Counters) {
        let received = ReceivedAt::at((self.clock)());
        let mut counters = Counters::default();
        let mut outcomes = Vec::new();
        let mut prepared: Vec<(usize, PreparedEntry)> = Vec::new();
        let mut heartbeats: Vec<(usize, Option<String>, PathKey)> = Vec::new();
        for (i, input) in inputs.into_iter().enumerate() {
            counters.events_in += 1;
            let circumstances = Circumstances {
                directory_stale: view.directory_stale,
                backfilled: input.backfilled,
            };
            counters.backfilled += u64::from(input.backfilled);
            let prepared_input =
                self.relay
                    .prepare_with(&input.body, &received, view.directory, circumstances);
            match prepared_input {
                Prepared::Entry(entry) => {
                    note_prepared(&entry, &mut counters);
                    prepared.push((i, *entry));
                    outcomes.push(Outcome::Done {
                        outcome: "delivered",
                        event_id: None,
                    });
                }
                Prepared::Refused { event_id, reason } => {
                    counters.refused += 1;
                    tracing::warn!(event_id = event_id.as_deref(), %reason, "refused");
                    outcomes.push(Outcome::Done {
                        outcome: "refused",
                        event_id,
                    });
                }
                Prepared::Consumed {
                    event_id,
                    detail_type,
                    path,
                } => {
                    counters.consumed += 1;
                    match path {
                        Some(path) => heartbeats.push((i, event_id.clone(), path)),
                        None => tracing::warn!(
                            event_id = event_id.as_deref(),
                            %detail_type,
                            "consumed; it names no account and region, so no path is recorded"
                        ),
                    }
                    outcomes.push(Outcome::Done {
                        outcome: "consumed",
                        event_id,
                    });
                }
            }
        }

        for (i, event_id, path) in heartbeats {
            if let Some(failed) = self
                .record_heartbeat(event_id, &path, &received, &mut counters)
                .await
            {
                outcomes[i] = failed;
            }
        }

        let settings = self.relay.settings();
        let delivering = Delivering {
            publisher: &self.publisher,
            limits: &settings.limits,
            retry: &settings.retry,
            concurrency: settings.concurrency,
            deadline,
        };
        // The entries move out to be sent (details can be large: no copies);
        // what the logs and counters need stays behind.
        let (entries, about): (Vec<Entry>, Vec<(usize, Sent)>) = prepared
            .into_iter()
            .map(|(i, p)| {
                let sent = Sent {
                    category: p.category,
                    event_id: p.event_id,
                };
                (p.entry, (i, sent))
            })
            .unzip();
        let report = delivering.deliver(&entries).await;
        counters.retried += report.retried as u64;
        let sent = about.into_iter().zip(report.outcomes).zip(&entries);
        for (((i, entry), delivery), sent_entry) in sent {
            outcomes[i] = match delivery {
                Delivery::Delivered => {
                    counters.delivered += 1;
                    counters.delivered_by_category[entry.category.index()] += 1;
                    Outcome::Done {
                        outcome: "delivered",
                        event_id: entry.event_id,
                    }
                }
                Delivery::Failed {
                    code,
                    message,
                    attempts,
                } => {
                    counters.failed += 1;
                    tracing::error!(
                        event_id = entry.event_id.as_deref(),
                        category = %entry.category,
                        bus = %sent_entry.event_bus_name,
                        %code,
                        %message,
                        attempts,
                        "not delivered"
                    );
                    Outcome::Failed {
                        event_id: entry.event_id,
                        code,
                        message,
                    }
                }
            };
        }
        (outcomes, counters)
    }
}

impl<P, S: PathStore> Enricher<P, S> {
    /// Writes a heartbeat's last-seen time (at most once a minute per path
    /// and container); a failed write fails the heartbeat, so that it comes
    /// back rather than the path looking silent.
    async fn record_heartbeat(
        &self,
        event_id: Option<String>,
        path: &PathKey,
        received: &ReceivedAt,
        counters: &mut Counters,
    ) -> Option<Outcome> {
        let interval = self.relay.settings().paths.write_interval;
        let due = match self.throttle.lock() {
            Ok(mut throttle) => throttle.due(path, received.time),
            Err(_) => true,
        };
        let recorded = match due {
            true => {
                self.paths
                    .record_heartbeat(path, received.time, interval)
                    .await
            }
            false => Ok(Recorded::Skipped),
        };
        match recorded {
            Ok(recorded) => {
                counters.heartbeats_recorded += u64::from(recorded == Recorded::Written);
                tracing::info!(
                    event_id = event_id.as_deref(),
                    account = %path.account,
                    region = %path.region,
                    recorded = ?recorded,
                    "heartbeat"
                );
                None
            }
            Err(e) => {
                if let Ok(mut throttle) = self.throttle.lock() {
                    throttle.forget(path);
                }
                counters.consumed -= 1;
                counters.failed += 1;
                tracing::error!(
                    event_id = event_id.as_deref(),
                    account = %path.account,
                    region = %path.region,
                    error = %e,
                    "heartbeat not recorded"
                );
                Some(Outcome::Failed {
                    event_id,
                    code: "PathStoreError".to_owned(),
                    message: e.to_string(),
                })
            }
        }
    }
}

fn note_prepared(entry: &PreparedEntry, counters: &mut Counters) {
    use trailrelay_shared::signal::Signal;
    if let Some(reason) = &entry.malformed {
        counters.malformed += 1;
        tracing::warn!(event_id = entry.event_id.as_deref(), %reason, "malformed input, sent to the other bus");
    }
    if entry.has(Signal::Truncated) {
        counters.truncated += 1;
        tracing::warn!(
            event_id = entry.event_id.as_deref(),
            "trimmed to fit the size limit"
        );
    }
    if entry.has(Signal::UnknownAccount) {
        counters.unknown_account += 1;
    }
    if entry.has(Signal::LateDelivery) {
        tracing::info!(
            event_id = entry.event_id.as_deref(),
            "put back by reconciliation"
        );
    }
}

/// What is remembered of an entry while it is being sent.
struct Sent {
    category: trailrelay_shared::Category,
    event_id: Option<String>,
}

/// One input of an invocation: an event's text, and whether
/// reconciliation put it back.
struct Input<'a> {
    body: Cow<'a, str>,
    backfilled: bool,
}

/// The account directory an invocation works with.
struct View<'a> {
    directory: &'a Directory,
    directory_stale: bool,
}

enum Outcome {
    Done {
        outcome: &'static str,
        event_id: Option<String>,
    },
    Failed {
        event_id: Option<String>,
        code: String,
        message: String,
    },
}
/// The invocation's counts as EMF lines: one with the totals (no
/// dimension), and one per category that delivered anything (dimension
/// `Category`).
pub fn metric_lines(counters: &Counters, timestamp_ms: i64) -> Vec<String> {
    let mut lines = vec![emf::line(timestamp_ms, &[], &counters.totals())];
    for category in Category::ALL {
        let delivered = counters.delivered_by_category[category.index()];
        if delivered > 0 {
            lines.push(emf::line(
                timestamp_ms,
                &[("Category", category.as_str())],
                &[("Delivered", delivered)],
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn message(body: Value, attributes: Value) -> Value {
        json!({"messageId": "m1", "receiptHandle": "r", "body": body,
               "messageAttributes": attributes, "eventSource": "aws:sqs"})
    }

    #[test]
    fn a_batch_is_read_in_place_and_each_body_unescaped_on_its_own() {
        let event = r#"{"detail":{"eventName":"CreateUser","note":"a \"quoted\" é"}}"#;
        let backfill = json!({ (trailrelay_shared::relay::BACKFILL_ATTRIBUTE): {"stringValue": "true", "dataType": "String"} });
        let payload = json!({"Records": [message(json!(event), backfill), message(Value::Null, Value::Null)]}).to_string();
        let batch = Batch::read(&payload).expect("a batch");
        assert_eq!(batch.records.len(), 2);
        assert_eq!(batch.records[0].body(), event);
        assert!(batch.records[0]
            .message_attributes
            .as_ref()
            .is_some_and(is_backfill));
        assert_eq!(batch.records[1].body(), "");
        assert!(batch.records[1].message_attributes.is_none());
        assert_eq!(batch.records[1].message_id.as_deref(), Some("m1"));
    }

    #[test]
    fn records_whose_bodies_are_not_strings_are_not_a_batch() {
        for body in [json!({"detail": {}}), json!(3), json!(["a"])] {
            let payload = json!({"Records": [message(body, json!({}))]}).to_string();
            assert!(Batch::read(&payload).is_none(), "{payload}");
        }
        assert!(Batch::read(r#"{"Records": "no"}"#).is_none());
    }

    #[test]
    fn metric_lines_carry_the_totals_and_each_category_that_delivered() {
        let mut counters = Counters {
            events_in: 3,
            delivered: 2,
            refused: 1,
            ..Counters::default()
        };
        counters.delivered_by_category[Category::Identity.index()] = 2;
        let lines = metric_lines(&counters, 1_700_000_000_000);
        assert_eq!(lines.len(), 2);
        let totals: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(totals["EventsIn"], 3);
        assert_eq!(totals["Refused"], 1);
        let declared = totals["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(declared, counters.totals().len());
        let per_category: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(per_category["Category"], "identity");
        assert_eq!(per_category["Delivered"], 2);
    }
}
