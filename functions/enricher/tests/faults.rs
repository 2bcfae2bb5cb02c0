//! The fault matrix: the real handler and the real EventBridge client (the
//! AWS SDK) against a local PutEvents endpoint that fails on purpose, on
//! loopback. For every row: what the endpoint accepted, plus what the
//! handler reported failed, is every input; nothing reported delivered was
//! not accepted; duplicates only where a call was cut off after the
//! endpoint took it. Figures go to target/faults.json (docs/reliability.md).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use trailrelay_adapters::eventbridge::EventBridgePublisher;
use trailrelay_enricher::{Enricher, Response as Answer};
use trailrelay_shared::{Relay, Settings};
use trailrelay_test_support::{cloudtrail_events, sqs_batch};

/// What the endpoint does wrong.
#[derive(Clone, Default)]
struct Faults {
    /// Share of entries answered with a per-entry failure (the call is 200).
    partial: f64,
    /// The first calls answered with HTTP 400 ThrottlingException.
    throttle_first: usize,
    /// Every answer waits this long.
    delay: Duration,
    /// Share of calls whose connection is dropped after the entries were taken.
    reset: f64,
    /// Every call answered with HTTP 503.
    down: bool,
}

#[derive(Default)]
struct Endpoint {
    faults: Faults,
    calls: AtomicUsize,
    /// Event ids taken, in order, with repeats.
    accepted: Mutex<Vec<String>>,
    /// How often each event id has been offered, for its draws.
    offered: Mutex<std::collections::HashMap<String, u64>>,
}

/// The faults are drawn from a fixed seed, per event id and attempt (and per
/// call for a reset), so a run is the same whatever order the concurrent
/// requests arrive in: a row never fails on chance, and a row that fails
/// fails every time.
const SEED: u64 = 0x7472_6169_6c72_656c;

