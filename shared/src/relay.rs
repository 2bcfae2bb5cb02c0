//! The per-event path: read the input, refuse loops, consume heartbeats,
//! classify, enrich, fit the size limit, and build the PutEvents entry.
//! The Lambda and the CLI both call [`Relay::prepare`].

use crate::category::Category;
use crate::directory::Directory;
use crate::enrich::{
    build_actor, echo, AccountContext, Actor, Enrichment, Provenance, RELAY, SCHEMA_VERSION,
};
use crate::entry::Entry;
use crate::error::Error;
use crate::event::{detail_type_for, Detail, Envelope, Event, Record};
use crate::paths::{heartbeat_path, PathKey};
use crate::rules::{Facts, RuleTable};
use crate::settings::Settings;
use crate::signal::{actor_facts, signals, Signal, SignalFacts};
use crate::size::{self, entry_size, splice_enrichment};
use crate::tamper;
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const TEST_EVENT: &str = "trailrelay Test Event";
pub const HEARTBEAT: &str = "trailrelay Heartbeat";
/// The detail-type of an entry made from input that had none we could read.
pub const MALFORMED_DETAIL_TYPE: &str = "trailrelay Malformed Input";
/// The rule id reported for input that could not be read as an event.
pub const MALFORMED_RULE_ID: &str = "malformed-input";

/// The time an invocation received its events, kept in both forms.
#[derive(Debug, Clone)]
pub struct ReceivedAt {
    pub time: OffsetDateTime,
    pub text: String,
}

impl ReceivedAt {
    pub fn at(time: OffsetDateTime) -> ReceivedAt {
        let text = time
            .format(&Rfc3339)
            .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"));
        ReceivedAt { time, text }
    }

    pub fn now() -> ReceivedAt {
        Self::at(OffsetDateTime::now_utc())
    }
}

/// The SQS message attribute (a String, "true") that marks an input as put
/// back by reconciliation: on the buffer queue, or in the batch shape the
/// reconciler invokes the enricher with. EventBridge cannot set message
/// attributes, so a member account cannot mark its own events.
pub const BACKFILL_ATTRIBUTE: &str = "trailrelay-backfill";

/// What marks every entry of one call, whatever the input says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Circumstances {
    /// The directory in use is stale: `directory_stale` on every entry.
    pub directory_stale: bool,
    /// The inputs were put back by reconciliation (they reached the relay
    /// through its own entry, never from a member account):
    /// `provenance.backfilled` and `late_delivery` on every entry.
    pub backfilled: bool,
}

/// What became of one input.
#[derive(Debug)]
pub enum Prepared {
    /// An entry to publish.
    Entry(Box<PreparedEntry>),
    /// Our own output coming back: not re-emitted, to break the loop.
    Refused {
        event_id: Option<String>,
        reason: String,
    },
    /// A control event the relay acts on itself (heartbeats).
    Consumed {
        event_id: Option<String>,
        detail_type: String,
        /// The forwarding path a heartbeat proves, when it names one.
        path: Option<PathKey>,
    },
}

/// An entry and what the relay decided about it.
#[derive(Debug)]
pub struct PreparedEntry {
    pub entry: Entry,
    pub category: Category,
    pub rule_id: String,
    pub signals: Vec<Signal>,
    /// CloudTrail's event id, else the envelope's, for logs.
    pub event_id: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    /// Why the input could not be read, when it could not.
    pub malformed: Option<String>,
}

impl PreparedEntry {
    pub fn has(&self, signal: Signal) -> bool {
        self.signals.binary_search(&signal).is_ok()
    }
}

pub struct Relay {
    settings: Settings,
    rules: RuleTable,
    directory: Directory,
}

impl Relay {
    pub fn new(settings: Settings, rules: RuleTable, directory: Directory) -> Relay {
        Relay {
            settings,
            rules,
            directory,
        }
    }

