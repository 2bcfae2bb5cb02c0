//! Publishing: batches within PutEvents' limits, concurrent calls, and the
//! one place where failed entries are retried.

use crate::entry::Entry;
use crate::error::Error;
use crate::retry::{backoff, RetryPolicy};
use crate::settings::Limits;
use futures_util::stream::{self, StreamExt};
use std::future::Future;
use tokio::time::Instant;

/// Why EventBridge did not take one entry of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    pub code: String,
    pub message: String,
}

/// The EventBridge PutEvents call, behind a trait so tests can swap it.
pub trait Publisher: Sync {
    /// Sends one call. `Ok` holds one result per entry, in order: `None`
    /// for an accepted entry, the failure for a refused one. `Err` is a call
    /// that failed as a whole (`Error::PutEvents`).
    fn put_events(
        &self,
        entries: &[&Entry],
    ) -> impl Future<Output = Result<Vec<Option<EntryFailure>>, Error>> + Send;
}

/// Error codes that no retry will fix; everything else (ThrottlingException,
/// InternalFailure, and codes we do not know) is retried while time allows.
pub fn is_permanent(code: &str) -> bool {
    matches!(
        code,
        "InvalidArgument"
            | "MalformedDetail"
            | "NotAuthorizedForSourceException"
            | "NotAuthorizedForDetailTypeException"
            | "ValidationException"
            | "ResourceNotFoundException"
    ) || code.ends_with("AccessDenied")
        || code.ends_with("AccessDeniedException")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    Failed {
        code: String,
        message: String,
        attempts: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One per entry given, in the same order.
    pub outcomes: Vec<Delivery>,
    /// Entries sent again after a transient failure (each resend counts).
    pub retried: usize,
    pub calls: usize,
}

/// Groups entries, in order, into calls of at most `max_entries_per_call`
/// entries whose sizes add up to at most `max_request_bytes`.
pub fn plan_batches(sizes: &[usize], limits: &Limits) -> Vec<Vec<usize>> {
    group_sizes(sizes, limits.max_entries_per_call, limits.max_request_bytes)
        .into_iter()
        .map(|range| range.collect())
        .collect()
}

/// Splits items of these sizes, in order, into runs of at most `max_count`
/// items whose sizes add up to at most `max_bytes`; an item larger than
/// `max_bytes` goes alone (whoever receives it refuses it, and says so).
pub fn group_sizes(
    sizes: &[usize],
    max_count: usize,
    max_bytes: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, &size) in sizes.iter().enumerate() {
        let full = i > start && (i - start == max_count || bytes + size > max_bytes);
        if full {
            groups.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        groups.push(start..sizes.len());
    }
    groups
}

pub struct Delivering<'a, P> {
    pub publisher: &'a P,
    pub limits: &'a Limits,
    pub retry: &'a RetryPolicy,
    pub concurrency: usize,
    /// When the invocation must end (the Lambda deadline); retries stop
    /// `retry.deadline_margin` before it.
    pub deadline: Instant,
}

