//! Volume by call: how many events of each `eventSource`, `eventName`,
//! `readOnly`, caller kind (an AWS service acting for the customer or not),
//! account and region, their bytes as EventBridge carries them, the 64 KB
//! chunks it bills, and what that costs a month.
//!
//! Each input is one JSON object: an EventBridge event (what a member
//! forwards, or what a category bus delivered, as the enriched copy keeps
//! it), a `trailrelay route` entry, or a bare CloudTrail record (from a log
//! file, which also holds what the forward rule did not send). Memory is the
//! table: one row per distinct call, account and region, whatever the
//! input's length.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;

/// EventBridge bills events in 64 KB chunks.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// What one input line or record adds to the table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub event_source: String,
    pub event_name: String,
    /// Absent in many service events: a pattern must not assume it.
    pub read_only: Option<bool>,
    /// Made by an AWS service on the customer's behalf
    /// (`userIdentity.invokedBy`, or `userIdentity.type` `AWSService`).
    pub invoked_by_service: bool,
    pub account: String,
    pub region: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub count: u64,
    pub bytes: u64,
    pub chunks: u64,
}

impl Totals {
    /// One more event of `bytes`.
    pub fn count_event(&mut self, bytes: usize) {
        self.count += 1;
        self.bytes += bytes as u64;
        self.chunks += bytes.div_ceil(CHUNK_BYTES).max(1) as u64;
    }

    pub fn merge(&mut self, other: &Totals) {
        self.count += other.count;
        self.bytes += other.bytes;
        self.chunks += other.chunks;
    }
}

/// One event as observed: its call, its size on EventBridge, its time.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub call: Call,
    pub bytes: usize,
    pub event_time: Option<String>,
    /// Would an exclusion of its call drop it? Read-only (said so), named,
    /// no error, not Root, not a console sign-in, by its own account (or by
    /// a service): what a pattern can tell. The proof in `filter suggest`
    /// checks each dropped event through the relay as well.
    pub droppable: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Shape<'a> {
    #[serde(borrow)]
    detail: Option<&'a RawValue>,
    /// A `route` entry's detail: the record as a JSON string.
    #[serde(rename = "Detail", borrow)]
    entry_detail: Option<Cow<'a, str>>,
    #[serde(borrow)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow)]
    region: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Record<'a> {
    #[serde(borrow)]
    event_source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_name: Option<Cow<'a, str>>,
    read_only: Option<bool>,
    #[serde(borrow)]
    aws_region: Option<Cow<'a, str>>,
    #[serde(borrow)]
    recipient_account_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_identity: Option<Identity<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Identity<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    invoked_by: Option<Cow<'a, str>>,
    #[serde(borrow)]
    account_id: Option<Cow<'a, str>>,
}

/// The bytes EventBridge's envelope adds around a CloudTrail record it
/// delivers: every field but the record itself, with a 36-character id and
/// a second-precision time, as the `aws.<service>` events carry them.
pub fn envelope_bytes(service: &str, account: &str, region: &str) -> usize {
    const FIXED: &str = r#"{"version":"0","id":"00000000-0000-0000-0000-000000000000","detail-type":"AWS API Call via CloudTrail","source":"aws.","account":"","time":"2026-01-01T00:00:00Z","region":"","resources":[],"detail":}"#;
    FIXED.len() + service.len() + account.len() + region.len()
}

