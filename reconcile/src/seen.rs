//! What the relay delivered, as event ids. Each line is a PutEvents entry
//! as `trailrelay route` writes it (the record in `Detail`, a string), an
//! event as a category bus delivers it (the record in `detail`), or a bare
//! record; every one of them carries the record's `eventID`.

use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashSet;
use std::io::BufRead;
use trailrelay_shared::lenient::{Object, Text};

#[derive(Default, Deserialize)]
struct Line<'a> {
    #[serde(borrow, default, rename = "Detail")]
    entry_detail: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    detail: Object<Id<'a>>,
    #[serde(borrow, default, rename = "eventID")]
    event_id: Text<'a>,
}

#[derive(Default, Deserialize)]
struct Id<'a> {
    #[serde(borrow, default, rename = "eventID")]
    event_id: Text<'a>,
}

/// The event ids seen, with how many lines carried none.
#[derive(Debug, Default)]
pub struct Seen {
    ids: HashSet<String>,
    pub lines: usize,
    pub without_id: usize,
}

impl Seen {
    /// Reads one line; a line that is not JSON, or has no event id, is counted.
    pub fn add_line(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        self.lines += 1;
        match event_id(line) {
            Some(id) => {
                self.ids.insert(id);
            }
            None => self.without_id += 1,
        }
    }

    pub fn read(&mut self, input: impl BufRead) -> std::io::Result<()> {
        for line in input.lines() {
            self.add_line(&line?);
        }
        Ok(())
    }

    pub fn contains(&self, event_id: &str) -> bool {
        self.ids.contains(event_id)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

fn event_id(line: &str) -> Option<String> {
    let parsed: Line<'_> = serde_json::from_str(line).ok()?;
    if let Some(detail) = parsed.entry_detail {
        let id: Id<'_> = serde_json::from_str(&detail).ok()?;
        return id.event_id.non_empty().map(str::to_owned);
    }
    parsed
        .detail
        .get()
        .and_then(|d| d.event_id.non_empty())
        .or(parsed.event_id.non_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
