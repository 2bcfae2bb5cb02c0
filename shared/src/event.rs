//! The input model: an EventBridge envelope around a CloudTrail record.
//!
//! Only the fields that classification and enrichment need are read; the
//! record itself stays as its raw JSON text so that it can be passed on
//! unchanged (and without building a tree of it).

use crate::lenient::{Object, Text, TextList};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;

/// The EventBridge envelope's own fields (all but `detail`), as CloudTrail
/// (or our control source) delivers them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Envelope<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub source: Text<'a>,
    #[serde(borrow, rename = "detail-type")]
    pub detail_type: Text<'a>,
    #[serde(borrow)]
    pub account: Text<'a>,
    #[serde(borrow)]
    pub time: Text<'a>,
    #[serde(borrow)]
    pub region: Text<'a>,
    pub resources: TextList,
    /// Set by EventBridge on an event it delivers again from an archive:
    /// such an event was true once, not now.
    #[serde(borrow, rename = "replay-name")]
    pub replay_name: Text<'a>,
}

/// An event as read: its envelope and what its `detail` held.
#[derive(Debug)]
pub struct Event<'a> {
    pub envelope: Envelope<'a>,
    /// The detail, or why it cannot be read as a CloudTrail record.
    pub detail: Result<Detail<'a>, String>,
}

// Lives on the stack for one event; a box would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Detail<'a> {
    /// No `detail` (or null): perhaps a bare CloudTrail record.
    Absent,
    /// A record, with its exact text so that it can be passed on unchanged.
    Record { text: &'a str, record: Record<'a> },
}

impl<'a> Event<'a> {
    /// Reads an event from its JSON text, or says why it is not one.
    ///
    /// The usual event is read in one pass: the detail is read as a record
    /// while the envelope is read, and its text is located from where the
    /// keys around it lie. Anything that pass does not settle (a detail that
    /// is not an object, an escaped or repeated key, invalid JSON) is read
    /// again the plain way, envelope first with the detail kept raw, then
    /// the record, which gives the exact reason for what is wrong.
    pub fn read(raw: &'a str) -> Result<Event<'a>, String> {
        match read_in_one_pass(raw) {
            Some(event) => Ok(event),
            None => read_in_two_passes(raw),
        }
    }
}

fn read_in_two_passes(raw: &str) -> Result<Event<'_>, String> {
    #[derive(Default, Deserialize)]
    #[serde(default)]
    struct WithRawDetail<'a> {
        #[serde(borrow)]
        id: Text<'a>,
        #[serde(borrow)]
        source: Text<'a>,
        #[serde(borrow, rename = "detail-type")]
        detail_type: Text<'a>,
        #[serde(borrow)]
        account: Text<'a>,
        #[serde(borrow)]
        time: Text<'a>,
        #[serde(borrow)]
        region: Text<'a>,
        resources: TextList,
        #[serde(borrow, rename = "replay-name")]
        replay_name: Text<'a>,
        #[serde(borrow)]
        detail: Option<&'a RawValue>,
    }
    // Serde would read a JSON array into the envelope's fields by position.
    if !raw.trim_start().starts_with('{') {
        return Err("input is not a JSON object".to_owned());
    }
    let read: WithRawDetail =
        serde_json::from_str(raw).map_err(|e| format!("input is not a JSON object: {e}"))?;
    let detail = match read.detail.map(RawValue::get) {
        None => Ok(Detail::Absent),
        Some(text) if text.starts_with('{') => serde_json::from_str::<Record>(text)
            .map(|record| Detail::Record { text, record })
            .map_err(|e| format!("detail cannot be read as a CloudTrail record: {e}")),
        Some(_) => Err("detail is not a JSON object".to_owned()),
    };
    let envelope = Envelope {
        id: read.id,
        source: read.source,
        detail_type: read.detail_type,
        account: read.account,
        time: read.time,
        region: read.region,
        resources: read.resources,
        replay_name: read.replay_name,
    };
    Ok(Event { envelope, detail })
}

/// The one pass of [`Event::read`]; `None` when it cannot settle the input.
fn read_in_one_pass(raw: &str) -> Option<Event<'_>> {
    let pass: OnePass = serde_json::from_str(raw).ok()?;
    let detail = match (pass.detail_key, pass.record) {
        (None, _) => Detail::Absent,
        (Some(key), Some(record)) => Detail::Record {
            text: detail_text(raw, key, pass.key_after_detail)?,
            record,
        },
        // A detail that is null or not an object: the plain way says which.
        (Some(_), None) => return None,
    };
    Some(Event {
        envelope: pass.envelope,
        detail: Ok(detail),
    })
}

