//! What the relay's volume is made of, and how to cut it safely (issue 18):
//! an EventBridge event-pattern matcher with EventBridge's documented
//! semantics, used to compute what a member-rule exclusion would drop.

pub mod matcher;

pub use matcher::{Pattern, PatternError};
