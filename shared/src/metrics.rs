//! Per-invocation counts of the relay (the enricher writes them as metrics).

use crate::category::Category;

/// Every input ends in exactly one of delivered, failed, refused or
/// consumed; the other counts describe them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    pub events_in: u64,
    pub delivered: u64,
    pub failed: u64,
    pub refused: u64,
    pub consumed: u64,
    pub retried: u64,
    pub malformed: u64,
    pub truncated: u64,
    pub unknown_account: u64,
    /// Heartbeats whose last-seen time was written to the path store.
    pub heartbeats_recorded: u64,
    /// Inputs put back by reconciliation (`late_delivery`).
    pub backfilled: u64,
    /// Delivered per category, in `Category::ALL` order.
    pub delivered_by_category: [u64; Category::COUNT],
}

impl Counters {
    /// Does every input have exactly one end?
    pub fn balanced(&self) -> bool {
        self.delivered + self.failed + self.refused + self.consumed == self.events_in
    }

    /// Each count by its metric name.
    pub fn totals(&self) -> [(&'static str, u64); 11] {
        [
            ("EventsIn", self.events_in),
            ("Delivered", self.delivered),
            ("Failed", self.failed),
            ("Refused", self.refused),
            ("Consumed", self.consumed),
            ("Retried", self.retried),
            ("Malformed", self.malformed),
            ("Truncated", self.truncated),
            ("UnknownAccount", self.unknown_account),
            ("HeartbeatsRecorded", self.heartbeats_recorded),
            ("Backfilled", self.backfilled),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbalanced_counts_are_noticed() {
        let c = Counters {
            events_in: 2,
            delivered: 1,
            ..Counters::default()
        };
        assert!(!c.balanced());
    }
}
