//! What every trailrelay Lambda function needs of its runtime, beside the
//! runtime crate itself: JSON logs, the invocation's time budget, and
//! metrics as embedded metric format lines.

pub mod budget;
pub mod emf;
pub mod logging;