/// The text of the detail's value, from the end of its key to the start of
/// the key after it (or the end of the envelope), without the JSON
/// punctuation and whitespace between.
fn detail_text<'a>(raw: &'a str, key: &RawValue, next_key: Option<&RawValue>) -> Option<&'a str> {
    const WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];
    let offset = |part: &str| (part.as_ptr() as usize).checked_sub(raw.as_ptr() as usize);
    let key = key.get();
    let start = offset(key)? + key.len();
    let (end, closing) = match next_key {
        Some(next) => (offset(next.get())?, ','),
        None => (raw.len(), '}'),
    };
    let between = raw.get(start..end)?;
    let text = between
        .trim_start_matches(WHITESPACE)
        .strip_prefix(':')?
        .trim_start_matches(WHITESPACE)
        .trim_end_matches(WHITESPACE)
        .strip_suffix(closing)?
        .trim_end_matches(WHITESPACE);
    (text.starts_with('{') && text.ends_with('}')).then_some(text)
}

/// What the one pass reads: the envelope, the record in its detail, and the
/// keys around the detail (map keys read raw are slices of the input, which
/// is how the detail's text is found).
#[derive(Default)]
struct OnePass<'a> {
    envelope: Envelope<'a>,
    record: Option<Record<'a>>,
    detail_key: Option<&'a RawValue>,
    key_after_detail: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for OnePass<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OnePassVisitor)
    }
}

struct OnePassVisitor;

impl<'de> Visitor<'de> for OnePassVisitor {
    type Value = OnePass<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an EventBridge event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, key: &str) -> Result<(), E> {
            match slot.replace(value) {
                None => Ok(()),
                Some(_) => Err(E::custom(format_args!("duplicate field {key}"))),
            }
        }
        let mut pass = OnePass::default();
        let (mut id, mut source, mut detail_type, mut account) = (None, None, None, None);
        let (mut time, mut region, mut resources, mut replay_name) = (None, None, None, None);
        while let Some(key) = map.next_key::<&'de RawValue>()? {
            if pass.detail_key.is_some() && pass.key_after_detail.is_none() {
                pass.key_after_detail = Some(key);
            }
            match key.get() {
                r#""id""# => once(&mut id, map.next_value()?, "id")?,
                r#""source""# => once(&mut source, map.next_value()?, "source")?,
                r#""detail-type""# => once(&mut detail_type, map.next_value()?, "detail-type")?,
                r#""account""# => once(&mut account, map.next_value()?, "account")?,
                r#""time""# => once(&mut time, map.next_value()?, "time")?,
                r#""region""# => once(&mut region, map.next_value()?, "region")?,
                r#""resources""# => once(&mut resources, map.next_value()?, "resources")?,
                r#""replay-name""# => once(&mut replay_name, map.next_value()?, "replay-name")?,
                r#""detail""# => {
                    once(&mut pass.detail_key, key, "detail")?;
                    pass.record = map.next_value::<Object<Record<'de>>>()?.0;
                }
                // An escaped key may spell one of the names above.
                other if other.contains('\\') => {
                    return Err(de::Error::custom("escaped key"));
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        pass.envelope = Envelope {
            id: id.unwrap_or_default(),
            source: source.unwrap_or_default(),
            detail_type: detail_type.unwrap_or_default(),
            account: account.unwrap_or_default(),
            time: time.unwrap_or_default(),
            region: region.unwrap_or_default(),
            resources: resources.unwrap_or_default(),
            replay_name: replay_name.unwrap_or_default(),
        };
        Ok(pass)
    }
}

/// The fields of a CloudTrail record that the relay reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Record<'a> {
    #[serde(borrow)]
    pub event_version: Text<'a>,
    #[serde(borrow)]
    pub event_source: Text<'a>,
    #[serde(borrow)]
    pub event_name: Text<'a>,
    #[serde(borrow)]
    pub event_time: Text<'a>,
    #[serde(borrow)]
    pub event_type: Text<'a>,
    #[serde(borrow, rename = "eventID")]
    pub event_id: Text<'a>,
    #[serde(borrow)]
    pub aws_region: Text<'a>,
    #[serde(borrow, rename = "sourceIPAddress")]
    pub source_ip_address: Text<'a>,
    #[serde(borrow)]
    pub error_code: Text<'a>,
    #[serde(borrow)]
    pub recipient_account_id: Text<'a>,
    #[serde(borrow)]
    pub user_identity: Object<UserIdentity<'a>>,
    #[serde(borrow)]
    pub response_elements: Object<ResponseElements<'a>>,
    #[serde(borrow)]
    pub additional_event_data: Object<AdditionalEventData<'a>>,
    #[serde(borrow)]
    pub insight_details: Object<InsightDetails<'a>>,
    /// Kept raw: only the few calls that may change the relay's own
    /// resources have theirs read (see `tamper`).
    #[serde(borrow)]
    pub request_parameters: Option<&'a RawValue>,
    /// Present when the record already carries a top-level `enrichment` key,
    /// which our own would collide with.
    pub enrichment: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserIdentity<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Text<'a>,
    #[serde(borrow)]
    pub principal_id: Text<'a>,
    #[serde(borrow)]
    pub arn: Text<'a>,
    #[serde(borrow)]
    pub account_id: Text<'a>,
    #[serde(borrow)]
    pub user_name: Text<'a>,
    #[serde(borrow)]
    pub invoked_by: Text<'a>,
    #[serde(borrow)]
    pub session_context: Object<SessionContext<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionContext<'a> {
    #[serde(borrow)]
    pub session_issuer: Object<SessionIssuer<'a>>,
    #[serde(borrow)]
    pub attributes: Object<SessionAttributes<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionIssuer<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Text<'a>,
    #[serde(borrow)]
    pub user_name: Text<'a>,
    #[serde(borrow)]
    pub arn: Text<'a>,
    #[serde(borrow)]
    pub account_id: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionAttributes<'a> {
    #[serde(borrow)]
    pub mfa_authenticated: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResponseElements<'a> {
    #[serde(borrow, rename = "ConsoleLogin")]
    pub console_login: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AdditionalEventData<'a> {
    #[serde(borrow, rename = "MFAUsed")]
    pub mfa_used: Text<'a>,
}

