//! Reconciliation: every record the organization trail holds that the
//! member forward rule would have sent is either seen among what the relay
//! delivered or reported missing, wrapped as EventBridge would have
//! delivered it, ready to be put back. Pure over readers: the CLI feeds it
//! local files, the reconciler Lambda objects from S3.
//!
//! - [`logfile`]: CloudTrail log files, streamed one record at a time
//! - [`scope`]: which records the forward rule would have sent, in which window
//! - [`seen`]: the event ids among delivered events or PutEvents entries
//! - [`reconciler`]: the tally per path and the missing records
//! - [`window`]: which window a pass reads, and which listings hold its files

pub mod logfile;
pub mod reconciler;
pub mod scope;
pub mod seen;
pub mod window;

pub use reconciler::{Reconciler, Report};

/// What the reconciler's environment names (template.yaml), read by the
/// function and by the doctor.
pub const ENV_TRAIL_BUCKET: &str = "TRAILRELAY_TRAIL_BUCKET";
pub const ENV_TRAIL_KEY_PREFIX: &str = "TRAILRELAY_TRAIL_KEY_PREFIX";
pub const ENV_TRAIL_READ_ROLE_ARN: &str = "TRAILRELAY_TRAIL_READ_ROLE_ARN";
pub const ENV_ORGANIZATION_ID: &str = "TRAILRELAY_ORGANIZATION_ID";
pub const ENV_COPY_BUCKET: &str = "TRAILRELAY_COPY_BUCKET";
pub const ENV_BACKFILL: &str = "TRAILRELAY_BACKFILL";
pub const ENV_BUFFER_QUEUE_URL: &str = "TRAILRELAY_BUFFER_QUEUE_URL";
pub const ENV_ENRICHER_FUNCTION: &str = "TRAILRELAY_ENRICHER_FUNCTION";

/// Where the enriched copy's Firehose streams write (template.yaml).
pub const COPY_PREFIX: &str = "enriched/";
pub use scope::Scope;
pub use window::{Pass, Window};
