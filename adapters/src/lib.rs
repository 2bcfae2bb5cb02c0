//! The AWS side of the traits the relay's logic is written against: each
//! module is one small adapter, and nothing here decides anything.

pub mod dynamodb;
pub mod eventbridge;
pub mod s3;