/// CloudTrail Insights records name the service and API inside
/// `insightDetails` rather than at the top level.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InsightDetails<'a> {
    #[serde(borrow)]
    pub event_source: Text<'a>,
    #[serde(borrow)]
    pub event_name: Text<'a>,
}

impl<'a> Record<'a> {
    /// The service, `eventSource` without `.amazonaws.com` (falling back to
    /// the Insights details, which is where Insights records name it).
    pub fn service(&self) -> Option<&str> {
        let source = self.event_source.non_empty().or_else(|| {
            self.insight_details
                .get()
                .and_then(|d| d.event_source.non_empty())
        })?;
        Some(service_name(source))
    }

    pub fn event_name(&self) -> Option<&str> {
        self.event_name.non_empty().or_else(|| {
            self.insight_details
                .get()
                .and_then(|d| d.event_name.non_empty())
        })
    }

    pub fn identity(&self) -> Option<&UserIdentity<'a>> {
        self.user_identity.get()
    }

    /// Does this look like a bare CloudTrail record (as CloudTrail writes to
    /// S3) rather than an arbitrary object?
    pub fn looks_like_cloudtrail(&self) -> bool {
        self.event_source.non_empty().is_some()
            && self.event_name.non_empty().is_some()
            && (self.event_version.non_empty().is_some() || self.event_id.non_empty().is_some())
    }
}

impl<'a> UserIdentity<'a> {
    pub fn session_issuer(&self) -> Option<&SessionIssuer<'a>> {
        self.session_context
            .get()
            .and_then(|c| c.session_issuer.get())
    }

    pub fn mfa_authenticated(&self) -> Option<&str> {
        self.session_context
            .get()
            .and_then(|c| c.attributes.get())
            .and_then(|a| a.mfa_authenticated.non_empty())
    }
}

/// `iam.amazonaws.com` -> `iam`; a name without the suffix stays as it is.
pub fn service_name(event_source: &str) -> &str {
    event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source)
}