fn draw(key: &str, attempt: u64) -> fastrand::Rng {
    // FNV-1a over the key, then the attempt: a stable seed for this draw.
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ SEED;
    for byte in key.bytes().chain(attempt.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    fastrand::Rng::with_seed(hash)
}

fn event_id(entry: &Value) -> String {
    let detail: Value =
        serde_json::from_str(entry["Detail"].as_str().unwrap_or("{}")).unwrap_or_default();
    detail["eventID"].as_str().unwrap_or("?").to_owned()
}

async fn answer(
    endpoint: Arc<Endpoint>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let call = endpoint.calls.fetch_add(1, Ordering::SeqCst);
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let entries = request["Entries"].as_array().cloned().unwrap_or_default();
    let f = &endpoint.faults;
    if !f.delay.is_zero() {
        tokio::time::sleep(f.delay).await;
    }
    let reply = |status: u16, body: Value| {
        let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
        r.headers_mut().insert(
            "content-type",
            "application/x-amz-json-1.1".parse().unwrap(),
        );
        Ok(r)
    };
    if f.down {
        return reply(
            503,
            json!({"__type": "ServiceUnavailable", "message": "down"}),
        );
    }
    if call < f.throttle_first {
        return reply(
            400,
            json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        );
    }
    let mut results = Vec::new();
    let mut failed = 0;
    for entry in &entries {
        let id = event_id(entry);
        let attempt = {
            let mut offered = endpoint.offered.lock().unwrap();
            let n = offered.entry(id.clone()).or_default();
            *n += 1;
            *n
        };
        let mut rng = draw(&id, attempt);
        if rng.f64() < f.partial {
            failed += 1;
            let code = if rng.bool() {
                "ThrottlingException"
            } else {
                "InternalFailure"
            };
            results.push(json!({"ErrorCode": code, "ErrorMessage": "injected"}));
        } else {
            endpoint.accepted.lock().unwrap().push(id);
            results.push(json!({"EventId": format!("ev-{call}")}));
        }
    }
    if draw("reset", call as u64).f64() < f.reset {
        // The entries were taken; the answer never arrives.
        return Err(std::io::Error::other("connection reset on purpose"));
    }
    reply(200, json!({"FailedEntryCount": failed, "Entries": results}))
}

async fn start(faults: Faults) -> (Arc<Endpoint>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let endpoint = Arc::new(Endpoint {
        faults,
        ..Endpoint::default()
    });
    let served = endpoint.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let endpoint = served.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| answer(endpoint.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (endpoint, url)
}

async fn enricher(url: &str) -> Enricher<EventBridgePublisher> {
    let config = trailrelay_adapters::local_config(url, "us-east-1").await;
    let settings = Settings {
        concurrency: 4,
        ..Settings::default()
    };
    Enricher::new(
        Relay::load(settings).unwrap(),
        EventBridgePublisher::new(EventBridgePublisher::client(&config)),
    )
}

/// `n` distinct events (CloudTrail ids e-0 ...) made from the fixtures.
fn events(n: usize) -> Vec<(String, String)> {
    let templates = cloudtrail_events();
    (0..n)
        .map(|i| {
            let mut e = templates[i % templates.len()].clone();
            let id = format!("e-{i}");
            e["detail"]["eventID"] = json!(id);
            (id, e.to_string())
        })
        .collect()
}

#[derive(Debug, Default, serde::Serialize)]
struct Row {
    case: &'static str,
    events: usize,
    delivered: usize,
    reported_failed: usize,
    duplicates: usize,
    lost: usize,
    calls: usize,
    longest_invocation_ms: u128,
    budget_ms: u128,
}

/// Runs `sqs_events` events as SQS batches of 100 and `direct` events one
/// invocation each, all with `budget` per invocation; checks the books.
async fn run(
    case: &'static str,
    faults: Faults,
    sqs_events: usize,
    direct: usize,
    budget: Duration,
) -> Row {
    let may_duplicate = faults.reset > 0.0 || !faults.delay.is_zero();
    let (endpoint, url) = start(faults).await;
    let relay = enricher(&url).await;
    let all = events(sqs_events + direct);
    let mut failed: BTreeSet<String> = BTreeSet::new();
    let mut delivered: BTreeSet<String> = BTreeSet::new();
    let mut longest = Duration::ZERO;
    for batch in all[..sqs_events].chunks(100) {
        let started = Instant::now();
        let (result, counters) = relay.handle(&sqs_batch(batch), started + budget).await;
        longest = longest.max(started.elapsed());
        assert!(counters.balanced(), "{case}: {counters:?}");
        let Ok(Answer::Batch(response)) = result else {
            panic!("{case}: {result:?}")
        };
        let batch_failed: BTreeSet<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        for (id, _) in batch {
            if batch_failed.contains(id) {
                failed.insert(id.clone());
            } else {
                delivered.insert(id.clone());
            }
        }
    }
    for (id, body) in &all[sqs_events..] {
        let started = Instant::now();
        let (result, _) = relay.handle(body, started + budget).await;
        longest = longest.max(started.elapsed());
        match result {
            Ok(_) => delivered.insert(id.clone()),
            Err(_) => failed.insert(id.clone()),
        };
    }
    let accepted = endpoint.accepted.lock().unwrap().clone();
    let unique: BTreeSet<String> = accepted.iter().cloned().collect();
    let inputs: BTreeSet<String> = all.iter().map(|(id, _)| id.clone()).collect();
    let lost: Vec<&String> = inputs
        .iter()
        .filter(|id| !unique.contains(*id) && !failed.contains(*id))
        .collect();
    assert!(lost.is_empty(), "{case}: lost {lost:?}");
    let unaccepted: Vec<&String> = delivered
        .iter()
        .filter(|id| !unique.contains(*id))
        .collect();
    assert!(
        unaccepted.is_empty(),
        "{case}: reported delivered but never accepted: {unaccepted:?}"
    );
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for id in &accepted {
        *counts.entry(id).or_default() += 1;
    }
    let duplicates = counts.values().map(|n| n - 1).sum();
    if !may_duplicate {
        assert_eq!(duplicates, 0, "{case}: duplicates without a cut-off call");
    }
    // Retries stop before the deadline (a margin of 500 ms is kept).
    assert!(
        longest <= budget,
        "{case}: an invocation took {longest:?} of {budget:?}"
    );
    Row {
        case,
        events: inputs.len(),
        delivered: delivered.len(),
        reported_failed: failed.len(),
        duplicates,
        lost: lost.len(),
        calls: endpoint.calls.load(Ordering::SeqCst),
        longest_invocation_ms: longest.as_millis(),
        budget_ms: budget.as_millis(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_under_any_fault() {
    // 1 in `make test`, 10 in `make soak`, a fraction in `make check`.
    let scale: f64 = std::env::var("TRAILRELAY_FAULT_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(1.0);
    let (n, d) = (
        ((300.0 * scale) as usize).max(10),
        ((50.0 * scale.min(4.0)) as usize).max(5),
    );
    // The rows near a deadline cost their deadline per invocation.
    let (n_slow, d_slow) = (
        ((200.0 * scale.min(1.0)) as usize).max(20),
        ((10.0 * scale.min(1.0)) as usize).max(2),
    );
    // A burst of throttled calls in proportion to the calls there are: at a
    // tenth of the size, 20 throttled calls would be every retry of a few
    // entries, not a burst.
    let burst = ((20.0 * scale.min(1.0)) as usize).max(3);
    let long = Duration::from_secs(10);
    let short = Duration::from_millis(2500);
    let mut rows = Vec::new();
    rows.push(run("no fault", Faults::default(), n, d, long).await);
    rows.push(
        run(
            "30% of entries fail",
            Faults {
                partial: 0.3,
                ..Faults::default()
            },
            n,
            d,
            long,
        )
        .await,
    );
    rows.push(
        run(
            "whole-call throttling burst (first 20 calls at full size)",
            Faults {
                throttle_first: burst,
                ..Faults::default()
            },
            n,
            d,
            long,
        )
        .await,
    );
    rows.push(
        run(
            "slow endpoint (1.2 s a call) near a 2.5 s deadline",
            Faults {
                delay: Duration::from_millis(1200),
                ..Faults::default()
            },
            n_slow,
            d_slow,
            short,
        )
        .await,
    );
    rows.push(
        run(
            "connection reset after taking 20% of calls",
            Faults {
                reset: 0.2,
                ..Faults::default()
            },
            n,
            d,
            long,
        )
        .await,
    );
    rows.push(
        run(
            "endpoint down for the whole invocation",
            Faults {
                down: true,
                ..Faults::default()
            },
            n_slow,
            d_slow,
            short,
        )
        .await,
    );

    let no_fault = &rows[0];
    assert_eq!(no_fault.delivered, no_fault.events);
    assert_eq!(
        rows[1].delivered, rows[1].events,
        "partial failures are retried to success"
    );
    assert_eq!(
        rows[2].delivered, rows[2].events,
        "a throttling burst is ridden out"
    );
    assert_eq!(
        rows[5].delivered, 0,
        "nothing is reported delivered while the endpoint is down"
    );
    assert_eq!(rows[5].reported_failed, rows[5].events);
    for row in &rows {
        assert_eq!(row.lost, 0);
        println!("{row:?}");
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/faults.json");
    let _ = std::fs::write(out, serde_json::to_string_pretty(&rows).unwrap_or_default());
}
