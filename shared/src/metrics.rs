//! Per-invocation counts, written as CloudWatch embedded metric format
//! (EMF) lines: CloudWatch Logs turns them into metrics without any API
//! call from the function.

use crate::category::Category;
use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "trailrelay";

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
    /// Delivered per category, in `Category::ALL` order.
    pub delivered_by_category: [u64; Category::COUNT],
}

impl Counters {
    /// Does every input have exactly one end?
    pub fn balanced(&self) -> bool {
        self.delivered + self.failed + self.refused + self.consumed == self.events_in
    }

    fn totals(&self) -> [(&'static str, u64); 10] {
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
        ]
    }

    /// EMF documents: one with the totals (no dimension), and one per
    /// category that delivered anything (dimension `Category`).
    pub fn to_emf(&self, timestamp_ms: i64) -> Vec<String> {
        let mut lines = Vec::new();
        let totals = self.totals();
        lines.push(emf_line(timestamp_ms, &[], &totals, &[]));
        for category in Category::ALL {
            let n = self.delivered_by_category[category.index()];
            if n > 0 {
                lines.push(emf_line(
                    timestamp_ms,
                    &["Category"],
                    &[("Delivered", n)],
                    &[("Category", category.as_str())],
                ));
            }
        }
        lines
    }
}

fn emf_line(
    timestamp_ms: i64,
    dimensions: &[&str],
    metrics: &[(&str, u64)],
    dimension_values: &[(&str, &str)],
) -> String {
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": definitions,
            }],
        }),
    );
    for (name, value) in dimension_values {
        doc.insert((*name).into(), json!(value));
    }
    for (name, value) in metrics {
        doc.insert((*name).into(), json!(value));
    }
    Value::Object(doc).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_declare_every_metric_they_carry() {
        let mut c = Counters {
            events_in: 3,
            delivered: 2,
            refused: 1,
            ..Counters::default()
        };
        c.delivered_by_category[Category::Identity.index()] = 2;
        assert!(c.balanced());
        let lines = c.to_emf(1_700_000_000_000);
        assert_eq!(lines.len(), 2);
        for line in &lines {
            let doc: Value = serde_json::from_str(line).unwrap();
            let meta = &doc["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(meta["Namespace"], NAMESPACE);
            for m in meta["Metrics"].as_array().unwrap() {
                let name = m["Name"].as_str().unwrap();
                assert!(doc[name].is_u64(), "{name} missing in {line}");
            }
            for d in meta["Dimensions"][0].as_array().unwrap() {
                assert!(doc[d.as_str().unwrap()].is_string());
            }
        }
        let per_category: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(per_category["Category"], "identity");
        assert_eq!(per_category["Delivered"], 2);
    }

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
