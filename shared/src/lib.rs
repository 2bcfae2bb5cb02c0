//! trailrelay's library: everything the enricher and the CLI do to an event,
//! with no AWS client in sight. AWS calls sit behind [`publish::Publisher`].
//!
//! - [`event`]: the tolerant input model; [`lenient`]: its field types
//! - [`rules`]: the classification table
//! - [`directory`]: the account directory
//! - [`enrich`]: the `enrichment` object and its signals
//! - [`size`]: entry sizes and trimming
//! - [`relay`]: the per-event path that ties them together
//! - [`publish`]: batching and retries
//! - [`metrics`]: embedded-metric-format counts

pub mod category;
pub mod directory;
pub mod enrich;
pub mod entry;
pub mod error;
pub mod event;
pub mod lenient;
pub mod metrics;
pub mod paths;
pub mod publish;
pub mod relay;
pub mod retry;
pub mod rules;
pub mod settings;
pub mod signal;
pub mod size;
pub mod tamper;

pub use category::Category;
pub use entry::Entry;
pub use error::Error;
pub use relay::{Prepared, PreparedEntry, ReceivedAt, Relay};
pub use settings::Settings;

/// The JSON Schema of the `enrichment` object.
pub fn enrichment_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(enrich::Enrichment<'static>))
        .unwrap_or(serde_json::Value::Null)
}
