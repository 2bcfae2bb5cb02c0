//! What the relay delivered, by event id. Each line is a PutEvents entry
//! as `trailrelay route` writes it (the record in `Detail`, a string), an
//! event as a category bus delivers it (the record in `detail`, as the
//! enriched copy holds it), or a bare record; every one of them carries the
//! record's `eventID`. An enriched one also says when the relay received it
//! and whether reconciliation had put it back.

use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::BufRead;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trailrelay_shared::lenient::{Object, Text};

#[derive(Default, Deserialize)]
struct Line<'a> {
    #[serde(borrow, default, rename = "Detail")]
    entry_detail: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    detail: Object<Record<'a>>,
    #[serde(borrow, default, rename = "eventID")]
    event_id: Text<'a>,
}

#[derive(Default, Deserialize)]
struct Record<'a> {
    #[serde(borrow, default, rename = "eventID")]
    event_id: Text<'a>,
    #[serde(borrow, default, rename = "eventTime")]
    event_time: Text<'a>,
    #[serde(borrow, default)]
    enrichment: Object<Enrichment<'a>>,
}

#[derive(Default, Deserialize)]
struct Enrichment<'a> {
    #[serde(borrow, default)]
    provenance: Object<Provenance<'a>>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Provenance<'a> {
    #[serde(borrow, default)]
    received_at: Text<'a>,
    #[serde(default)]
    backfilled: Option<bool>,
}

/// How an event id was seen: the earliest time the relay received it on
/// its own (not put back), and whether it was also put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    /// Unix seconds of the earliest ordinary delivery; `ON_TIME` when a
    /// delivery does not say when; `NEVER` when it was only put back.
    delivered_at: i64,
    pub backfilled: bool,
}

const ON_TIME: i64 = i64::MIN;
const NEVER: i64 = i64::MAX;

impl Sighting {
    /// Seen only because reconciliation put it back.
    pub fn only_backfilled(&self) -> bool {
        self.delivered_at == NEVER
    }

    /// Delivered on its own, but first at or after `time` (and not before).
    pub fn delivered_after(&self, time: OffsetDateTime) -> bool {
        self.delivered_at != NEVER && self.delivered_at >= time.unix_timestamp()
    }

    fn merge(&mut self, other: Sighting) {
        self.delivered_at = self.delivered_at.min(other.delivered_at);
        self.backfilled |= other.backfilled;
    }
}

/// The event ids seen, with how many lines carried none. CloudTrail's ids
/// are UUIDs and are kept as 16 bytes each (an hour of a large
/// organization is millions of them); any other id as text.
#[derive(Debug, Default)]
pub struct Seen {
    uuids: HashMap<u128, Sighting>,
    others: HashMap<String, Sighting>,
    /// Only events whose `eventTime` is in `[from, to)` are kept (one
    /// without a readable time is kept): the copy read for a window holds
    /// hours of other windows' events, which need not be held.
    window: Option<(i64, i64)>,
    pub lines: usize,
    pub without_id: usize,
    /// Lines whose event is outside the window.
    pub outside_the_window: usize,
}

impl Seen {
    /// Keeps only events of `[from, to)` by `eventTime`.
    pub fn for_window(from: OffsetDateTime, to: OffsetDateTime) -> Seen {
        Seen {
            window: Some((from.unix_timestamp(), to.unix_timestamp())),
            ..Seen::default()
        }
    }

    /// Reads one line; a line that is not JSON, or has no event id, is counted.
    pub fn add_line(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        self.lines += 1;
        match sighting(line) {
            Some((_, _, Some(at)))
                if self.window.is_some_and(|(from, to)| at < from || at >= to) =>
            {
                self.outside_the_window += 1
            }
            Some((id, sighting, _)) => self.add(&id, sighting),
            None => self.without_id += 1,
        }
    }

    fn add(&mut self, id: &str, sighting: Sighting) {
        let slot = match uuid(id) {
            Some(key) => self.uuids.entry(key).or_insert(sighting),
            None => self.others.entry(id.to_owned()).or_insert(sighting),
        };
        slot.merge(sighting);
    }

    pub fn read(&mut self, input: impl BufRead) -> std::io::Result<()> {
        for line in input.lines() {
            self.add_line(&line?);
        }
        Ok(())
    }

    pub fn get(&self, event_id: &str) -> Option<Sighting> {
        match uuid(event_id) {
            Some(key) => self.uuids.get(&key).copied(),
            None => self.others.get(event_id).copied(),
        }
    }

    pub fn contains(&self, event_id: &str) -> bool {
        self.get(event_id).is_some()
    }

