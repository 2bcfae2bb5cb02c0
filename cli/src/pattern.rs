//! `trailrelay pattern translate`: consumers' rules are written for raw
//! CloudTrail events (`source: aws.iam`, `account`, `region`), which match
//! nothing on a category bus, where `source` is the relay's and `account`
//! and `region` are the security account's. This rewrites such a pattern
//! into its equivalent there, and says which category buses carry the
//! events it matches.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use trailrelay_shared::event::service_name;
use trailrelay_shared::rules::{Facts, RuleTable};
use trailrelay_shared::Category;

#[derive(Debug, Serialize, PartialEq)]
pub struct Translated {
    /// The pattern for a rule on a category bus.
    pub pattern: Value,
    /// The category buses whose events it can match.
    pub buses: BTreeSet<Category>,
    /// What was rewritten, and anything that could not be.
    pub notes: Vec<String>,
}

/// Rewrites a pattern written for raw CloudTrail events.
pub fn translate(
    pattern: &Value,
    rules: &RuleTable,
    relay_source: &str,
) -> Result<Translated, String> {
    let Value::Object(input) = pattern else {
        return Err("an event pattern is a JSON object".into());
    };
    let mut out = Map::new();
    let mut detail = match input.get("detail") {
        Some(Value::Object(d)) => d.clone(),
        Some(_) => return Err("the pattern's detail is not an object".into()),
        None => Map::new(),
    };
    let mut notes = Vec::new();
    let mut services: Vec<Option<String>> = vec![None];
    for (key, value) in input {
        match key.as_str() {
            "detail" => {}
            "source" => {
                let matchers = value
                    .as_array()
                    .ok_or("source must be an array of matchers")?;
                let cloudtrail: Option<Vec<Value>> = matchers
                    .iter()
                    .map(|m| {
                        m.as_str()
                            .and_then(|s| s.strip_prefix("aws."))
                            .map(|svc| Value::from(format!("{svc}.amazonaws.com")))
                    })
                    .collect();
                match cloudtrail {
                    // Every matcher is a plain aws.<service>: CloudTrail's own field says it.
                    Some(sources) => {
                        services = sources
                            .iter()
                            .filter_map(Value::as_str)
                            .map(|s| Some(service_name(s).to_owned()))
                            .collect();
                        move_to(
                            "source",
                            "eventSource",
                            &mut detail,
                            &Value::Array(sources),
                            &mut notes,
                        )?;
                    }
                    // Prefixes, other sources: the original source, matched as written.
                    None => {
                        let mut enrichment = Map::new();
                        let mut provenance = Map::new();
                        provenance.insert("source".into(), value.clone());
                        enrichment.insert("provenance".into(), Value::Object(provenance));
                        merge_enrichment(&mut detail, enrichment)?;
                        notes.push("source -> detail.enrichment.provenance.source".into());
                    }
                }
            }
            "account" => move_to(
                "account",
                "recipientAccountId",
                &mut detail,
                value,
                &mut notes,
            )?,
            "region" => move_to("region", "awsRegion", &mut detail, value, &mut notes)?,
            "detail-type" | "resources" => {
                out.insert(key.clone(), value.clone());
            }
            other => {
                out.insert(other.to_owned(), value.clone());
                notes.push(format!("{other} is kept as it is: on a category bus it is the relay's envelope, not the original event's"));
            }
        }
    }
    out.insert("source".into(), Value::from(vec![relay_source]));
    if !detail.is_empty() {
        out.insert("detail".into(), Value::Object(detail.clone()));
    }
    let names: Vec<Option<&str>> = match detail.get("eventName").and_then(Value::as_array) {
        Some(names) if names.iter().all(Value::is_string) => {
            names.iter().map(Value::as_str).collect()
        }
        _ => vec![None],
    };
    let detail_types: Vec<Option<&str>> = match input.get("detail-type").and_then(Value::as_array) {
        Some(types) if types.iter().all(Value::is_string) => {
            types.iter().map(Value::as_str).collect()
        }
        _ => vec![None],
    };
    let mut buses = BTreeSet::new();
    for service in &services {
        for name in &names {
            match name {
                Some(name) => {
                    for detail_type in &detail_types {
                        let facts = Facts {
                            service: service.as_deref(),
                            event_name: Some(name),
                            detail_type: detail_type.or(Some("AWS API Call via CloudTrail")),
                        };
                        buses.insert(rules.classify(facts).category);
                    }
                }
                None => buses.extend(rules.categories_for(service.as_deref())),
            }
        }
    }
    Ok(Translated {
        pattern: Value::Object(out),
        buses,
        notes,
    })
}

/// Moves a top-level field of the raw event's pattern into `detail`.
fn move_to(
    from: &str,
    to: &str,
    detail: &mut Map<String, Value>,
    value: &Value,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    if detail.contains_key(to) {
        return Err(format!(
            "the pattern has both {from} and detail.{to}; keep one"
        ));
    }
    detail.insert(to.to_owned(), value.clone());
    notes.push(format!("{from} -> detail.{to}"));
    Ok(())
}

fn merge_enrichment(
    detail: &mut Map<String, Value>,
    enrichment: Map<String, Value>,
) -> Result<(), String> {
    match detail.get_mut("enrichment") {
        None => {
            detail.insert("enrichment".into(), Value::Object(enrichment));
            Ok(())
        }
        Some(Value::Object(existing)) if !existing.contains_key("provenance") => {
            existing.extend(enrichment);
            Ok(())
        }
        Some(_) => Err("the pattern already matches detail.enrichment.provenance".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(pattern: Value) -> Translated {
        translate(&pattern, &RuleTable::embedded().unwrap(), "trailrelay").unwrap()
    }

    #[test]
    fn a_cloudtrail_pattern_becomes_its_category_bus_equivalent() {
        let t = run(
            json!({"source": ["aws.iam"], "account": ["111111111111"], "region": ["us-east-1"],
            "detail-type": ["AWS API Call via CloudTrail"], "detail": {"eventName": ["CreateUser"]}}),
        );
        assert_eq!(
            t.pattern,
            json!({"source": ["trailrelay"], "detail-type": ["AWS API Call via CloudTrail"],
                "detail": {"eventName": ["CreateUser"], "eventSource": ["iam.amazonaws.com"],
                    "recipientAccountId": ["111111111111"], "awsRegion": ["us-east-1"]}})
        );
        assert_eq!(t.buses, BTreeSet::from([Category::Identity]));
    }

    #[test]
    fn a_service_without_event_names_may_land_on_each_of_its_categories() {
        let t = run(json!({"source": ["aws.ec2"]}));
        assert!(t.buses.contains(&Category::Network) && t.buses.contains(&Category::Compute));
        assert!(
            t.buses.contains(&Category::Data),
            "EBS snapshots: {:?}",
            t.buses
        );
    }

    #[test]
    fn other_source_matchers_match_the_original_source_as_written() {
        let t = run(json!({"source": [{"prefix": "aws."}]}));
        assert_eq!(
            t.pattern["detail"]["enrichment"]["provenance"]["source"],
            json!([{"prefix": "aws."}])
        );
        assert_eq!(t.buses.len(), Category::ALL.len());
    }

    #[test]
    fn conflicting_fields_are_refused() {
        let rules = RuleTable::embedded().unwrap();
        let both = json!({"account": ["1"], "detail": {"recipientAccountId": ["2"]}});
        assert!(translate(&both, &rules, "trailrelay")
            .unwrap_err()
            .contains("keep one"));
        assert!(translate(&json!([1]), &rules, "trailrelay").is_err());
    }
}
