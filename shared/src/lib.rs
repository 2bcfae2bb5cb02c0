//! trailrelay's library: the per-event core, everything the enricher and
//! the CLI do to one event, with no AWS client in sight (AWS sits behind
//! [`publish::Publisher`], [`directory::DirectorySource`] and
//! [`paths::PathStore`]). Its modules, in the order they depend on each
//! other (docs/architecture.md has the graph):
//!
//! - [`error`]: the crate's one error type
//! - [`lenient`]: tolerant field types; [`event`]: the input model built on them
//! - [`category`]: the categories, one bus each
//! - [`rules`]: the classification table (`config/rules.toml`)
//! - [`directory`]: the account directory
//! - [`tamper`]: which calls change the forwarding path
//! - [`retry`]: the retry policy and its backoff
//! - [`paths`]: forwarding paths as heartbeats name them, the `PathStore` trait
//! - [`settings`]: the deployment's settings, from the environment
//! - [`signal`]: the signals and the one function that decides them
//! - [`enrich`]: the `enrichment` object
//! - [`size`]: entry sizes and trimming; [`entry`]: the PutEvents entry
//! - [`relay`]: the per-event path that ties them together
//! - [`publish`]: batching and retries over the `Publisher` trait
//! - [`metrics`]: the per-invocation counts

/// A fieldless enum declared by one list of (variant, wire name): the enum
/// (each variant serialized by its name), `COUNT`, `ALL` and `as_str` come
/// from the list, so a new variant is one line. `Category` and `Signal` use it.
macro_rules! named_enum {
    ($(#[$meta:meta])* pub enum $enum:ident { $($variant:ident => $name:literal,)+ }) => {
        $(#[$meta])*
        pub enum $enum {
            $(#[serde(rename = $name)] $variant,)+
        }

        impl $enum {
            /// How many there are.
            pub const COUNT: usize = [$($name,)+].len();
            /// Every one, in the list's order.
            pub const ALL: [$enum; $enum::COUNT] = [$($enum::$variant,)+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($enum::$variant => $name,)+
                }
            }
        }
    };
}

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
pub use relay::{Circumstances, Prepared, PreparedEntry, ReceivedAt, Relay};
pub use settings::Settings;

/// The JSON Schema of the `enrichment` object.
pub fn enrichment_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(enrich::Enrichment<'static>))
        .unwrap_or(serde_json::Value::Null)
}
