//! What the relay's volume is made of, and how to cut it safely (issue 18):
//! an EventBridge event-pattern matcher with EventBridge's documented
//! semantics, used to compute what a member-rule exclusion would drop; the
//! volume table by call, priced and scaled to a month.

pub mod matcher;
pub mod report;
pub mod suggest;
pub mod tally;

pub use matcher::{Pattern, PatternError};
