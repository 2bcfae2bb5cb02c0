//! `trailrelay check-template`: the SAM template, the enricher's environment
//! and the category list must agree, or events go to a bus nobody built (or
//! nobody may publish to).

use crate::finding::Finding;
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeSet;
use trailrelay_shared::settings::{bus_variable, DEFAULT_CONTROL_SOURCE, DEFAULT_SOURCE};
use trailrelay_shared::Category;

/// One thing checked: passes with `fine`, or fails with every problem.
fn finding(check: &'static str, problems: Vec<String>, fine: String) -> Finding {
    if problems.is_empty() {
        Finding::pass(check, fine)
    } else {
        Finding::fail(
            check,
            problems.join("; "),
            "make the template's buses, enricher environment and role name each category's own bus",
        )
    }
}

/// An intrinsic function in either spelling: `!Sub x` or `{Fn::Sub: x}`
/// (`Ref` has no `Fn::`).
fn intrinsic<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(t) if t.tag == format!("!{name}").as_str() => Some(&t.value),
        Value::Mapping(m) if m.len() == 1 => {
            let long = if name == "Ref" {
                name.to_owned()
            } else {
                format!("Fn::{name}")
            };
            m.get(long.as_str())
        }
        _ => None,
    }
}

fn get<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

/// The text of a `!Sub` whose argument is a plain string.
fn sub_text(value: &Value) -> Option<&str> {
    intrinsic(value, "Sub").and_then(Value::as_str)
}

/// The resource a `!GetAtt X.Arn` (or `Fn::GetAtt: [X, Arn]`) names.
fn get_att_resource(value: &Value) -> Option<String> {
    match intrinsic(value, "GetAtt")? {
        Value::String(s) => s.split('.').next().map(str::to_owned),
        Value::Sequence(seq) => seq.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn resources(template: &Value) -> Vec<(&str, &Value)> {
    template
        .get("Resources")
        .and_then(Value::as_mapping)
        .map(|m: &Mapping| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?, v)))
                .collect()
        })
        .unwrap_or_default()
}

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
        .collect()
}

/// The category a bus resource serves, from its name `${NamePrefix}-<category>`.
fn bus_suffix(bus: &Value) -> Option<&str> {
    let name = get(bus, &["Properties", "Name"]).and_then(sub_text)?;
    name.strip_prefix("${NamePrefix}-")
}

