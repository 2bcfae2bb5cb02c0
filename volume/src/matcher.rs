//! EventBridge's event-pattern matching, as its documentation states it
//! (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html,
//! eb-create-pattern-operators.html): what a suggested exclusion would drop
//! is computed with this, so it must agree with EventBridge on every case
//! the documentation gives (tests/documented.rs).
//!
//! - A pattern is an object; its keys are ANDed. A key's value is either an
//!   object (matched against the event's object at that key) or an array of
//!   matchers, ORed, for a leaf.
//! - A leaf matcher never matches an absent field, except `{"exists": false}`;
//!   `anything-but` included ("a matcher other than `exists: false` never
//!   matches an absent field").
//! - When the event's value is an array, the leaf matches when any of its
//!   elements does.
//! - `$or` holds sub-patterns, any of which may match.

use serde_json::{Map, Value};
use std::net::Ipv4Addr;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatternError {
    #[error("an event pattern is a JSON object, not {0}")]
    NotAnObject(String),
    #[error("{path}: {problem}")]
    Invalid { path: String, problem: String },
}

/// A parsed event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    fields: Vec<(String, Node)>,
    any_of: Vec<Vec<Pattern>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Object(Pattern),
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Exactly(Value),
    Prefix(Text),
    Suffix(Text),
    EqualsIgnoreCase(String),
    Wildcard(String),
    AnythingBut(Vec<Matcher>),
    Numeric(Vec<(Comparison, f64)>),
    Exists(bool),
    Cidr { network: u32, mask: u32 },
}

