//! The classification table: an ordered list of rules, first match wins.
//!
//! The table is data (`config/rules.toml`, embedded as the default); this
//! module only loads, checks and evaluates it.

use crate::category::Category;
use crate::error::Error;
use crate::event::service_name;
use aho_corasick::AhoCorasick;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use wildmatch::WildMatch;

/// The rule table compiled into every binary, used when no file is given.
pub const DEFAULT_RULES: &str = include_str!("../../config/rules.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rule: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    category: Category,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    detail_types: Vec<String>,
    /// Why the rule is there; for the reader of the table only.
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

/// An event-name or detail-type pattern: exact, `Prefix*`, or a glob with
/// `*` and `?`. Case-sensitive, as CloudTrail event names are. The common
/// glob shapes (`*Part*`, `*Suffix`) get substring tests of their own: the
/// ec2 rules are dozens of them, tried on every ec2 event.
#[derive(Debug)]
enum Pattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Glob(WildMatch),
}

impl Pattern {
    fn parse(text: &str) -> Pattern {
        let wild = |c: char| c == '*' || c == '?';
        let inner_wild = |s: &str| s.contains(wild);
        if !inner_wild(text) {
            return Pattern::Exact(text.to_owned());
        }
        let head = text.strip_prefix('*');
        let tail = text.strip_suffix('*');
        match (head, tail) {
            (None, Some(prefix)) if !inner_wild(prefix) => Pattern::Prefix(prefix.to_owned()),
            (Some(suffix), None) if !inner_wild(suffix) => Pattern::Suffix(suffix.to_owned()),
            (Some(_), Some(_)) if text.len() >= 2 && !inner_wild(&text[1..text.len() - 1]) => {
                Pattern::Contains(text[1..text.len() - 1].to_owned())
            }
            _ => Pattern::Glob(WildMatch::new(text)),
        }
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Exact(p) => value == p,
            Pattern::Prefix(p) => value.starts_with(p.as_str()),
            Pattern::Suffix(p) => value.ends_with(p.as_str()),
            Pattern::Contains(p) => value.contains(p.as_str()),
            Pattern::Glob(g) => g.matches(value),
        }
    }
}

/// One rule's list of patterns for one field: matched when any pattern is.
/// The `*Part*` patterns are searched for together in one scan of the value
/// (the ec2 network rule alone has dozens of them).
#[derive(Debug, Default)]
struct Patterns {
    others: Vec<Pattern>,
    parts: Option<AhoCorasick>,
}

impl Patterns {
    fn new(patterns: Vec<Pattern>) -> Result<Patterns, String> {
        let (parts, others): (Vec<Pattern>, Vec<Pattern>) = patterns
            .into_iter()
            .partition(|p| matches!(p, Pattern::Contains(_)));
        let parts: Vec<String> = parts
            .into_iter()
            .filter_map(|p| match p {
                Pattern::Contains(part) => Some(part),
                _ => None,
            })
            .collect();
        let parts = match parts.is_empty() {
            true => None,
            false => Some(AhoCorasick::new(&parts).map_err(|e| e.to_string())?),
        };
        Ok(Patterns { others, parts })
    }

    fn is_empty(&self) -> bool {
        self.others.is_empty() && self.parts.is_none()
    }

    /// An empty list places no condition; a missing value meets no pattern.
    fn admit(&self, value: Option<&str>) -> bool {
        if self.is_empty() {
            return true;
        }
        value.is_some_and(|v| {
            self.others.iter().any(|p| p.matches(v))
                || self.parts.as_ref().is_some_and(|parts| parts.is_match(v))
        })
    }
}

#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub category: Category,
    services: Vec<String>,
    events: Patterns,
    detail_types: Patterns,
}

impl Rule {
    fn is_catch_all(&self) -> bool {
        self.services.is_empty() && self.events.is_empty() && self.detail_types.is_empty()
    }

    fn matches(&self, event_name: Option<&str>, detail_type: Option<&str>) -> bool {
        self.events.admit(event_name) && self.detail_types.admit(detail_type)
    }
}

/// What classification needs to know of an event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// `eventSource` without `.amazonaws.com`.
    pub service: Option<&'a str>,
    pub event_name: Option<&'a str>,
    pub detail_type: Option<&'a str>,
}