    pub fn len(&self) -> usize {
        self.uuids.len() + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A set of event ids: UUIDs in 16 bytes, any other id as text.
#[derive(Debug, Default)]
pub struct Ids {
    uuids: std::collections::HashSet<u128>,
    others: std::collections::HashSet<String>,
}

impl Ids {
    /// Whether the id was new.
    pub fn insert(&mut self, id: &str) -> bool {
        match uuid(id) {
            Some(key) => self.uuids.insert(key),
            None => self.others.insert(id.to_owned()),
        }
    }

    pub fn len(&self) -> usize {
        self.uuids.len() + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A UUID's 128 bits, when the text is one in its canonical form (lower or
/// upper case); other text is not a UUID here, so that no two ids share a key.
fn uuid(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 || [8, 13, 18, 23].iter().any(|&i| bytes[i] != b'-') {
        return None;
    }
    let mut value: u128 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            // Upper case is kept as text: "A" and "a" are different ids.
            _ => return None,
        };
        value = value << 4 | u128::from(digit);
    }
    Some(value)
}

/// The event's id, how it was seen, and its `eventTime` (Unix seconds) when readable.
fn sighting(line: &str) -> Option<(String, Sighting, Option<i64>)> {
    let parsed: Line<'_> = serde_json::from_str(line).ok()?;
    let from_record = |record: &Record<'_>| {
        let id = record.event_id.non_empty()?.to_owned();
        let provenance = record.enrichment.get().and_then(|e| e.provenance.get());
        let backfilled = provenance.and_then(|p| p.backfilled) == Some(true);
        let received = provenance
            .and_then(|p| p.received_at.non_empty())
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .map_or(ON_TIME, |t| t.unix_timestamp());
        let delivered_at = if backfilled { NEVER } else { received };
        let event_time = record
            .event_time
            .non_empty()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .map(|t| t.unix_timestamp());
        Some((
            id,
            Sighting {
                delivered_at,
                backfilled,
            },
            event_time,
        ))
    };
    if let Some(detail) = parsed.entry_detail {
        let record: Record<'_> = serde_json::from_str(&detail).ok()?;
        return from_record(&record);
    }
    if let Some(record) = parsed.detail.get() {
        if let Some(found) = from_record(record) {
            return Some(found);
        }
    }
    let id = parsed.event_id.non_empty()?.to_owned();
    Some((
        id,
        Sighting {
            delivered_at: ON_TIME,
            backfilled: false,
        },
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn entries_delivered_events_and_bare_records_all_give_their_id() {
        let mut seen = Seen::default();
        let input = concat!(
            r#"{"Source":"trailrelay","DetailType":"x","Detail":"{\"eventID\":\"from-entry\",\"enrichment\":{}}","EventBusName":"b"}"#,
            "\n",
            r#"{"version":"0","detail":{"eventID":"from-bus","eventName":"X"}}"#,
            "\n\n",
            r#"{"eventID":"bare"}"#,
            "\nnot json\n",
            r#"{"detail":{"eventName":"no id"}}"#,
            "\n"
        );
        seen.read(input.as_bytes()).unwrap();
        for id in ["from-entry", "from-bus", "bare"] {
            assert!(seen.contains(id), "{id}");
        }
        assert_eq!((seen.len(), seen.lines, seen.without_id), (3, 5, 2));
    }

    fn delivered(id: &str, received: &str, backfilled: bool) -> String {
        let mut provenance = serde_json::json!({"receivedAt": received});
        if backfilled {
            provenance["backfilled"] = true.into();
        }
        serde_json::json!({"detail": {"eventID": id, "enrichment": {"provenance": provenance}}})
            .to_string()
    }

    #[test]
    fn a_sighting_keeps_the_earliest_own_delivery_and_whether_it_was_put_back() {
        let id = "6f0ab3a4-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
        let mut seen = Seen::default();
        seen.add_line(&delivered(id, "2026-11-21T02:00:00Z", false));
        seen.add_line(&delivered(id, "2026-11-21T00:30:00Z", false));
        seen.add_line(&delivered(id, "2026-11-21T00:10:00Z", true));
        let s = seen.get(id).unwrap();
        assert!(s.backfilled && !s.only_backfilled());
        assert!(!s.delivered_after(datetime!(2026-11-21 01:00 UTC)));
        assert!(s.delivered_after(datetime!(2026-11-21 00:30 UTC)));

        let put_back = "00000000-0000-4000-8000-000000000001";
        seen.add_line(&delivered(put_back, "2026-11-21T01:30:00Z", true));
        let s = seen.get(put_back).unwrap();
        assert!(s.only_backfilled());
        assert!(!s.delivered_after(datetime!(2026-11-21 01:00 UTC)));
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn a_window_keeps_only_its_events_and_those_without_a_readable_time() {
        let mut seen = Seen::for_window(
            datetime!(2026-11-20 23:00 UTC),
            datetime!(2026-11-21 00:00 UTC),
        );
        let line = |id: &str, at: &str| {
            serde_json::json!({"detail": {"eventID": id, "eventTime": at}}).to_string()
        };
        seen.add_line(&line("in", "2026-11-20T23:59:59Z"));
        seen.add_line(&line("before", "2026-11-20T22:59:59Z"));
        seen.add_line(&line("after", "2026-11-21T00:00:00Z"));
        seen.add_line(&line("unreadable", "yesterday"));
        assert!(seen.contains("in") && seen.contains("unreadable"));
        assert!(!seen.contains("before") && !seen.contains("after"));
        assert_eq!(seen.outside_the_window, 2);
    }

    #[test]
    fn uuids_are_kept_compact_and_other_ids_exactly() {
        assert_eq!(uuid("00000000-0000-0000-0000-0000000000ff"), Some(0xff));
        assert_eq!(uuid("6F0AB3A4-1C2D-4E5F-8A9B-0C1D2E3F4A5B"), None);
        assert_eq!(uuid("6f0ab3a4+1c2d-4e5f-8a9b-0c1d2e3f4a5b"), None);
        assert_eq!(uuid("short"), None);
        let mut seen = Seen::default();
        seen.add_line(r#"{"eventID":"6F0AB3A4-1C2D-4E5F-8A9B-0C1D2E3F4A5B"}"#);
        assert!(seen.contains("6F0AB3A4-1C2D-4E5F-8A9B-0C1D2E3F4A5B"));
        assert!(!seen.contains("6f0ab3a4-1c2d-4e5f-8a9b-0c1d2e3f4a5b"));
    }
}
