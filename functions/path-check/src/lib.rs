//! The path check: on a schedule, compares the paths the account directory
//! says should exist with when each was last heard from, reports each path
//! that went silent or came back on the audit bus, and marks it in the
//! store once the report is delivered (an undelivered report is made again
//! at the next check: nothing is lost).

use serde::Serialize;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;
use trailrelay_path_health::{assess, change_entry, expected_paths, Change, PathState, PathStatus};
use trailrelay_shared::directory::Directory;
use trailrelay_shared::paths::{rfc3339, PathStore};
use trailrelay_shared::publish::{Delivering, Delivery, Publisher};
use trailrelay_shared::settings::{Settings, ENV_ENROLLED_REGIONS};
use trailrelay_shared::Category;

/// The AWS calls the path check makes under its role (main.rs): the flow
/// test (`tests/templates/test_iam_flows.py`) judges each against the
/// template.
pub const AWS_CALLS: &[trailrelay_adapters::calls::Call] = {
    use trailrelay_adapters::calls::*;
    &[
        DYNAMODB_SCAN,
        DYNAMODB_UPDATE_ITEM,
        EVENTS_PUT_EVENTS,
        S3_GET_OBJECT,
    ]
};

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("settings: {0}")]
    Settings(#[from] trailrelay_shared::Error),

    #[error("{ENV_ENROLLED_REGIONS} names no region: the check would expect no path at all")]
    NoRegions,

    #[error("account directory: {0}")]
    Directory(String),

    #[error("path store: {0}")]
    Store(trailrelay_shared::Error),
}

/// What one check found and did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub checked_at: String,
    pub expected: usize,
    pub healthy: usize,
    pub silent: usize,
    pub pending: usize,
    pub not_expected: usize,
    /// Path Silent events delivered by this check.
    pub reported_silent: Vec<String>,
    /// Path Restored events delivered by this check.
    pub reported_restored: Vec<String>,
    /// Reports that could not be delivered (made again next time).
    pub failed: Vec<String>,
}

impl CheckReport {
    /// CloudWatch embedded metric format: the silent paths (the alarm's
    /// metric), the expected ones, and undelivered reports.
    pub fn to_emf(&self, timestamp_ms: i64) -> String {
        trailrelay_lambda::emf::line(
            timestamp_ms,
            &[],
            &[
                ("SilentPaths", self.silent as u64),
                ("ExpectedPaths", self.expected as u64),
                ("PathReportsFailed", self.failed.len() as u64),
            ],
        )
    }
}

pub struct PathCheck<S, P> {
    pub settings: Settings,
    pub store: S,
    pub publisher: P,
}

impl<S: PathStore, P: Publisher> PathCheck<S, P> {
    pub async fn run(
        &self,
        directory: &Directory,
        now: OffsetDateTime,
        deadline: Instant,
    ) -> Result<(CheckReport, Vec<PathStatus>), CheckError> {
        let paths = &self.settings.paths;
        if paths.enrolled_regions.is_empty() {
            return Err(CheckError::NoRegions);
        }
        let threshold = paths.silence_threshold;
        let expected = expected_paths(directory, &paths.enrolled_regions, &paths.scope);
        let records = self.store.list().await.map_err(CheckError::Store)?;
        let (statuses, changes) = assess(&expected, &records, directory, now, threshold);

        let audit_bus = self.settings.bus(Category::Audit);
        let reported: Vec<(&Change, _)> = changes
            .iter()
            .filter_map(|c| {
                let entry = change_entry(
                    c,
                    directory,
                    now,
                    threshold,
                    &self.settings.source,
                    audit_bus,
                );
                entry.map(|e| (c, e))
            })
            .collect();
        let entries: Vec<_> = reported.iter().map(|(_, e)| e.clone()).collect();
        let delivery = Delivering {
            publisher: &self.publisher,
            limits: &self.settings.limits,
            retry: &self.settings.retry,
            concurrency: self.settings.concurrency,
            deadline,
        }
        .deliver(&entries)
        .await;

        let mut report = CheckReport {
            checked_at: rfc3339(now),
            expected: expected.len(),
            ..CheckReport::default()
        };
        for status in &statuses {
            match status.state {
                PathState::Healthy => report.healthy += 1,
                PathState::Silent => report.silent += 1,
                PathState::Pending => report.pending += 1,
                PathState::NotExpected => report.not_expected += 1,
            }
        }
        let delivered = reported.iter().zip(&delivery.outcomes);
        for ((change, entry), outcome) in delivered {
            let id = change.key().id();
            match outcome {
                Delivery::Delivered => {
                    self.mark(change, now).await?;
                    match change {
                        Change::Silent { .. } => report.reported_silent.push(id.clone()),
                        Change::Restored { .. } => report.reported_restored.push(id.clone()),
                        Change::Dropped { .. } => {}
                    }
                    tracing::warn!(path = %id, detail_type = %entry.detail_type, "path change reported");
                }
                Delivery::Failed { code, message, .. } => {
                    tracing::error!(path = %id, %code, %message, "path change not reported; the next check tries again");
                    report.failed.push(id);
                }
            }
        }
        for change in changes
            .iter()
            .filter(|c| matches!(c, Change::Dropped { .. }))
        {
            self.mark(change, now).await?;
            tracing::info!(path = %change.key().id(), "no longer expected; its silent mark is cleared");
        }
        Ok((report, statuses))
    }

    async fn mark(&self, change: &Change, now: OffsetDateTime) -> Result<(), CheckError> {
        self.store
            .set_silent(change.key(), change.mark(now))
            .await
            .map_err(CheckError::Store)
    }
}

/// How long a check may take at most when the runtime gives no usable
/// deadline (local emulators).
pub const FALLBACK_BUDGET: Duration = Duration::from_secs(30);