/// Reads one input object (an EventBridge event, a `route` entry, or a
/// bare CloudTrail record).
pub fn observe(text: &str) -> Result<Observed, String> {
    let text = text.trim();
    let shape: Shape = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let (record_text, envelope_size): (Cow<str>, Option<usize>) =
        match (&shape.detail, &shape.entry_detail) {
            (Some(detail), _) => (
                Cow::Borrowed(detail.get()),
                Some(text.len() - detail.get().len()),
            ),
            (None, Some(entry_detail)) => (Cow::Owned(entry_detail.to_string()), None),
            (None, None) => (Cow::Borrowed(text), None),
        };
    let record: Record = serde_json::from_str(&record_text).map_err(|e| e.to_string())?;
    let event_source = record.event_source.as_deref().unwrap_or("").to_owned();
    let service = event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(&event_source);
    // The record's own account and region first: on the relay's output
    // (and so in the enriched copy) the envelope's are the security
    // account's.
    let account = record
        .recipient_account_id
        .as_deref()
        .or(shape.account.as_deref())
        .unwrap_or("")
        .to_owned();
    let region = record
        .aws_region
        .as_deref()
        .or(shape.region.as_deref())
        .unwrap_or("")
        .to_owned();
    let bytes = match envelope_size {
        Some(envelope) => envelope + record_text.len(),
        None => envelope_bytes(service, &account, &region) + record_text.len(),
    };
    let identity = record.user_identity.unwrap_or_default();
    let invoked_by_service =
        identity.invoked_by.is_some() || identity.kind.as_deref() == Some("AWSService");
    let droppable = record.read_only == Some(true)
        && record.event_name.is_some()
        && record.event_source.is_some()
        && record.error_code.is_none()
        && identity.kind.as_deref() != Some("Root")
        && event_source != "signin.amazonaws.com"
        && identity.account_id.as_deref().is_none_or(|a| a == account);
    Ok(Observed {
        call: Call {
            event_source,
            event_name: record.event_name.as_deref().unwrap_or("").to_owned(),
            read_only: record.read_only,
            invoked_by_service,
            account,
            region,
        },
        bytes,
        event_time: record.event_time.map(Cow::into_owned),
        droppable,
    })
}

/// The table being built.
#[derive(Debug, Default)]
pub struct Tally {
    rows: HashMap<Call, Totals>,
    /// Per (eventSource, eventName): the events an exclusion of it would drop.
    droppable: HashMap<(String, String), Totals>,
    /// Inputs that were not a JSON object of one of the three shapes.
    pub unreadable: u64,
    first: Option<String>,
    last: Option<String>,
}

impl Tally {
    pub fn add(&mut self, observed: Observed) {
        if observed.droppable {
            let key = (
                observed.call.event_source.clone(),
                observed.call.event_name.clone(),
            );
            self.droppable
                .entry(key)
                .or_default()
                .count_event(observed.bytes);
        }
        self.rows
            .entry(observed.call)
            .or_default()
            .count_event(observed.bytes);
        if let Some(time) = observed.event_time {
            if self.first.as_ref().is_none_or(|f| time < *f) {
                self.first = Some(time.clone());
            }
            if self.last.as_ref().is_none_or(|l| time > *l) {
                self.last = Some(time);
            }
        }
    }

    /// Reads and adds one input; an unreadable one is counted, not fatal.
    pub fn add_text(&mut self, text: &str) {
        match observe(text) {
            Ok(observed) => self.add(observed),
            Err(_) => self.unreadable += 1,
        }
    }

    /// The earliest and latest `eventTime` seen (ISO 8601 text, compared as
    /// CloudTrail writes it).
    pub fn window(&self) -> Option<(&str, &str)> {
        Some((self.first.as_deref()?, self.last.as_deref()?))
    }

    /// What excluding each call would drop, most chunks first.
    pub fn droppable(&self) -> Vec<(&(String, String), &Totals)> {
        let mut calls: Vec<_> = self.droppable.iter().collect();
        calls.sort_by(|a, b| b.1.chunks.cmp(&a.1.chunks).then_with(|| a.0.cmp(b.0)));
        calls
    }

    pub fn total(&self) -> Totals {
        let mut total = Totals::default();
        for t in self.rows.values() {
            total.merge(t);
        }
        total
    }

    /// The rows, most chunks first (what is billed), then by call.
    pub fn rows(&self) -> Vec<(&Call, &Totals)> {
        let mut rows: Vec<_> = self.rows.iter().collect();
        rows.sort_by(|a, b| b.1.chunks.cmp(&a.1.chunks).then_with(|| a.0.cmp(b.0)));
        rows
    }

    /// The first `top` rows and the rest summed.
    pub fn top(&self, top: usize) -> (Vec<(&Call, &Totals)>, Totals) {
        let mut rows = self.rows();
        let mut rest = Totals::default();
        for (_, t) in rows.iter().skip(top) {
            rest.merge(t);
        }
        rows.truncate(top);
        (rows, rest)
    }
}
