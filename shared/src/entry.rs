//! A PutEvents request entry, as the relay sends it.

use crate::size::entry_size;
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    pub event_bus_name: String,
    pub source: String,
    pub detail_type: String,
    /// The record with `enrichment` added, as JSON text.
    pub detail: String,
    /// The original event's time.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub resources: Vec<String>,
}

impl Entry {
    /// The size EventBridge counts against its limits.
    pub fn size(&self) -> usize {
        entry_size(
            &self.source,
            &self.detail_type,
            &self.detail,
            &self.resources,
        )
    }
}
