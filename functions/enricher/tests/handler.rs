//! The real handler with a fake publisher: direct and SQS payloads,
//! retries, permanent failures, batching, concurrency and deadlines.

use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;
use trailrelay_enricher::{Enricher, EnricherError, Response};
use trailrelay_shared::metrics::Counters;
use trailrelay_shared::publish::{EntryFailure, Publisher};
use trailrelay_shared::settings::Limits;
use trailrelay_shared::{Entry, Error, Relay, Settings};
use trailrelay_test_support::{fixture, sqs_batch, sqs_numbered, EVENTS};

/// Decides, per entry and per offer (1 for the first), whether it fails.
type Rule = Box<dyn Fn(&Entry, u32) -> Option<EntryFailure> + Send + Sync>;

struct FakeEventBridge {
    rule: Rule,
    /// Whole-call errors to return, one per call, before answering normally.
    call_errors: Mutex<VecDeque<Error>>,
    delay: Duration,
    hang: bool,
    accepted: Mutex<Vec<Entry>>,
    offers: Mutex<HashMap<String, u32>>,
    call_sizes: Mutex<Vec<(usize, usize)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl FakeEventBridge {
    fn new(rule: Rule) -> Self {
        FakeEventBridge {
            rule,
            call_errors: Mutex::new(VecDeque::new()),
            delay: Duration::ZERO,
            hang: false,
            accepted: Mutex::new(Vec::new()),
            offers: Mutex::new(HashMap::new()),
            call_sizes: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    fn accepting() -> Self {
        Self::new(Box::new(|_, _| None))
    }

    fn accepted(&self) -> Vec<Entry> {
        self.accepted.lock().unwrap().clone()
    }

    fn offers_of(&self, needle: &str) -> u32 {
        let offers = self.offers.lock().unwrap();
        offers
            .iter()
            .filter(|(detail, _)| detail.contains(needle))
            .map(|(_, n)| *n)
            .sum()
    }
}

fn failure(code: &str) -> Option<EntryFailure> {
    Some(EntryFailure {
        code: code.into(),
        message: format!("{code} from the fake"),
    })
}

impl Publisher for FakeEventBridge {
    async fn put_events(&self, entries: &[&Entry]) -> Result<Vec<Option<EntryFailure>>, Error> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if self.hang {
            std::future::pending::<()>().await;
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let bytes = entries.iter().map(|e| e.size()).sum();
        self.call_sizes.lock().unwrap().push((entries.len(), bytes));
        if let Some(err) = self.call_errors.lock().unwrap().pop_front() {
            return Err(err);
        }
        let mut results = Vec::with_capacity(entries.len());
        for entry in entries {
            let offer = {
                let mut offers = self.offers.lock().unwrap();
                let n = offers.entry(entry.detail.clone()).or_default();
                *n += 1;
                *n
            };
            let result = (self.rule)(entry, offer);
            if result.is_none() {
                self.accepted.lock().unwrap().push((*entry).clone());
            }
            results.push(result);
        }
        Ok(results)
    }
}

fn settings() -> Settings {
    Settings {
        concurrency: 2,
        ..Settings::default()
    }
}

fn enricher(fake: FakeEventBridge, settings: Settings) -> Enricher<FakeEventBridge> {
    Enricher::new(Relay::load(settings).unwrap(), fake)
}

fn deadline(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

fn batch_failures(result: &Result<Response, EnricherError>) -> Vec<String> {
    match result {
        Ok(Response::Batch(b)) => b
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect(),
        other => panic!("expected a batch response, got {other:?}"),
    }
}

fn assert_balanced(c: &Counters) {
    assert!(c.balanced(), "every input has exactly one end: {c:?}");
}

#[tokio::test(start_paused = true)]
async fn a_direct_event_goes_to_its_category_bus() {
    let e = enricher(FakeEventBridge::accepting(), settings());
    let (result, counters) = e.handle(&fixture("fx-iam-create-user"), deadline(30)).await;
    let response = serde_json::to_value(result.unwrap()).unwrap();
    assert_eq!(
        response,
        json!({"outcome": "delivered", "eventId": "evt-iam-create-user"})
    );
    let accepted = e_publisher(&e).accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].event_bus_name, "trailrelay-identity");
    assert_eq!(accepted[0].source, "trailrelay");
    assert_eq!(counters.delivered, 1);
    assert_eq!(counters.delivered_by_category[0], 1);
    assert_balanced(&counters);
}

fn e_publisher(e: &Enricher<FakeEventBridge>) -> &FakeEventBridge {
    e.publisher()
}

#[tokio::test(start_paused = true)]
async fn a_direct_event_that_cannot_be_delivered_fails_the_invocation() {
    let fake = FakeEventBridge::new(Box::new(|_, _| failure("NotAuthorizedForSourceException")));
    let e = enricher(fake, settings());
    let (result, counters) = e.handle(&fixture("fx-iam-create-user"), deadline(30)).await;
    match result {
        Err(err @ EnricherError::NotDelivered { .. }) => {
            assert_eq!(err.kind(), "trailrelay.NotDelivered");
            assert!(
                err.to_string().contains("NotAuthorizedForSourceException"),
                "{err}"
            );
            assert!(err.to_string().contains("evt-iam-create-user"), "{err}");
        }
        other => panic!("expected NotDelivered, got {other:?}"),
    }
    assert_eq!(
        e.publisher().offers_of("evt-iam-create-user"),
        1,
        "permanent: not retried"
    );
    assert_eq!(counters.failed, 1);
    assert_balanced(&counters);
}

#[tokio::test(start_paused = true)]
async fn direct_loop_and_heartbeat_events_are_not_published() {
    let e = enricher(FakeEventBridge::accepting(), settings());
    let (result, counters) = e.handle(&fixture("fx-own-output"), deadline(30)).await;
    assert_eq!(
        serde_json::to_value(result.unwrap()).unwrap()["outcome"],
        "refused"
    );
    assert_eq!(counters.refused, 1);
    let (result, counters) = e.handle(&fixture("fx-heartbeat"), deadline(30)).await;
    assert_eq!(
        serde_json::to_value(result.unwrap()).unwrap()["outcome"],
        "consumed"
    );
    assert_eq!(counters.consumed, 1);
    assert!(e.publisher().accepted().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_direct_malformed_event_goes_to_other() {
    let e = enricher(FakeEventBridge::accepting(), settings());
    let (result, counters) = e.handle("[1,2,3]", deadline(30)).await;
    assert!(result.is_ok());
    let accepted = e.publisher().accepted();
    assert_eq!(accepted[0].event_bus_name, "trailrelay-other");
    let detail: Value = serde_json::from_str(&accepted[0].detail).unwrap();
    assert_eq!(detail["rawInput"], "[1,2,3]");
    assert_eq!(counters.malformed, 1);
    assert_eq!(counters.delivered, 1);
}

#[tokio::test(start_paused = true)]
async fn an_sqs_batch_delivers_every_kind_of_input() {
    let e = enricher(FakeEventBridge::accepting(), settings());
    let payload = sqs_batch(&[
        ("m1", fixture("fx-ec2-run-instances")),
        ("m2", "{not json".to_owned()),
        ("m3", fixture("fx-heartbeat")),
        ("m4", fixture("fx-own-output")),
        ("m5", fixture("fx-test-event")),
    ]);
    let (result, counters) = e.handle(&payload, deadline(30)).await;
    assert!(batch_failures(&result).is_empty());
    assert_eq!(
        serde_json::to_value(result.unwrap()).unwrap(),
        json!({"batchItemFailures": []})
    );
    let accepted = e.publisher().accepted();
    let buses: Vec<&str> = accepted.iter().map(|a| a.event_bus_name.as_str()).collect();
    assert_eq!(buses.len(), 3);
    assert!(buses.contains(&"trailrelay-compute"));
    assert!(buses.contains(&"trailrelay-other"));
    assert!(buses.contains(&"trailrelay-identity"));
    let test_event = accepted
        .iter()
        .find(|a| a.detail_type == "trailrelay Test Event")
        .unwrap();
    assert!(test_event.detail.contains("\"test_event\""));
    assert_eq!(
        (
            counters.events_in,
            counters.delivered,
            counters.refused,
            counters.consumed,
            counters.malformed
        ),
        (5, 3, 1, 1, 1)
    );
    assert_balanced(&counters);
}

#[tokio::test(start_paused = true)]
async fn partial_transient_failures_are_retried_until_accepted() {
    // Every other entry is throttled on its first two offers.
    let fake = FakeEventBridge::new(Box::new(|entry, offer| {
        let odd = entry.detail.len() % 2 == 1;
        if odd && offer <= 2 {
            failure("ThrottlingException")
        } else {
            None
        }
    }));
    let e = enricher(fake, settings());
    let bodies = EVENTS.lines().take(30).map(str::to_owned);
    let (result, counters) = e.handle(&sqs_numbered(bodies), deadline(30)).await;
    assert!(batch_failures(&result).is_empty());
    assert_eq!(e.publisher().accepted().len(), 30);
    assert!(counters.retried > 0, "{counters:?}");
    assert_eq!(counters.delivered, 30);
    assert_balanced(&counters);
}

#[tokio::test(start_paused = true)]
async fn permanent_failures_name_exactly_their_messages() {
    let fake = FakeEventBridge::new(Box::new(|entry, _| {
        if entry.detail.contains("evt-s3-get-object-denied") {
            failure("InvalidArgument")
        } else {
            None
        }
    }));
    let e = enricher(fake, settings());
    let payload = sqs_batch(&[
        ("ok-1", fixture("fx-iam-create-user")),
        ("bad-1", fixture("fx-s3-get-object-denied")),
        ("ok-2", fixture("fx-ec2-create-vpc")),
    ]);
    let (result, counters) = e.handle(&payload, deadline(30)).await;
    assert_eq!(batch_failures(&result), vec!["bad-1"]);
    assert_eq!(e.publisher().offers_of("evt-s3-get-object-denied"), 1);
    assert_eq!((counters.delivered, counters.failed), (2, 1));
    assert_balanced(&counters);
}

#[tokio::test(start_paused = true)]
async fn transient_failures_past_the_deadline_are_reported_not_lost() {
    let fake = FakeEventBridge::new(Box::new(|_, _| failure("ThrottlingException")));
    let e = enricher(fake, settings());
    let payload = sqs_batch(&[
        ("a", fixture("fx-iam-create-user")),
        ("b", fixture("fx-ec2-create-vpc")),
    ]);
    let start = Instant::now();
    let end = deadline(3);
    let (result, counters) = e.handle(&payload, end).await;
    let mut failed = batch_failures(&result);
    failed.sort();
    assert_eq!(failed, vec!["a", "b"]);
    assert!(Instant::now() < end, "returned after the deadline");
    assert!(Instant::now() > start);
    assert!(
        e.publisher().offers_of("evt-iam-create-user") > 1,
        "it was retried"
    );
    assert_eq!(counters.failed, 2);
    assert_balanced(&counters);
}

#[tokio::test(start_paused = true)]
async fn whole_call_errors_are_retried_when_transient() {
    let fake = FakeEventBridge::accepting();
    fake.call_errors.lock().unwrap().extend([
        Error::put_events(true, "HTTP 503"),
        Error::put_events(true, "throttled"),
    ]);
    let e = enricher(fake, settings());
    let (result, counters) = e.handle(&fixture("fx-iam-create-user"), deadline(30)).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(counters.retried, 2);

    let fake = FakeEventBridge::accepting();
    fake.call_errors
        .lock()
        .unwrap()
        .push_back(Error::put_events(false, "AccessDeniedException"));
    let e = enricher(fake, settings());
    let (result, counters) = e.handle(&fixture("fx-iam-create-user"), deadline(30)).await;
    assert!(matches!(result, Err(EnricherError::NotDelivered { .. })));
    assert_eq!(counters.retried, 0);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_endpoint_is_given_up_on_before_the_deadline() {
    let mut fake = FakeEventBridge::accepting();
    fake.hang = true;
    let e = enricher(fake, settings());
    let end = deadline(3);
    let (result, counters) = e
        .handle(&sqs_batch(&[("a", fixture("fx-iam-create-user"))]), end)
        .await;
    assert_eq!(batch_failures(&result), vec!["a"]);
    assert!(Instant::now() < end);
    assert_balanced(&counters);
}

#[tokio::test(start_paused = true)]
async fn batches_hold_ten_entries_and_respect_the_byte_limit() {
    let e = enricher(FakeEventBridge::accepting(), settings());
    let bodies = (0..25).map(|_| fixture("fx-iam-create-user"));
    e.handle(&sqs_numbered(bodies), deadline(30))
        .await
        .0
        .unwrap();
    let mut counts: Vec<usize> = e
        .publisher()
        .call_sizes
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.0)
        .collect();
    counts.sort();
    assert_eq!(counts, vec![5, 10, 10]);

    // Entries of ~40 KB with a 100 KiB request limit: two per call at most.
    let limit = 100 * 1024;
    let s = Settings {
        limits: Limits {
            max_entry_bytes: 64 * 1024,
            max_request_bytes: limit,
            ..Limits::default()
        },
        ..settings()
    };
    let e = enricher(FakeEventBridge::accepting(), s);
    let mut big: Value = serde_json::from_str(&fixture("fx-iam-create-user")).unwrap();
    big["detail"]["requestParameters"] = json!({"policy": "x".repeat(40_000)});
    let bodies = (0..7).map(|_| big.to_string());
    let (result, counters) = e.handle(&sqs_numbered(bodies), deadline(30)).await;
    assert!(batch_failures(&result).is_empty());
    assert_eq!(counters.delivered, 7);
    let calls = e.publisher().call_sizes.lock().unwrap().clone();
    assert_eq!(calls.len(), 4, "{calls:?}");
    for (entries, bytes) in calls {
        assert!(
            entries <= 2 && bytes <= limit,
            "{entries} entries, {bytes} bytes"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn calls_go_out_concurrently_within_the_bound() {
    let mut fake = FakeEventBridge::accepting();
    fake.delay = Duration::from_millis(100);
    let s = Settings {
        concurrency: 3,
        ..settings()
    };
    let e = enricher(fake, s);
    let bodies = (0..60).map(|_| fixture("fx-ec2-create-vpc"));
    let (result, counters) = e.handle(&sqs_numbered(bodies), deadline(30)).await;
    assert!(batch_failures(&result).is_empty());
    assert_eq!(counters.delivered, 60);
    assert_eq!(e.publisher().max_in_flight.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failed_message_without_an_id_fails_the_whole_batch() {
    let fake = FakeEventBridge::new(Box::new(|_, _| failure("InvalidArgument")));
    let e = enricher(fake, settings());
    let mut payload: Value =
        serde_json::from_str(&sqs_batch(&[("x", fixture("fx-iam-create-user"))])).unwrap();
    payload["Records"][0]
        .as_object_mut()
        .unwrap()
        .remove("messageId");
    let (result, _) = e.handle(&payload.to_string(), deadline(30)).await;
    assert!(
        matches!(
            result,
            Err(EnricherError::UnidentifiedFailure { failed: 1 })
        ),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_sqs_message_without_a_body_is_malformed_not_lost() {
    let e = enricher(FakeEventBridge::accepting(), settings());
    let mut payload: Value = serde_json::from_str(&sqs_batch(&[("x", String::new())])).unwrap();
    payload["Records"][0]
        .as_object_mut()
        .unwrap()
        .remove("body");
    let (result, counters) = e.handle(&payload.to_string(), deadline(30)).await;
    assert!(batch_failures(&result).is_empty());
    assert_eq!((counters.malformed, counters.delivered), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_stale_live_directory_marks_every_event() {
    let e = enricher(FakeEventBridge::accepting(), settings());
    let live = trailrelay_shared::directory::Directory::from_json(
        r#"{"accounts":{"333333333333":{"name":"renamed-by-sync"}}}"#,
        "live",
    )
    .unwrap();
    let (result, _) = e
        .handle_with(&fixture("fx-iam-create-user"), deadline(30), &live, true)
        .await;
    assert!(result.is_ok());
    let accepted = e.publisher().accepted();
    let detail: Value = serde_json::from_str(&accepted[0].detail).unwrap();
    assert_eq!(detail["enrichment"]["account"]["name"], "renamed-by-sync");
    assert_eq!(detail["enrichment"]["signals"], json!(["directory_stale"]));
}

#[tokio::test(start_paused = true)]
async fn the_largest_sqs_batch_lambda_takes_is_delivered_whole() {
    // Lambda's payload limit is 6 MB: 23 messages of ~250 KB.
    let e = enricher(FakeEventBridge::accepting(), settings());
    let mut big: Value = serde_json::from_str(&fixture("fx-iam-create-user")).unwrap();
    big["detail"]["requestParameters"] = json!({"policyDocument": "p".repeat(250_000)});
    let bodies = (0..23).map(|_| big.to_string());
    let payload = sqs_numbered(bodies);
    assert!(
        payload.len() < 6 * 1000 * 1000 && payload.len() > 5_500_000,
        "{}",
        payload.len()
    );
    let (result, counters) = e.handle(&payload, deadline(30)).await;
    assert!(batch_failures(&result).is_empty());
    assert_eq!(counters.delivered, 23);
    let calls = e.publisher().call_sizes.lock().unwrap().clone();
    assert!(
        calls.iter().all(|(_, bytes)| *bytes <= 1024 * 1024),
        "{calls:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn only_messages_marked_by_reconciliation_are_backfilled() {
    let e = enricher(FakeEventBridge::accepting(), settings());
    let mut batch: Value = serde_json::from_str(&sqs_batch(&[
        ("put-back", fixture("fx-iam-create-user")),
        ("ordinary", fixture("fx-ec2-run-instances")),
        ("other-attribute", fixture("fx-ec2-run-instances")),
    ]))
    .unwrap();
    let attribute = |value: &str| json!({"stringValue": value, "dataType": "String"});
    batch["Records"][0]["messageAttributes"] =
        json!({ trailrelay_shared::relay::BACKFILL_ATTRIBUTE: attribute("true") });
    batch["Records"][2]["messageAttributes"] = json!({ "something-else": attribute("true") });
    let (result, counters) = e.handle(&batch.to_string(), deadline(30)).await;
    assert!(batch_failures(&result).is_empty());
    let marked: Vec<bool> = e
        .publisher()
        .accepted()
        .iter()
        .map(|a| {
            let d: Value = serde_json::from_str(&a.detail).unwrap();
            let backfilled = d["enrichment"]["provenance"]["backfilled"] == true;
            let late = d["enrichment"]["signals"]
                .as_array()
                .unwrap()
                .contains(&json!("late_delivery"));
            assert_eq!(backfilled, late);
            backfilled
        })
        .collect();
    assert_eq!(marked.iter().filter(|m| **m).count(), 1);
    assert_eq!((counters.backfilled, counters.delivered), (1, 3));
    assert_balanced(&counters);
}