/// The EventBridge detail-type CloudTrail uses for a record's `eventType`.
pub fn detail_type_for(event_type: Option<&str>) -> &'static str {
    match event_type {
        Some("AwsConsoleSignIn") => "AWS Console Sign In via CloudTrail",
        Some("AwsServiceEvent") => "AWS Service Event via CloudTrail",
        Some("AwsConsoleAction") => "AWS Console Action via CloudTrail",
        Some("AwsCloudTrailInsight") => "AWS Insight via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_strips_the_amazonaws_suffix() {
        assert_eq!(service_name("iam.amazonaws.com"), "iam");
        assert_eq!(service_name("custom"), "custom");
    }

    #[test]
    fn insight_records_name_their_service_in_insight_details() {
        let record: Record = serde_json::from_str(
            r#"{"eventType":"AwsCloudTrailInsight","insightDetails":{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances"}}"#,
        )
        .unwrap();
        assert_eq!(record.service(), Some("ec2"));
        assert_eq!(record.event_name(), Some("RunInstances"));
    }

    #[test]
    fn detail_types_follow_event_types() {
        assert_eq!(
            detail_type_for(Some("AwsConsoleSignIn")),
            "AWS Console Sign In via CloudTrail"
        );
        assert_eq!(detail_type_for(None), "AWS API Call via CloudTrail");
    }

    fn record_text(raw: &str) -> Option<&str> {
        match Event::read(raw).ok()?.detail {
            Ok(Detail::Record { text, .. }) => Some(text),
            _ => None,
        }
    }

    #[test]
    fn the_detail_text_is_found_exactly_wherever_the_key_lies() {
        let cases = [
            (
                r#"{"id":"1","detail":{"b": 1, "a":[2]}}"#,
                r#"{"b": 1, "a":[2]}"#,
            ),
            (r#"{"detail" :  {"x":"}"} , "id":"1"}"#, r#"{"x":"}"}"#),
            ("\n{ \"detail\":\t{}\r\n}\n", "{}"),
            (
                r#"{"detail":{"k":"a,\"}"},"resources":["r"],"time":"t"}"#,
                r#"{"k":"a,\"}"}"#,
            ),
        ];
        for (raw, detail) in cases {
            assert!(read_in_one_pass(raw).is_some(), "{raw}");
            assert_eq!(record_text(raw), Some(detail), "{raw}");
        }
    }

    #[test]
    fn what_one_pass_cannot_settle_gets_the_plain_reason() {
        let reason = |raw: &str| match Event::read(raw) {
            Ok(event) => event.detail.err(),
            Err(reason) => Some(reason),
        };
        assert_eq!(
            reason(r#"{"detail":[1]}"#).as_deref(),
            Some("detail is not a JSON object")
        );
        assert!(reason(r#"{"detail":{"eventName":"a","eventName":"b"}}"#)
            .is_some_and(|r| r.starts_with("detail cannot be read as a CloudTrail record")));
        assert!(reason(r#"{"id":"1","id":"2","detail":{}}"#)
            .is_some_and(|r| r.starts_with("input is not a JSON object")));
        assert_eq!(reason("[1]").as_deref(), Some("input is not a JSON object"));
        // An escaped key is decoded by the plain way, so it still counts.
        let escaped = r#"{"d\u0065tail":{"eventName":"X"},"source":"aws.s3"}"#;
        assert!(read_in_one_pass(escaped).is_none());
        assert_eq!(record_text(escaped), Some(r#"{"eventName":"X"}"#));
        // Null detail is no detail.
        assert!(matches!(
            Event::read(r#"{"detail":null}"#).map(|e| e.detail),
            Ok(Ok(Detail::Absent))
        ));
    }

    mod one_pass_agrees_with_two {
        use super::super::*;
        use proptest::prelude::*;
        use serde_json::Value;

        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                "[a-z\"\\\\{},:é ]{0,12}".prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 32, 6, |inner| {
                let key = prop_oneof![
                    Just("eventSource".to_owned()),
                    Just("eventName".to_owned()),
                    Just("userIdentity".to_owned()),
                    Just("type".to_owned()),
                    Just("arn".to_owned()),
                    Just("recipientAccountId".to_owned()),
                    Just("enrichment".to_owned()),
                    "[a-z\"]{1,6}",
                ];
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    prop::collection::btree_map(key, inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// An envelope as text: keys in any order (repeats too), any JSON
        /// whitespace between tokens, values compact or pretty.
        fn envelope() -> impl Strategy<Value = String> {
            let key = prop_oneof![
                Just("id"),
                Just("source"),
                Just("detail-type"),
                Just("account"),
                Just("resources"),
                Just("replay-name"),
                Just("detail"),
                Just("detail"),
                Just("d\\u0065tail"),
                Just("other"),
            ];
            let ws = "[ \t\r\n]{0,2}";
            let entry = (ws, key, ws, ws, value(), any::<bool>());
            let field = prop_oneof![
                Just("eventSource".to_owned()),
                Just("eventName".to_owned()),
                Just("eventID".to_owned()),
                Just("userIdentity".to_owned()),
                "[a-zA-Z]{1,12}",
            ];
            let record = prop::collection::btree_map(field, value(), 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect()));
            // Most envelopes carry an object detail somewhere among the rest.
            let detail =
                prop::option::weighted(0.8, (ws, Just("detail"), ws, ws, record, any::<bool>()));
            (
                prop::collection::vec(entry, 0..6),
                detail,
                any::<prop::sample::Index>(),
            )
                .prop_map(|(mut entries, detail, at)| {
                    if let Some(detail) = detail {
                        entries.insert(at.index(entries.len() + 1), detail);
                    }
                    let body: Vec<String> = entries
                        .into_iter()
                        .map(|(a, key, b, c, value, pretty)| {
                            let value = if pretty {
                                serde_json::to_string_pretty(&value)
                            } else {
                                serde_json::to_string(&value)
                            };
                            format!("{a}\"{key}\"{b}:{c}{}", value.unwrap_or_default())
                        })
                        .collect();
                    format!("{{{}}}", body.join(","))
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn on_any_envelope(raw in envelope()) {
                if let Some(one) = read_in_one_pass(&raw) {
                    let two = read_in_two_passes(&raw);
                    prop_assert_eq!(format!("{:?}", Ok::<_, String>(one)), format!("{two:?}"));
                }
            }
        }
    }
}
