//! CloudWatch embedded metric format: one JSON log line that CloudWatch
//! Logs turns into metrics, without any API call from the function. The
//! one writer of such lines for every function.

use serde_json::{json, Map, Value};

/// The namespace of every trailrelay metric.
pub const NAMESPACE: &str = "trailrelay";

/// One EMF document: the metrics (all counts), under the dimensions given
/// as (name, value); no dimension gives the totals.
pub fn line(timestamp_ms: i64, dimensions: &[(&str, &str)], metrics: &[(&str, u64)]) -> String {
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": definitions,
            }],
        }),
    );
    for (name, value) in dimensions {
        doc.insert((*name).into(), json!(value));
    }
    for (name, value) in metrics {
        doc.insert((*name).into(), json!(value));
    }
    Value::Object(doc).to_string()
}

/// Milliseconds since the epoch, as EMF's `Timestamp` wants.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_every_metric_and_dimension_it_carries() {
        let line = line(
            1_700_000_000_000,
            &[("Category", "identity")],
            &[("Delivered", 2), ("Failed", 0)],
        );
        let doc: Value = serde_json::from_str(&line).unwrap();
        let meta = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(meta["Namespace"], NAMESPACE);
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        let declared: Vec<&str> = meta["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(declared, ["Delivered", "Failed"]);
        assert_eq!(doc["Delivered"], 2);
        assert_eq!(doc["Failed"], 0);
        assert_eq!(meta["Dimensions"], json!([["Category"]]));
        assert_eq!(doc["Category"], "identity");
    }

    #[test]
    fn totals_have_one_empty_dimension_set() {
        let doc: Value = serde_json::from_str(&line(1, &[], &[("EventsIn", 3)])).unwrap();
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }
}