    /// Loads the rule table and the directory that the settings name, or
    /// the embedded ones.
    pub fn load(settings: Settings) -> Result<Relay, Error> {
        let rules = match &settings.rules_file {
            Some(path) => RuleTable::from_toml(&read(path)?, path)?,
            None => RuleTable::embedded()?,
        };
        let directory = match &settings.accounts_file {
            Some(path) => Directory::from_json(&read(path)?, path)?,
            None => Directory::sample()?,
        };
        Ok(Relay::new(settings, rules, directory))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn rules(&self) -> &RuleTable {
        &self.rules
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Turns one input (the text of an EventBridge event) into what the
    /// relay does with it, with the relay's own account directory. Never
    /// fails: what cannot be read becomes an entry on the `other` bus marked
    /// `malformed_input`.
    pub fn prepare(&self, raw: &str, received: &ReceivedAt) -> Prepared {
        self.prepare_with(raw, received, &self.directory, Circumstances::default())
    }

    /// [`Relay::prepare`] with a given directory (a live copy, say) and the
    /// circumstances that mark every entry of the call.
    pub fn prepare_with(
        &self,
        raw: &str,
        received: &ReceivedAt,
        directory: &Directory,
        circumstances: Circumstances,
    ) -> Prepared {
        let ctx = Ctx {
            received,
            directory,
            directory_stale: circumstances.directory_stale,
            backfilled: circumstances.backfilled,
        };
        self.prepare_in(raw, &ctx)
    }

    fn prepare_in(&self, raw: &str, ctx: &Ctx<'_>) -> Prepared {
        let Event { envelope, detail } = match Event::read(raw) {
            Ok(event) => event,
            Err(reason) => return self.malformed(raw, reason, None, ctx),
        };
        let source = envelope.source.get();
        let detail_type = envelope.detail_type.get();
        if source == Some(self.settings.source.as_str()) {
            return Prepared::Refused {
                event_id: envelope.id.get().map(str::to_owned),
                reason: format!(
                    "source {:?} is the relay's own output source; not re-emitted",
                    self.settings.source
                ),
            };
        }
        let control = source == Some(self.settings.control_source.as_str());
        // A heartbeat or test event replayed from an archive of a member's
        // default bus reaches us through the real forward rule, without
        // anyone calling PutEvents, so no policy refuses it: it proved the
        // path once, not now (docs/aws-requirements.md R42).
        if control {
            if let Some(replay) = envelope.replay_name.non_empty() {
                return Prepared::Refused {
                    event_id: envelope.id.get().map(str::to_owned),
                    reason: format!(
                        "a {} replayed from an archive ({replay:?}) proves nothing about the path now",
                        detail_type.unwrap_or("control event")
                    ),
                };
            }
        }
        if control && detail_type == Some(HEARTBEAT) {
            let detail_text = match &detail {
                Ok(Detail::Record { text, .. }) => Some(*text),
                _ => None,
            };
            return Prepared::Consumed {
                event_id: envelope.id.get().map(str::to_owned),
                detail_type: HEARTBEAT.to_owned(),
                path: heartbeat_path(
                    envelope.account.non_empty(),
                    envelope.region.non_empty(),
                    detail_text,
                ),
            };
        }
        let test_event = control && detail_type == Some(TEST_EVENT);

        match detail {
            Ok(Detail::Record { text, record }) => {
                let input = Input {
                    envelope_id: envelope.id.non_empty(),
                    source: envelope.source.non_empty().map(Cow::Borrowed),
                    detail_type: detail_type.unwrap_or(detail_type_for(None)),
                    envelope_account: envelope.account.non_empty(),
                    region: envelope.region.non_empty(),
                    time: envelope.time.non_empty(),
                    resources: &envelope.resources.0,
                    detail: text,
                    test_event,
                };
                self.enrich(&input, &record, ctx)
            }
            Ok(Detail::Absent) => self.bare_record(raw, &envelope, ctx),
            Err(reason) => self.malformed(raw, reason, Some(&envelope), ctx),
        }
    }

    /// A CloudTrail record given without its EventBridge envelope (as
    /// CloudTrail writes to S3) is wrapped the way EventBridge would wrap it;
    /// any other object without `detail` is malformed.
    fn bare_record(&self, raw: &str, envelope: &Envelope, ctx: &Ctx<'_>) -> Prepared {
        let record = match serde_json::from_str::<Record>(raw) {
            Ok(record) if record.looks_like_cloudtrail() => record,
            _ => {
                let reason = "the event has no detail".to_owned();
                return self.malformed(raw, reason, Some(envelope), ctx);
            }
        };
        let source = record.service().map(|s| Cow::Owned(format!("aws.{s}")));
        let input = Input {
            envelope_id: None,
            source,
            detail_type: detail_type_for(record.event_type.get()),
            envelope_account: None,
            region: None,
            time: None,
            resources: &[],
            detail: raw.trim(),
            test_event: false,
        };
        self.enrich(&input, &record, ctx)
    }

    fn enrich(&self, input: &Input<'_>, record: &Record<'_>, ctx: &Ctx<'_>) -> Prepared {
        let (received, directory) = (ctx.received, ctx.directory);
        let facts = Facts {
            service: record.service(),
            event_name: record.event_name(),
            detail_type: Some(input.detail_type),
        };
        let rule = self.rules.classify(facts);
        let event_account = record
            .recipient_account_id
            .non_empty()
            .or(input.envelope_account);
        let account = AccountContext::lookup(event_account, directory);
        let actor_facts = actor_facts(record.identity());
        let actor = build_actor(record, &actor_facts, event_account, directory);
        let signals = signals(&SignalFacts {
            event_account_known: account.known,
            actor_account_known: actor.account.as_ref().is_some_and(|a| a.known),
            test_event: input.test_event,
            backfilled: ctx.backfilled,
            relay_tampering: tamper::is_tampering(
                facts.service,
                facts.event_name,
                record.request_parameters.map(|p| p.get()),
                &self.settings.names,
            ),
            ..SignalFacts::new(
                record,
                &actor_facts,
                event_account,
                input.envelope_account,
                ctx.directory_stale,
            )
        });
        let mut enrichment = Enrichment {
            schema_version: SCHEMA_VERSION,
            category: rule.category,
            rule_id: &rule.id,
            account,
            actor,
            signals,
            provenance: Provenance {
                event_id: echo_opt(record.event_id.non_empty()),
                envelope_id: echo_opt(input.envelope_id),
                source: echo_opt(input.source.as_deref()),
                detail_type: Some(echo(input.detail_type)),
                region: echo_opt(input.region.or(record.aws_region.non_empty())),
                received_at: &received.text,
                relay: RELAY,
                truncated: Vec::new(),
                backfilled: ctx.backfilled,
            },
        };
        let mut resources = input.resources.to_vec();
        let detail = self.fit_record(input, record, &mut enrichment, &mut resources);
        let time = parse_time(input.time)
            .or_else(|| parse_time(record.event_time.non_empty()))
            .unwrap_or(received.time);
        Prepared::Entry(Box::new(PreparedEntry {
            entry: Entry {
                event_bus_name: self.settings.bus(rule.category).to_owned(),
                source: self.settings.source.clone(),
                detail_type: input.detail_type.to_owned(),
                detail,
                time,
                resources,
            },
            category: rule.category,
            rule_id: rule.id.clone(),
            event_id: record
                .event_id
                .non_empty()
                .or(input.envelope_id)
                .map(str::to_owned),
            account_id: enrichment.account.id.map(str::to_owned),
            account_name: enrichment.account.name.map(str::to_owned),
            signals: enrichment.signals,
            malformed: None,
        }))
    }

    /// The detail to send: the record's own text with `enrichment` spliced
    /// in, or, when that is too large (or the record already has a key
    /// named `enrichment`), a trimmed copy.
    fn fit_record(
        &self,
        input: &Input<'_>,
        record: &Record<'_>,
        enrichment: &mut Enrichment<'_>,
        resources: &mut Vec<String>,
    ) -> String {
        let limit = self.settings.limits.max_entry_bytes;
        let fixed = self.settings.source.len() + input.detail_type.len();
        let detail = splice_enrichment(input.detail, &enrichment.to_json());
        if record.enrichment.is_none() && entry_size("", "", &detail, resources) + fixed <= limit {
            return detail;
        }

        let mut tree: Map<String, Value> = match serde_json::from_str(input.detail) {
            Ok(tree) => tree,
            // Unreachable in practice: the record was read as an object already.
            Err(_) => Map::new(),
        };
        let mut trimmed = Vec::new();
        if tree.remove("enrichment").is_some() {
            trimmed.push(size::detail_pointer("enrichment"));
        }
        let render = |tree: &Map<String, Value>, enrichment: &Enrichment<'_>| {
            let object = serde_json::to_string(tree).unwrap_or_else(|_| String::from("{}"));
            splice_enrichment(&object, &enrichment.to_json())
        };
        let pointers = size::trim_to_fit(&mut tree, resources, &mut |tree, resources, pointers| {
            let all: Vec<String> = trimmed.iter().chain(pointers).cloned().collect();
            enrichment.mark_truncated(&all);
            entry_size("", "", &render(tree, enrichment), resources) + fixed <= limit
        });
        trimmed.extend(pointers);
        enrichment.mark_truncated(&trimmed);
        render(&tree, enrichment)
    }

    /// An entry for input that cannot be read: the raw text (trimmed to fit)
    /// goes to the `other` bus with the reason and `malformed_input`.
    fn malformed(
        &self,
        raw: &str,
        reason: String,
        envelope: Option<&Envelope>,
        ctx: &Ctx<'_>,
    ) -> Prepared {
        let received = ctx.received;
        let empty = Envelope::default();
        let envelope = envelope.unwrap_or(&empty);
        let record = Record::default();
        let event_account = envelope.account.non_empty();
        let account = AccountContext::lookup(event_account, ctx.directory);
        let actor_facts = actor_facts(None);
        let signals = signals(&SignalFacts {
            event_account_known: account.known,
            malformed: true,
            backfilled: ctx.backfilled,
            ..SignalFacts::new(
                &record,
                &actor_facts,
                event_account,
                event_account,
                ctx.directory_stale,
            )
        });
        let detail_type = envelope
            .detail_type
            .non_empty()
            .unwrap_or(MALFORMED_DETAIL_TYPE);
        let category = Category::Other;
        let mut enrichment = Enrichment {
            schema_version: SCHEMA_VERSION,
            category,
            rule_id: MALFORMED_RULE_ID,
            account,
            actor: Actor::unknown(),
            signals,
            provenance: Provenance {
                event_id: None,
                envelope_id: echo_opt(envelope.id.non_empty()),
                source: echo_opt(envelope.source.non_empty()),
                detail_type: echo_opt(envelope.detail_type.non_empty()),
                region: echo_opt(envelope.region.non_empty()),
                received_at: &received.text,
                relay: RELAY,
                truncated: Vec::new(),
                backfilled: ctx.backfilled,
            },
        };
        let resources = envelope.resources.0.clone();
        let limit = self.settings.limits.max_entry_bytes;
        let fixed = self.settings.source.len() + detail_type.len();
        let size_with = |text: &str, enrichment: &Enrichment<'_>| {
            let detail = malformed_detail(&reason, text, enrichment);
            let size = entry_size("", "", &detail, &resources) + fixed;
            (detail, size)
        };
        let (mut detail, size) = size_with(raw, &enrichment);
        if size > limit {
            enrichment.mark_truncated(&[size::detail_pointer(MALFORMED_RAW_KEY)]);
            let (_, without_raw) = size_with("", &enrichment);
            let room = limit.saturating_sub(without_raw);
            let kept = size::longest_prefix_within(raw, room);
            (detail, _) = size_with(kept, &enrichment);
        }
        let time = parse_time(envelope.time.non_empty()).unwrap_or(received.time);
        Prepared::Entry(Box::new(PreparedEntry {
            entry: Entry {
                event_bus_name: self.settings.bus(category).to_owned(),
                source: self.settings.source.clone(),
                detail_type: detail_type.to_owned(),
                detail,
                time,
                resources,
            },
            category,
            rule_id: MALFORMED_RULE_ID.to_owned(),
            event_id: envelope.id.non_empty().map(str::to_owned),
            account_id: enrichment.account.id.map(str::to_owned),
            account_name: enrichment.account.name.map(str::to_owned),
            signals: enrichment.signals,
            malformed: Some(reason),
        }))
    }
}