#[derive(Debug, Clone, PartialEq)]
enum Text {
    Exact(String),
    IgnoringCase(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Comparison {
    Less,
    LessOrEqual,
    Equal,
    GreaterOrEqual,
    Greater,
}

impl Pattern {
    /// Parses a pattern (a JSON object).
    pub fn parse(pattern: &Value) -> Result<Pattern, PatternError> {
        match pattern {
            Value::Object(map) => Pattern::object(map, ""),
            other => Err(PatternError::NotAnObject(kind(other).into())),
        }
    }

    /// Does the event (a JSON object, EventBridge's envelope) match?
    pub fn matches(&self, event: &Value) -> bool {
        match event {
            Value::Object(map) => self.matches_object(map),
            _ => false,
        }
    }

    fn object(map: &Map<String, Value>, at: &str) -> Result<Pattern, PatternError> {
        let mut fields = Vec::new();
        let mut any_of = Vec::new();
        for (key, value) in map {
            let path = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            if key == "$or" {
                let branches = value
                    .as_array()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| invalid(&path, "$or takes a non-empty array of patterns"))?;
                let parsed = branches
                    .iter()
                    .map(|b| match b {
                        Value::Object(m) => Pattern::object(m, at),
                        _ => Err(invalid(&path, "each $or branch is an object")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                any_of.push(parsed);
                continue;
            }
            let node = match value {
                Value::Object(m) => Node::Object(Pattern::object(m, &path)?),
                Value::Array(items) if !items.is_empty() => Node::Leaf(
                    items
                        .iter()
                        .map(|m| Matcher::parse(m, &path))
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err(invalid(&path, "a leaf is a non-empty array of matchers")),
            };
            fields.push((key.clone(), node));
        }
        Ok(Pattern { fields, any_of })
    }

    fn matches_object(&self, event: &Map<String, Value>) -> bool {
        self.fields.iter().all(|(key, node)| match node {
            Node::Object(inner) => match event.get(key) {
                Some(Value::Object(map)) => inner.matches_object(map),
                // A nested pattern of only `exists: false` leaves matches
                // when the object is absent: every field under it is.
                None => inner.matches_absent(),
                Some(_) => false,
            },
            Node::Leaf(matchers) => leaf_matches(matchers, event.get(key)),
        }) && self
            .any_of
            .iter()
            .all(|branches| branches.iter().any(|b| b.matches_object(event)))
    }

    fn matches_absent(&self) -> bool {
        self.fields.iter().all(|(_, node)| match node {
            Node::Object(inner) => inner.matches_absent(),
            Node::Leaf(matchers) => leaf_matches(matchers, None),
        }) && self
            .any_of
            .iter()
            .all(|branches| branches.iter().any(Pattern::matches_absent))
    }
}

fn leaf_matches(matchers: &[Matcher], value: Option<&Value>) -> bool {
    match value {
        None => matchers.contains(&Matcher::Exists(false)),
        Some(Value::Array(items)) => {
            // exists: true holds for a present array, even an empty one.
            matchers.contains(&Matcher::Exists(true))
                || items
                    .iter()
                    .any(|item| matchers.iter().any(|m| m.matches(item)))
        }
        Some(value) => matchers.iter().any(|m| m.matches(value)),
    }
}

impl Matcher {
    fn parse(value: &Value, path: &str) -> Result<Matcher, PatternError> {
        match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => {
                Ok(Matcher::Exactly(value.clone()))
            }
            Value::Array(_) => Err(invalid(
                path,
                "a matcher is a value or an object, not an array",
            )),
            Value::Object(map) => {
                let [(op, arg)] = map.iter().collect::<Vec<_>>()[..] else {
                    return Err(invalid(path, "a matcher object has exactly one operator"));
                };
                match op.as_str() {
                    "prefix" => Ok(Matcher::Prefix(Text::parse(arg, path, "prefix")?)),
                    "suffix" => Ok(Matcher::Suffix(Text::parse(arg, path, "suffix")?)),
                    "equals-ignore-case" => Ok(Matcher::EqualsIgnoreCase(
                        string(arg, path, "equals-ignore-case")?.to_lowercase(),
                    )),
                    "wildcard" => Ok(Matcher::Wildcard(string(arg, path, "wildcard")?.into())),
                    "exists" => match arg {
                        Value::Bool(b) => Ok(Matcher::Exists(*b)),
                        _ => Err(invalid(path, "exists takes true or false")),
                    },
                    "numeric" => Ok(Matcher::Numeric(numeric(arg, path)?)),
                    "cidr" => cidr(string(arg, path, "cidr")?, path),
                    "anything-but" => Ok(Matcher::AnythingBut(anything_but(arg, path)?)),
                    other => Err(invalid(path, &format!("unknown operator {other:?}"))),
                }
            }
        }
    }

    fn matches(&self, value: &Value) -> bool {
        match self {
            Matcher::Exactly(expected) => same(expected, value),
            Matcher::Prefix(text) => value.as_str().is_some_and(|s| text.starts(s)),
            Matcher::Suffix(text) => value.as_str().is_some_and(|s| text.ends(s)),
            Matcher::EqualsIgnoreCase(lower) => {
                value.as_str().is_some_and(|s| s.to_lowercase() == *lower)
            }
            Matcher::Wildcard(glob) => value.as_str().is_some_and(|s| wildcard(glob, s)),
            Matcher::AnythingBut(excluded) => !excluded.iter().any(|m| m.matches(value)),
            Matcher::Numeric(bounds) => value.as_f64().is_some_and(|n| {
                bounds.iter().all(|(cmp, bound)| match cmp {
                    Comparison::Less => n < *bound,
                    Comparison::LessOrEqual => n <= *bound,
                    Comparison::Equal => n == *bound,
                    Comparison::GreaterOrEqual => n >= *bound,
                    Comparison::Greater => n > *bound,
                })
            }),
            // Present (the caller handles absence and arrays).
            Matcher::Exists(present) => *present,
            Matcher::Cidr { network, mask } => value
                .as_str()
                .and_then(|s| s.parse::<Ipv4Addr>().ok())
                .is_some_and(|ip| u32::from(ip) & mask == *network),
        }
    }
}

impl Text {
    fn parse(arg: &Value, path: &str, op: &str) -> Result<Text, PatternError> {
        match arg {
            Value::String(s) => Ok(Text::Exact(s.clone())),
            Value::Object(m) => match m.get("equals-ignore-case") {
                Some(Value::String(s)) if m.len() == 1 => Ok(Text::IgnoringCase(s.to_lowercase())),
                _ => Err(invalid(
                    path,
                    &format!("{op} takes a string or {{\"equals-ignore-case\": string}}"),
                )),
            },
            _ => Err(invalid(path, &format!("{op} takes a string"))),
        }
    }

    fn starts(&self, s: &str) -> bool {
        match self {
            Text::Exact(p) => s.starts_with(p.as_str()),
            Text::IgnoringCase(p) => s.to_lowercase().starts_with(p.as_str()),
        }
    }

    fn ends(&self, s: &str) -> bool {
        match self {
            Text::Exact(p) => s.ends_with(p.as_str()),
            Text::IgnoringCase(p) => s.to_lowercase().ends_with(p.as_str()),
        }
    }
}

/// `anything-but`: a value, a list of values, or one of prefix, suffix,
/// equals-ignore-case (a string or a list) and wildcard.
fn anything_but(arg: &Value, path: &str) -> Result<Vec<Matcher>, PatternError> {
    match arg {
        Value::String(_) | Value::Number(_) => Ok(vec![Matcher::Exactly(arg.clone())]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| match v {
                Value::String(_) | Value::Number(_) => Ok(Matcher::Exactly(v.clone())),
                _ => Err(invalid(path, "anything-but lists strings or numbers")),
            })
            .collect(),
        Value::Object(m) if m.len() == 1 => {
            let Some((op, inner)) = m.iter().next() else {
                return Err(invalid(path, "anything-but takes one operator"));
            };
            let op = op.as_str();
            match op {
                "prefix" => Ok(vec![Matcher::Prefix(Text::Exact(
                    string(inner, path, op)?.into(),
                ))]),
                "suffix" => Ok(vec![Matcher::Suffix(Text::Exact(
                    string(inner, path, op)?.into(),
                ))]),
                "wildcard" => Ok(vec![Matcher::Wildcard(string(inner, path, op)?.into())]),
                "equals-ignore-case" => match inner {
                    Value::String(s) => Ok(vec![Matcher::EqualsIgnoreCase(s.to_lowercase())]),
                    Value::Array(items) => items
                        .iter()
                        .map(|v| {
                            Ok(Matcher::EqualsIgnoreCase(
                                string(v, path, op)?.to_lowercase(),
                            ))
                        })
                        .collect(),
                    _ => Err(invalid(
                        path,
                        "equals-ignore-case takes a string or strings",
                    )),
                },
                other => Err(invalid(
                    path,
                    &format!("anything-but cannot hold {other:?}"),
                )),
            }
        }
        _ => Err(invalid(
            path,
            "anything-but takes a value, a list, or one operator",
        )),
    }
}

fn numeric(arg: &Value, path: &str) -> Result<Vec<(Comparison, f64)>, PatternError> {
    let items = arg
        .as_array()
        .filter(|a| !a.is_empty() && a.len() % 2 == 0)
        .ok_or_else(|| invalid(path, "numeric takes operator, number pairs"))?;
    items
        .chunks(2)
        .map(|pair| {
            let cmp = match pair[0].as_str() {
                Some("<") => Comparison::Less,
                Some("<=") => Comparison::LessOrEqual,
                Some("=") => Comparison::Equal,
                Some(">=") => Comparison::GreaterOrEqual,
                Some(">") => Comparison::Greater,
                _ => return Err(invalid(path, "numeric operators are <, <=, =, >=, >")),
            };
            let bound = pair[1]
                .as_f64()
                .ok_or_else(|| invalid(path, "numeric bounds are numbers"))?;
            Ok((cmp, bound))
        })
        .collect()
}

fn cidr(text: &str, path: &str) -> Result<Matcher, PatternError> {
    let bad = || invalid(path, "cidr takes an IPv4 block such as 10.0.0.0/24");
    let (addr, bits) = text.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let bits: u32 = bits.parse().ok().filter(|b| *b <= 32).ok_or_else(bad)?;
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Ok(Matcher::Cidr {
        network: u32::from(addr) & mask,
        mask,
    })
}

/// Exact matching: strings as strings, numbers by value (EventBridge
/// compares numbers numerically: 300, 300.0 and 3e2 are one value).
fn same(expected: &Value, value: &Value) -> bool {
    match (expected, value) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => expected == value,
    }
}

/// `*` matches any run of characters, everything else itself.
fn wildcard(glob: &str, text: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return glob == text; // no `*`
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn string<'a>(arg: &'a Value, path: &str, op: &str) -> Result<&'a str, PatternError> {
    arg.as_str()
        .ok_or_else(|| invalid(path, &format!("{op} takes a string")))
}

fn invalid(path: &str, problem: &str) -> PatternError {
    PatternError::Invalid {
        path: path.into(),
        problem: problem.into(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
