//! Retrying with backoff: the policy and its delays, for every caller that
//! retries (publishing entries, the sync's throttled reads).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The first backoff's upper bound; it doubles with each attempt.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Attempts per entry, the first included.
    pub max_attempts: u32,
    /// Time kept back from the invocation's deadline, so that the handler
    /// can still report what failed before Lambda stops it.
    pub deadline_margin: Duration,
    /// The time an invocation allows itself when the runtime's deadline is
    /// not a plausible time (as local emulators send).
    pub fallback_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            max_attempts: 8,
            deadline_margin: Duration::from_millis(500),
            fallback_budget: Duration::from_secs(30),
        }
    }
}

/// The backoff before attempt `attempt + 1`: full jitter, uniformly drawn
/// between zero and `base * 2^(attempt-1)`, capped at `max_delay`.
pub fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let cap = exp.min(policy.max_delay);
    let micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(fastrand::u64(0..=micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_cap() {
        let policy = RetryPolicy::default();
        for attempt in 1..40 {
            let cap = (policy.base_delay * 2u32.pow((attempt - 1).min(20))).min(policy.max_delay);
            assert!(backoff(&policy, attempt) <= cap);
        }
    }
}