impl<P: Publisher> Delivering<'_, P> {
    pub async fn deliver(&self, entries: &[Entry]) -> Report {
        let sizes: Vec<usize> = entries.iter().map(Entry::size).collect();
        let batches = plan_batches(&sizes, self.limits);
        let results: Vec<BatchResult> = stream::iter(batches)
            .map(|batch| self.send_batch(entries, batch))
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;

        let mut outcomes = vec![Delivery::Delivered; entries.len()];
        let mut report_retried = 0;
        let mut calls = 0;
        for result in results {
            report_retried += result.retried;
            calls += result.calls;
            for (i, outcome) in result.outcomes {
                outcomes[i] = outcome;
            }
        }
        Report {
            outcomes,
            retried: report_retried,
            calls,
        }
    }

    async fn send_batch(&self, entries: &[Entry], batch: Vec<usize>) -> BatchResult {
        let stop_at = self
            .deadline
            .checked_sub(self.retry.deadline_margin)
            .unwrap_or(self.deadline);
        let mut result = BatchResult::default();
        let mut pending = batch;
        let mut attempt = 1;
        loop {
            let calling: Vec<&Entry> = pending.iter().map(|&i| &entries[i]).collect();
            let answer = self.call(&calling, stop_at).await;
            result.calls += 1;
            let mut again: Vec<(usize, EntryFailure)> = Vec::new();
            match answer {
                Ok(answers) if answers.len() == pending.len() => {
                    for (&i, failure) in pending.iter().zip(answers) {
                        match failure {
                            None => result.outcomes.push((i, Delivery::Delivered)),
                            Some(f) if is_permanent(&f.code) => {
                                result.outcomes.push((i, failed(f, attempt)))
                            }
                            Some(f) => again.push((i, f)),
                        }
                    }
                }
                Ok(answers) => {
                    let f = EntryFailure {
                        code: "InternalFailure".into(),
                        message: format!(
                            "PutEvents answered {} results for {} entries",
                            answers.len(),
                            pending.len()
                        ),
                    };
                    again.extend(pending.iter().map(|&i| (i, f.clone())));
                }
                Err(e) => {
                    let f = EntryFailure {
                        code: if e.is_transient() {
                            "CallFailed"
                        } else {
                            "CallRefused"
                        }
                        .into(),
                        message: e.to_string(),
                    };
                    if e.is_transient() {
                        again.extend(pending.iter().map(|&i| (i, f.clone())));
                    } else {
                        let outcomes = pending.iter().map(|&i| (i, failed(f.clone(), attempt)));
                        result.outcomes.extend(outcomes);
                    }
                }
            }
            if again.is_empty() {
                return result;
            }
            let delay = backoff(self.retry, attempt);
            let out_of_time = Instant::now() + delay >= stop_at;
            if attempt >= self.retry.max_attempts || out_of_time {
                let why = if out_of_time {
                    "no time left before the invocation's deadline"
                } else {
                    "attempts exhausted"
                };
                for (i, mut f) in again {
                    f.message = format!("{} ({why} after {attempt} attempts)", f.message);
                    result.outcomes.push((i, failed(f, attempt)));
                }
                return result;
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
            result.retried += again.len();
            pending = again.into_iter().map(|(i, _)| i).collect();
        }
    }

    async fn call(
        &self,
        entries: &[&Entry],
        stop_at: Instant,
    ) -> Result<Vec<Option<EntryFailure>>, Error> {
        let left = stop_at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::put_events(true, "no time left to call PutEvents"));
        }
        match tokio::time::timeout(left, self.publisher.put_events(entries)).await {
            Ok(answer) => answer,
            Err(_) => Err(Error::put_events(
                true,
                "PutEvents did not answer before the deadline (it may still have taken the entries)",
            )),
        }
    }
}

fn failed(f: EntryFailure, attempts: u32) -> Delivery {
    Delivery::Failed {
        code: f.code,
        message: f.message,
        attempts,
    }
}

#[derive(Default)]
struct BatchResult {
    outcomes: Vec<(usize, Delivery)>,
    retried: usize,
    calls: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(entries: usize, bytes: usize) -> Limits {
        Limits {
            max_entry_bytes: bytes,
            max_request_bytes: bytes,
            max_entries_per_call: entries,
        }
    }

    #[test]
    fn batches_hold_at_most_ten_entries() {
        let batches = plan_batches(&[1; 25], &limits(10, 1000));
        let lens: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(lens, vec![10, 10, 5]);
        let flat: Vec<usize> = batches.concat();
        assert_eq!(flat, (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn batches_stay_within_the_request_size() {
        let batches = plan_batches(&[400, 400, 300, 500, 1000, 1], &limits(10, 1000));
        assert_eq!(batches, vec![vec![0, 1], vec![2, 3], vec![4], vec![5]]);
        assert!(plan_batches(&[], &limits(10, 1000)).is_empty());
    }

    #[test]
    fn permanent_codes() {
        assert!(is_permanent("InvalidArgument"));
        assert!(is_permanent("MalformedDetail"));
        assert!(is_permanent("NotAuthorizedForSourceException"));
        assert!(is_permanent("AccessDeniedException"));
        assert!(!is_permanent("ThrottlingException"));
        assert!(!is_permanent("InternalFailure"));
        assert!(!is_permanent("SomethingNew"));
    }
}