fn category_names() -> BTreeSet<String> {
    Category::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect()
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Checks a template's text; `Err` when it cannot be read as YAML at all.
pub fn check(text: &str) -> Result<Vec<Finding>, serde_yaml_ng::Error> {
    let template: Value = serde_yaml_ng::from_str(text)?;
    let expected = category_names();
    let mut findings = Vec::new();

    // 1. One bus per category, and no other besides the ingest bus.
    let buses = of_type(&template, "AWS::Events::EventBus");
    let bus_of = |id: &str| {
        buses
            .iter()
            .find(|(rid, _)| *rid == id)
            .and_then(|(_, b)| bus_suffix(b))
            .map(str::to_owned)
    };
    let built: BTreeSet<String> = buses
        .iter()
        .filter_map(|(_, b)| bus_suffix(b))
        .filter(|s| *s != "ingest")
        .map(str::to_owned)
        .collect();
    let mut problems = Vec::new();
    for missing in expected.difference(&built) {
        problems.push(format!("no bus for category {missing:?}"));
    }
    for extra in built.difference(&expected) {
        problems.push(format!("bus {extra:?} is not a category the relay knows"));
    }
    findings.push(finding(
        "category buses",
        problems,
        format!("one bus per category: {}", join(&expected)),
    ));

    // 2. The enricher's environment names each category's own bus.
    let enricher = of_type(&template, "AWS::Serverless::Function")
        .into_iter()
        .find(|(_, f)| {
            get(f, &["Metadata", "BuildProperties", "Binary"]).and_then(Value::as_str)
                == Some("trailrelay-enricher")
        });
    let mut problems = Vec::new();
    match enricher {
        None => problems.push("no function builds the trailrelay-enricher binary".to_owned()),
        Some((_, function)) => {
            let variables = get(function, &["Properties", "Environment", "Variables"]);
            for category in Category::ALL {
                let name = bus_variable(category);
                match variables.and_then(|v| v.get(name.as_str())) {
                    None => problems.push(format!("{name} is not set")),
                    Some(value) => match get_att_resource(value).and_then(|r| bus_of(&r)) {
                        Some(suffix) if suffix == category.as_str() => {}
                        Some(suffix) => problems.push(format!(
                            "{name} names the {suffix:?} bus, not the {category} bus"
                        )),
                        None => {
                            problems.push(format!("{name} does not name a bus of this template"))
                        }
                    },
                }
            }
        }
    }
    findings.push(finding(
        "enricher environment",
        problems,
        "TRAILRELAY_BUS_* name each category's own bus".to_owned(),
    ));

    // 3. The enricher's role may put events on exactly the category buses.
    let role_id = enricher
        .and_then(|(_, f)| get(f, &["Properties", "Role"]))
        .and_then(get_att_resource);
    let role = role_id
        .as_deref()
        .and_then(|id| resources(&template).into_iter().find(|(rid, _)| *rid == id));
    let mut problems = Vec::new();
    let mut allowed = BTreeSet::new();
    match role {
        None => problems.push("the enricher has no role of this template".to_owned()),
        Some((_, role)) => {
            let policies = get(role, &["Properties", "Policies"]).and_then(Value::as_sequence);
            let statements = policies
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    get(p, &["PolicyDocument", "Statement"]).and_then(Value::as_sequence)
                })
                .flatten();
            for statement in statements {
                let actions = match statement.get("Action") {
                    Some(Value::String(a)) => vec![a.as_str()],
                    Some(Value::Sequence(s)) => s.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                if !actions.iter().any(|a| a.starts_with("events:")) {
                    continue;
                }
                if actions.iter().any(|a| *a != "events:PutEvents") {
                    problems.push(format!("the role may also {actions:?}"));
                }
                let resources: Vec<&Value> = match statement.get("Resource") {
                    Some(Value::Sequence(s)) => s.iter().collect(),
                    Some(other) => vec![other],
                    None => vec![],
                };
                for resource in resources {
                    match sub_text(resource).and_then(|t| t.split_once(":event-bus/${NamePrefix}-"))
                    {
                        Some((_, suffix)) => {
                            allowed.insert(suffix.to_owned());
                        }
                        None => {
                            problems.push(format!("PutEvents on {resource:?}, not a category bus"))
                        }
                    }
                }
            }
        }
    }
    for missing in expected.difference(&allowed) {
        problems.push(format!(
            "the role may not put events on the {missing:?} bus"
        ));
    }
    for extra in allowed.difference(&expected) {
        problems.push(format!("the role may put events on the {extra:?} bus"));
    }
    findings.push(finding(
        "enricher role",
        problems,
        "events:PutEvents on exactly the category buses".to_owned(),
    ));

    // 4. The relay's own source is neither an AWS source nor the control
    // source, so the ingest rule (aws.* and the control source) never takes it back.
    let default_of = |name: &str| {
        get(&template, &["Parameters", name, "Default"])
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut problems = Vec::new();
    let source = default_of("EventSource");
    let control = default_of("ControlSource");
    if source.as_deref() != Some(DEFAULT_SOURCE) {
        problems.push(format!(
            "EventSource defaults to {source:?}, the relay to {DEFAULT_SOURCE:?}"
        ));
    }
    if control.as_deref() != Some(DEFAULT_CONTROL_SOURCE) {
        problems.push(format!(
            "ControlSource defaults to {control:?}, the relay to {DEFAULT_CONTROL_SOURCE:?}"
        ));
    }
    findings.push(finding(
        "sources",
        problems,
        format!("output source {DEFAULT_SOURCE:?}, control source {DEFAULT_CONTROL_SOURCE:?}"),
    ));
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Status;

    const TEMPLATE: &str = include_str!("../../template.yaml");

    fn failures(text: &str) -> Vec<Finding> {
        check(text)
            .unwrap()
            .into_iter()
            .filter(|f| f.status != Status::Pass)
            .collect()
    }

    #[test]
    fn the_shipped_template_agrees_with_the_relay() {
        assert_eq!(failures(TEMPLATE), vec![]);
    }

    #[test]
    fn a_missing_bus_is_found() {
        let broken = TEMPLATE.replace(
            "Name: !Sub \"${NamePrefix}-governance\"",
            "Name: !Sub \"${NamePrefix}-gov\"",
        );
        let f = failures(&broken);
        let text = format!("{f:?}");
        assert!(
            text.contains("no bus for category \\\"governance\\\""),
            "{text}"
        );
        assert!(text.contains("\\\"gov\\\" is not a category"), "{text}");
        assert!(
            text.contains("TRAILRELAY_BUS_GOVERNANCE names the \\\"gov\\\" bus"),
            "{text}"
        );
    }

    #[test]
    fn a_crossed_environment_variable_is_found() {
        let broken = TEMPLATE.replace(
            "TRAILRELAY_BUS_DATA: !GetAtt DataBus.Arn",
            "TRAILRELAY_BUS_DATA: !GetAtt AuditBus.Arn",
        );
        let text = format!("{:?}", failures(&broken));
        assert!(
            text.contains("TRAILRELAY_BUS_DATA names the \\\"audit\\\" bus"),
            "{text}"
        );
    }

    #[test]
    fn a_role_that_may_publish_too_widely_is_found() {
        let broken = TEMPLATE.replace(
            ":event-bus/${NamePrefix}-other\"\n        - PolicyName: run",
            ":event-bus/${NamePrefix}-other\"\n                  - \"*\"\n        - PolicyName: run",
        );
        assert_ne!(broken, TEMPLATE);
        let text = format!("{:?}", failures(&broken));
        assert!(text.contains("not a category bus"), "{text}");

        // The audit bus taken out of the enricher role's statement only (the
        // key policy names the same ARN, at the same indentation).
        let statement = TEMPLATE
            .find("PutEventsOnTheCategoryBusesOnly")
            .expect("the enricher role's statement");
        let audit = "                  - !Sub \"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${NamePrefix}-audit\"\n";
        let (head, tail) = TEMPLATE.split_at(statement);
        let narrowed = format!("{head}{}", tail.replacen(audit, "", 1));
        assert_ne!(narrowed, TEMPLATE);
        let text = format!("{:?}", failures(&narrowed));
        assert!(
            text.contains("may not put events on the \\\"audit\\\" bus"),
            "{text}"
        );
    }

    #[test]
    fn an_aws_output_source_is_found() {
        let broken = TEMPLATE.replace(
            "    Default: trailrelay\n    AllowedPattern: \"^(?!aws",
            "    Default: aws.trailrelay\n    AllowedPattern: \"^(?!aws",
        );
        assert_ne!(broken, TEMPLATE);
        let text = format!("{:?}", failures(&broken));
        assert!(text.contains("EventSource defaults to"), "{text}");
    }
}