#[derive(Debug)]
pub struct RuleTable {
    rules: Vec<Rule>,
    /// For each service named in some rule: the indices of the rules that can
    /// match it (its own and the service-agnostic ones), in table order.
    by_service: HashMap<String, Vec<usize>>,
    /// The rules that name no service, in table order.
    any_service: Vec<usize>,
}

impl RuleTable {
    /// Parses and checks a TOML table; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<RuleTable, Error> {
        let file: RuleFile = toml::from_str(text).map_err(|e| Error::Rules {
            origin: origin.to_owned(),
            reason: e.to_string(),
        })?;
        Self::build(file.rule).map_err(|reason| Error::Rules {
            origin: origin.to_owned(),
            reason,
        })
    }

    pub fn embedded() -> Result<RuleTable, Error> {
        Self::from_toml(DEFAULT_RULES, "embedded config/rules.toml")
    }

    fn build(specs: Vec<RuleSpec>) -> Result<RuleTable, String> {
        let mut seen = HashSet::new();
        let mut rules = Vec::with_capacity(specs.len());
        for spec in specs {
            if spec.id.trim().is_empty() {
                return Err("a rule has an empty id".into());
            }
            if !seen.insert(spec.id.clone()) {
                return Err(format!("rule id {:?} is used twice", spec.id));
            }
            let patterns = |list: &[String], what: &str| -> Result<Patterns, String> {
                let parsed = list
                    .iter()
                    .map(|p| {
                        if p.is_empty() {
                            Err(format!("rule {:?} has an empty {what} pattern", spec.id))
                        } else {
                            Ok(Pattern::parse(p))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Patterns::new(parsed).map_err(|e| format!("rule {:?}: {e}", spec.id))
            };
            let services = spec
                .services
                .iter()
                .map(|s| {
                    if s.is_empty() {
                        Err(format!("rule {:?} has an empty service", spec.id))
                    } else {
                        Ok(service_name(s).to_owned())
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            rules.push(Rule {
                events: patterns(&spec.events, "event")?,
                detail_types: patterns(&spec.detail_types, "detail-type")?,
                id: spec.id,
                category: spec.category,
                services,
            });
        }
        match rules.last() {
            None => return Err("the table has no rules".into()),
            Some(last) if !last.is_catch_all() || last.category != Category::Other => {
                return Err(format!(
                    "the last rule ({:?}) must be the catch-all: category \"other\" with no services, events or detail_types",
                    last.id
                ))
            }
            Some(_) => {}
        }
        if let Some(early) = rules[..rules.len() - 1].iter().find(|r| r.is_catch_all()) {
            return Err(format!(
                "rule {:?} matches everything, so the rules after it can never match",
                early.id
            ));
        }

        let any_service: Vec<usize> = (0..rules.len())
            .filter(|&i| rules[i].services.is_empty())
            .collect();
        let mut by_service: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, rule) in rules.iter().enumerate() {
            for service in &rule.services {
                by_service.entry(service.clone()).or_default().push(i);
            }
        }
        for indices in by_service.values_mut() {
            indices.extend(&any_service);
            indices.sort_unstable();
            indices.dedup();
        }
        Ok(RuleTable {
            rules,
            by_service,
            any_service,
        })
    }

    /// The first rule that matches; the table always ends in a catch-all, so
    /// there is always one.
    pub fn classify(&self, facts: Facts<'_>) -> &Rule {
        let candidates = facts
            .service
            .and_then(|s| self.by_service.get(s))
            .unwrap_or(&self.any_service);
        candidates
            .iter()
            .map(|&i| &self.rules[i])
            .find(|rule| rule.matches(facts.event_name, facts.detail_type))
            .unwrap_or_else(|| self.catch_all())
    }

    pub fn catch_all(&self) -> &Rule {
        // `build` refuses a table without a final catch-all.
        &self.rules[self.rules.len() - 1]
    }

    /// Every category an event of this service (any service: `None`) may
    /// get, whatever its name.
    pub fn categories_for(&self, service: Option<&str>) -> std::collections::BTreeSet<Category> {
        let candidates: Vec<usize> = match service {
            Some(s) => self.by_service.get(s).unwrap_or(&self.any_service).clone(),
            None => (0..self.rules.len()).collect(),
        };
        candidates.iter().map(|&i| self.rules[i].category).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<RuleTable, Error> {
        RuleTable::from_toml(text, "test")
    }

    fn facts<'a>(service: &'a str, event: &'a str) -> Facts<'a> {
        Facts {
            service: Some(service),
            event_name: Some(event),
            detail_type: Some("AWS API Call via CloudTrail"),
        }
    }

    const SMALL: &str = r#"
        [[rule]]
        id = "ec2-sg"
        category = "network"
        services = ["ec2.amazonaws.com"]
        events = ["*SecurityGroup*"]
        [[rule]]
        id = "snap"
        category = "data"
        services = ["ec2"]
        events = ["CreateSnapshot", "Copy*"]
        [[rule]]
        id = "signin"
        category = "identity"
        detail_types = ["AWS Console Sign In via CloudTrail"]
        [[rule]]
        id = "ec2"
        category = "compute"
        services = ["ec2"]
        [[rule]]
        id = "other"
        category = "other"
    "#;

    #[test]
    fn first_match_wins_and_patterns_work() {
        let t = table(SMALL).unwrap();
        assert_eq!(
            t.classify(facts("ec2", "AuthorizeSecurityGroupIngress")).id,
            "ec2-sg"
        );
        assert_eq!(t.classify(facts("ec2", "CreateSnapshot")).id, "snap");
        assert_eq!(t.classify(facts("ec2", "CreateSnapshots")).id, "ec2");
        assert_eq!(t.classify(facts("ec2", "CopyImage")).id, "snap");
        assert_eq!(t.classify(facts("ec2", "RunInstances")).id, "ec2");
        assert_eq!(t.classify(facts("nosuch", "Anything")).id, "other");
    }

    #[test]
    fn every_pattern_shape_matches_as_a_glob_would() {
        let values = [
            "",
            "a",
            "CreateVpc",
            "DescribeVpcs",
            "Vpc",
            "AuthorizeSecurityGroupIngress",
            "x*y",
            "abc?",
        ];
        for pattern in [
            "*Vpc*",
            "*Vpc",
            "Vpc*",
            "Create*Vpc",
            "*",
            "**",
            "C?eate*",
            "*?*",
            "Vpc",
            "*a*c*",
            "x\\*y",
        ] {
            let ours = Pattern::parse(pattern);
            let glob = WildMatch::new(pattern);
            for value in values {
                assert_eq!(
                    ours.matches(value),
                    glob.matches(value),
                    "{pattern} on {value}"
                );
            }
        }
    }

    #[test]
    fn event_names_are_case_sensitive() {
        let t = table(SMALL).unwrap();
        assert_eq!(t.classify(facts("ec2", "createsnapshot")).id, "ec2");
    }

    #[test]
    fn detail_type_rules_apply_to_any_service() {
        let t = table(SMALL).unwrap();
        let f = Facts {
            service: Some("signin"),
            event_name: Some("ConsoleLogin"),
            detail_type: Some("AWS Console Sign In via CloudTrail"),
        };
        assert_eq!(t.classify(f).id, "signin");
        assert_eq!(t.classify(Facts::default()).id, "other");
    }

    #[test]
    fn a_rule_with_event_patterns_needs_an_event_name() {
        let t = table(SMALL).unwrap();
        let f = Facts {
            service: Some("ec2"),
            event_name: None,
            detail_type: None,
        };
        assert_eq!(t.classify(f).id, "ec2");
    }

    #[test]
    fn bad_tables_are_refused_with_a_reason() {
        let no_catch_all = "[[rule]]\nid = \"a\"\ncategory = \"data\"\nservices = [\"s3\"]\n";
        let err = table(no_catch_all).unwrap_err().to_string();
        assert!(err.contains("catch-all"), "{err}");

        let twice = "[[rule]]\nid = \"a\"\ncategory = \"data\"\nservices = [\"s3\"]\n[[rule]]\nid = \"a\"\ncategory = \"other\"\n";
        assert!(table(twice).unwrap_err().to_string().contains("used twice"));

        let early = "[[rule]]\nid = \"a\"\ncategory = \"other\"\n[[rule]]\nid = \"b\"\ncategory = \"other\"\n";
        assert!(table(early)
            .unwrap_err()
            .to_string()
            .contains("never match"));

        let bad_category = "[[rule]]\nid = \"a\"\ncategory = \"nope\"\n";
        assert!(table(bad_category).is_err());

        let unknown_key = "[[rule]]\nid = \"a\"\ncategory = \"other\"\nservice = \"s3\"\n";
        assert!(table(unknown_key).is_err());
    }

    #[test]
    fn embedded_table_loads() {
        let t = RuleTable::embedded().unwrap();
        assert_eq!(t.catch_all().category, Category::Other);
    }
}
