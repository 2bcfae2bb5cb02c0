use std::path::PathBuf;

/// Errors of configuration and start-up. Events never produce one of these:
/// an event that cannot be read still becomes an entry on the `other` bus.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rule table {origin}: {reason}")]
    Rules { origin: String, reason: String },

    #[error("account directory {origin}: {reason}")]
    Directory { origin: String, reason: String },

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("setting {name}: {reason}")]
    Setting { name: &'static str, reason: String },

    #[error("path store: {reason}")]
    PathStore { reason: String },

    #[error("PutEvents failed ({}): {reason}", if *transient { "transient" } else { "permanent" })]
    PutEvents { transient: bool, reason: String },
}

impl Error {
    /// A PutEvents call that failed as a whole; `transient` failures
    /// (throttling, 5xx, time-outs, broken connections) are worth retrying.
    pub fn put_events(transient: bool, reason: impl Into<String>) -> Error {
        Error::PutEvents {
            transient,
            reason: reason.into(),
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::PutEvents {
                transient: true,
                ..
            }
        )
    }
}
