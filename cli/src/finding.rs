//! The one kind of finding the CLI's checks give (the doctor's, and
//! check-template's): a stable id, a status, what was seen and, unless it
//! passed, what to do.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    /// Works, but not as it should be.
    Warn,
    Fail,
    /// The API needed is not available (an emulator, a missing permission).
    CouldNotCheck,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::CouldNotCheck => "could not check",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id, e.g. `ingest-bus-policy`.
    pub id: String,
    pub status: Status,
    /// What was seen.
    pub evidence: String,
    /// What to do, for anything but a pass.
    pub fix: Option<String>,
}

impl Finding {
    pub fn new(id: impl Into<String>, status: Status, evidence: impl Into<String>) -> Finding {
        Finding {
            id: id.into(),
            status,
            evidence: evidence.into(),
            fix: None,
        }
    }

    pub fn pass(id: impl Into<String>, evidence: impl Into<String>) -> Finding {
        Finding::new(id, Status::Pass, evidence)
    }

    pub fn fail(
        id: impl Into<String>,
        evidence: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            fix: Some(fix.into()),
            ..Finding::new(id, Status::Fail, evidence)
        }
    }

    pub fn warn(
        id: impl Into<String>,
        evidence: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            fix: Some(fix.into()),
            ..Finding::new(id, Status::Warn, evidence)
        }
    }

    pub fn could_not_check(id: impl Into<String>, why: impl Into<String>) -> Finding {
        Finding::new(id, Status::CouldNotCheck, why)
    }
}

/// Any finding failed: the doctor exits non-zero.
pub fn any_failed(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.status == Status::Fail)
}
