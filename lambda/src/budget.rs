//! How long an invocation may take.

use std::time::{Duration, SystemTime};

/// Lambda never runs a function longer than this.
pub const LAMBDA_MAX_DURATION: Duration = Duration::from_secs(15 * 60);

/// How long an invocation may take, from the deadline the runtime gave
/// (epoch time) and the time now. A deadline that is not a plausible point
/// in the next 15 minutes (local runtime emulators send 0, or a duration
/// instead of a time) gives `fallback` instead, and `false` with it.
pub fn invocation_budget(
    deadline: SystemTime,
    now: SystemTime,
    fallback: Duration,
) -> (Duration, bool) {
    match deadline.duration_since(now) {
        Ok(left) if !left.is_zero() && left <= LAMBDA_MAX_DURATION + Duration::from_secs(60) => {
            (left, true)
        }
        _ => (fallback, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_comes_from_a_plausible_deadline_only() {
        use std::time::UNIX_EPOCH;
        let now = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let fallback = Duration::from_secs(30);
        let in_ten = now + Duration::from_secs(10);
        assert_eq!(
            invocation_budget(in_ten, now, fallback),
            (Duration::from_secs(10), true)
        );
        // A duration sent as if it were a time: January 1970.
        let relative = UNIX_EPOCH + Duration::from_secs(600);
        assert_eq!(
            invocation_budget(relative, now, fallback),
            (fallback, false)
        );
        assert_eq!(invocation_budget(now, now, fallback), (fallback, false));
        let far = now + Duration::from_secs(3600 * 24 * 365);
        assert_eq!(invocation_budget(far, now, fallback), (fallback, false));
    }
}
