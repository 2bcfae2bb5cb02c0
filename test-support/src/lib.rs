//! What the workspace's tests share: the bundled fixtures, SQS batches as
//! Lambda delivers them, and in-memory stand-ins for the two traits the
//! library puts in front of AWS ([`Publisher`] and [`PathStore`]). A
//! dev-dependency only; no production crate links it.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;
use trailrelay_shared::paths::{PathKey, PathRecord, PathStore, Recorded};
use trailrelay_shared::publish::{EntryFailure, Publisher};
use trailrelay_shared::{Entry, Error};

/// The bundled sample events (`tests/fixtures/events.jsonl`), one per line,
/// some of them malformed on purpose.
pub const EVENTS: &str = include_str!("../../tests/fixtures/events.jsonl");

/// The fixture line whose envelope id is `id`.
pub fn fixture(id: &str) -> String {
    let needle = format!("\"id\":\"{id}\"");
    EVENTS
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no fixture {id}"))
        .to_owned()
}

/// The fixtures that are CloudTrail events as EventBridge delivers them:
/// well-formed, with a record for a detail, neither the relay's own output
/// nor a heartbeat.
pub fn cloudtrail_events() -> Vec<Value> {
    EVENTS
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["detail"].is_object()
                && v["source"] != "trailrelay"
                && v["detail-type"] != "trailrelay Heartbeat"
        })
        .collect()
}

/// An SQS event as Lambda delivers it, one message per (message id, body).
pub fn sqs_batch<I: AsRef<str>, B: AsRef<str>>(messages: &[(I, B)]) -> String {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            let id = id.as_ref();
            json!({
                "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body.as_ref(),
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:222222222222:trailrelay-buffer",
                "awsRegion": "eu-west-1",
            })
        })
        .collect();
    json!({ "Records": records }).to_string()
}

/// [`sqs_batch`] with the messages named m0, m1, ...
pub fn sqs_numbered<B: AsRef<str>>(bodies: impl IntoIterator<Item = B>) -> String {
    let named: Vec<(String, B)> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| (format!("m{i}"), body))
        .collect();
    sqs_batch(&named)
}

/// A bus that takes every entry, or, once told to refuse, refuses every one
/// with `AccessDeniedException` (as a bus whose policy shuts the caller out).
#[derive(Default)]
pub struct MemoryBus {
    accepted: Mutex<Vec<Entry>>,
    refusing: AtomicBool,
}

impl MemoryBus {
    /// What the bus took, in order.
    pub fn accepted(&self) -> Vec<Entry> {
        self.accepted.lock().expect("not poisoned").clone()
    }

    /// What the bus took since the last `take`, in order.
    pub fn take(&self) -> Vec<Entry> {
        std::mem::take(&mut *self.accepted.lock().expect("not poisoned"))
    }

    pub fn clear(&self) {
        self.take();
    }

    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }
}

impl Publisher for MemoryBus {
    async fn put_events(&self, entries: &[&Entry]) -> Result<Vec<Option<EntryFailure>>, Error> {
        if self.refusing.load(Ordering::SeqCst) {
            let refused = EntryFailure {
                code: "AccessDeniedException".into(),
                message: "not on this bus".into(),
            };
            return Ok(vec![Some(refused); entries.len()]);
        }
        self.accepted
            .lock()
            .expect("not poisoned")
            .extend(entries.iter().map(|e| (*e).clone()));
        Ok(vec![None; entries.len()])
    }
}

/// A path store in memory that behaves like the DynamoDB one: a heartbeat
/// is written only when the path's last write is at least the interval old
/// (the real store's conditional update), and the store can be made to fail.
#[derive(Default)]
pub struct MemoryPathStore {
    records: Mutex<BTreeMap<PathKey, PathRecord>>,
    writes: Mutex<Vec<PathKey>>,
    failing: AtomicBool,
}

impl MemoryPathStore {
    /// Every path's last-seen time.
    pub fn last_seen(&self) -> BTreeMap<PathKey, OffsetDateTime> {
        let records = self.records.lock().expect("not poisoned");
        records
            .iter()
            .filter_map(|(k, r)| r.last_seen.map(|t| (k.clone(), t)))
            .collect()
    }

    /// Every heartbeat the store was asked to record, written or not.
    pub fn writes(&self) -> Vec<PathKey> {
        self.writes.lock().expect("not poisoned").clone()
    }

    /// From now on every call fails (or, with false, none does).
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), Error> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::PathStore {
                reason: "the table is unreachable".into(),
            });
        }
        Ok(())
    }

    fn with_record<T>(&self, path: &PathKey, f: impl FnOnce(&mut PathRecord) -> T) -> T {
        let mut records = self.records.lock().expect("not poisoned");
        let record = records.entry(path.clone()).or_insert_with(|| PathRecord {
            key: path.clone(),
            last_seen: None,
            silent_since: None,
        });
        f(record)
    }
}

impl PathStore for MemoryPathStore {
    async fn record_heartbeat(
        &self,
        path: &PathKey,
        at: OffsetDateTime,
        min_interval: Duration,
    ) -> Result<Recorded, Error> {
        self.check()?;
        self.writes.lock().expect("not poisoned").push(path.clone());
        Ok(self.with_record(path, |record| match record.last_seen {
            Some(t) if t > at - min_interval => Recorded::AlreadyRecent,
            _ => {
                record.last_seen = Some(at);
                Recorded::Written
            }
        }))
    }

    async fn list(&self) -> Result<Vec<PathRecord>, Error> {
        self.check()?;
        Ok(self
            .records
            .lock()
            .expect("not poisoned")
            .values()
            .cloned()
            .collect())
    }

    async fn set_silent(&self, path: &PathKey, since: Option<OffsetDateTime>) -> Result<(), Error> {
        self.check()?;
        self.with_record(path, |record| record.silent_since = since);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_id_finds_its_line_and_the_records_are_cloudtrail() {
        assert!(fixture("fx-heartbeat").contains("trailrelay Heartbeat"));
        let events = cloudtrail_events();
        let ids: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
        assert!(ids.contains(&"fx-ec2-run-instances"), "{ids:?}");
        for not_cloudtrail in ["fx-heartbeat", "fx-own-output"] {
            assert!(!ids.contains(&not_cloudtrail), "{ids:?}");
        }
    }

    #[test]
    fn a_batch_names_its_messages() {
        let batch: Value = serde_json::from_str(&sqs_numbered(["a", "b"])).unwrap();
        assert_eq!(batch["Records"][1]["messageId"], "m1");
        assert_eq!(batch["Records"][1]["body"], "b");
    }
}