/// The key under which a malformed input's raw text travels.
pub const MALFORMED_RAW_KEY: &str = "rawInput";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MalformedDetail<'a> {
    malformed_reason: &'a str,
    raw_input: &'a str,
    enrichment: &'a Enrichment<'a>,
}

fn malformed_detail(reason: &str, raw: &str, enrichment: &Enrichment<'_>) -> String {
    let detail = MalformedDetail {
        malformed_reason: reason,
        raw_input: raw,
        enrichment,
    };
    serde_json::to_string(&detail).unwrap_or_else(|_| String::from("{}"))
}

/// What one call of `prepare` works with.
struct Ctx<'a> {
    received: &'a ReceivedAt,
    directory: &'a Directory,
    directory_stale: bool,
    backfilled: bool,
}

/// What the envelope (or, for a bare record, its stand-in) says.
struct Input<'a> {
    envelope_id: Option<&'a str>,
    source: Option<Cow<'a, str>>,
    detail_type: &'a str,
    envelope_account: Option<&'a str>,
    region: Option<&'a str>,
    time: Option<&'a str>,
    resources: &'a [String],
    /// The record's JSON text, exactly as received.
    detail: &'a str,
    test_event: bool,
}

fn echo_opt(value: Option<&str>) -> Option<&str> {
    value.map(echo)
}

fn parse_time(text: Option<&str>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text?, &Rfc3339).ok()
}

fn read(path: &str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })
}
