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
pub use scope::Scope;
pub use window::{Pass, Window};
