//! The reconciler Lambda's logic: for one window and pass, every enrolled
//! path's trail files (listed per day folder, streamed) against the
//! enriched copy; one "trailrelay Reconciliation Report" on the audit bus
//! (in parts when it is large), metrics, and, when backfill is on, each
//! missing record put back through the relay's own entry. The judging is
//! trailrelay-reconcile's; the S3, SQS and Lambda calls are the adapters'.

use serde::{Deserialize, Serialize};
use std::io::Read;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use trailrelay_reconcile::reconciler::{PathTally, Report};
use trailrelay_reconcile::seen::Seen;
use trailrelay_reconcile::window::{copy_prefixes, TrailLayout};
use trailrelay_reconcile::{
    logfile, Pass, Reconciler, Scope, Window, COPY_PREFIX, ENV_BACKFILL, ENV_BUFFER_QUEUE_URL,
    ENV_COPY_BUCKET, ENV_ENRICHER_FUNCTION, ENV_ORGANIZATION_ID, ENV_TRAIL_BUCKET,
    ENV_TRAIL_KEY_PREFIX, ENV_TRAIL_READ_ROLE_ARN,
};
use trailrelay_shared::paths::PathKey;
use trailrelay_shared::publish::group_sizes;
use trailrelay_shared::{Category, Entry};

/// The AWS calls the reconciler makes under its role (main.rs): the trail
/// read directly or through `TrailReadRoleArn`, the put-back on the buffer
/// queue or through the enricher. The flow test
/// (`tests/templates/test_iam_flows.py`) judges each against the template.
pub const AWS_CALLS: &[trailrelay_adapters::calls::Call] = {
    use trailrelay_adapters::calls::*;
    &[
        S3_LIST_OBJECTS_V2,
        S3_GET_OBJECT,
        EVENTS_PUT_EVENTS,
        SQS_SEND_MESSAGE_BATCH,
        LAMBDA_INVOKE,
        STS_ASSUME_ROLE,
    ]
};

pub const REPORT_DETAIL_TYPE: &str = "trailrelay Reconciliation Report";

pub const ENV_INCLUDE_READ_ONLY: &str = "TRAILRELAY_INCLUDE_READ_ONLY";
pub const ENV_WINDOW_MINUTES: &str = "TRAILRELAY_RECONCILE_WINDOW_MINUTES";
pub const ENV_MAX_LAG_MINUTES: &str = "TRAILRELAY_RECONCILE_MAX_LAG_MINUTES";

/// A report event's detail stays under this, well within EventBridge's
/// 256 KB entry: a large organization's report goes out in parts.
pub const MAX_REPORT_DETAIL_BYTES: usize = 200_000;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("settings: {0}")]
    Settings(String),

    #[error("the request: {0}")]
    Request(String),

    #[error("account directory: {0}")]
    Directory(String),

    /// The copy is what "seen" rests on: reading part of it would report
    /// (and put back) what was delivered, so the pass fails instead.
    #[error("the enriched copy: {0}")]
    Copy(String),

    #[error("writing the missing records: {0}")]
    Output(#[from] std::io::Error),
}

/// How missing records are put back (the template's Backfill and mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backfill {
    Off,
    /// Buffered mode: SendMessageBatch to the buffer queue.
    Queue(String),
    /// Direct mode: invoke the enricher with the batch shape the queue delivers.
    Invoke(String),
}

#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    pub trail_bucket: String,
    pub trail: TrailLayout,
    /// A role in the log-archive account that may read the trail bucket.
    pub trail_read_role: Option<String>,
    pub copy_bucket: String,
    pub include_read_only: bool,
    pub window: Duration,
    /// Trail files delivered, and copies of events received, up to this
    /// long after the window's end are read (the first pass: those by
    /// then). Each file is read by every window it may hold records of, so
    /// this is a cost: docs/performance.md.
    pub max_lag: Duration,
    pub backfill: Backfill,
}

impl ReconcileSettings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ReconcileError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| {
            get(name).ok_or_else(|| ReconcileError::Settings(format!("{name} is not set")))
        };
        let flag = |name: &'static str, default: bool| match get(name).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ReconcileError::Settings(format!(
                "{name}={other:?}: expected true or false"
            ))),
        };
        let minutes = |name: &'static str, default: i64| match get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|m| (5..=24 * 60).contains(m))
                .ok_or_else(|| {
                    ReconcileError::Settings(format!(
                        "{name}={v:?}: expected minutes from 5 to 1440"
                    ))
                }),
        };
        let backfill = match get(ENV_BACKFILL).as_deref() {
            None | Some("off") => Backfill::Off,
            Some("queue") => Backfill::Queue(required(ENV_BUFFER_QUEUE_URL)?),
            Some("invoke") => Backfill::Invoke(required(ENV_ENRICHER_FUNCTION)?),
            Some(other) => {
                return Err(ReconcileError::Settings(format!(
                    "{ENV_BACKFILL}={other:?}: expected off, queue or invoke"
                )))
            }
        };
        Ok(ReconcileSettings {
            trail_bucket: required(ENV_TRAIL_BUCKET)?,
            trail: TrailLayout {
                key_prefix: get(ENV_TRAIL_KEY_PREFIX).unwrap_or_default(),
                organization_id: required(ENV_ORGANIZATION_ID)?,
            },
            trail_read_role: get(ENV_TRAIL_READ_ROLE_ARN),
            copy_bucket: required(ENV_COPY_BUCKET)?,
            include_read_only: flag(ENV_INCLUDE_READ_ONLY, false)?,
            window: Duration::minutes(minutes(ENV_WINDOW_MINUTES, 60)?),
            max_lag: Duration::minutes(minutes(ENV_MAX_LAG_MINUTES, 180)?),
            backfill,
        })
    }
}

/// What an invocation asks for: the schedule sends `{"pass": "first"}` or
/// `{"pass": "second"}`; an operator may name the window's start to read
/// one again (`windowStart`, RFC 3339).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub pass: Option<Pass>,
    pub window_start: Option<String>,
}

impl Request {
    /// The pass and window to read at `now`.
    pub fn window(
        &self,
        now: OffsetDateTime,
        length: Duration,
    ) -> Result<(Pass, Window), ReconcileError> {
        let pass = self.pass.unwrap_or(Pass::First);
        let window = match &self.window_start {
            None => Window::for_pass(pass, now, length),
            Some(text) => {
                let from = OffsetDateTime::parse(text, &Rfc3339)
                    .map_err(|e| ReconcileError::Request(format!("windowStart {text:?}: {e}")))?;
                Window {
                    from,
                    to: from + length,
                }
            }
        };
        if window.to > now {
            return Err(ReconcileError::Request(format!(
                "the window ends at {}, after now: nothing to reconcile yet",
                rfc3339(window.to)
            )));
        }
        Ok((pass, window))
    }
}

/// The objects of one bucket, read from a blocking thread (the parser
/// reads as the bytes arrive).
pub trait Objects {
    fn list(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<String>, String>;
    fn open(&self, key: &str) -> Result<Box<dyn Read + '_>, String>;
}

/// One pass over one window.
pub struct Plan<'a> {
    pub settings: &'a ReconcileSettings,
    pub pass: Pass,
    pub window: Window,
    /// Now: files and copies delivered until now are read.
    pub until: OffsetDateTime,
    pub paths: &'a [PathKey],
    pub regions: &'a [String],
}

/// What a pass found: the tally, and each missing record wrapped as
/// EventBridge delivers it.
#[derive(Debug)]
pub struct Found {
    pub report: Report,
    pub missing: Vec<String>,
    pub seen_ids: usize,
    /// Trail listings that failed (the path's files were not read).
    pub unlisted: Vec<(PathKey, String)>,
}

pub fn reconcile(
    plan: &Plan<'_>,
    trail: &dyn Objects,
    copy: &dyn Objects,
) -> Result<Found, ReconcileError> {
    let categories: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
    // What arrived up to the lag after the window (the first pass: until
    // now), only the window's events kept: the copy is not partitioned by
    // event time, and a day of it is far more than one window needs.
    let lag = (plan.until - plan.window.to).clamp(Duration::ZERO, plan.settings.max_lag);
    let until = plan.window.to + lag;
    let mut seen = Seen::for_window(plan.window.from, plan.window.to);
    for prefix in copy_prefixes(COPY_PREFIX, &categories, &plan.window, until) {
        for key in copy.list(&prefix, None).map_err(ReconcileError::Copy)? {
            let input = copy.open(&key).map_err(ReconcileError::Copy)?;
            seen.read(std::io::BufReader::new(logfile::sniffed(input)))
                .map_err(|e| ReconcileError::Copy(format!("{key}: {e}")))?;
        }
    }
    let scope = Scope {
        from: Some(plan.window.from),
        to: Some(plan.window.to),
        regions: Some(plan.regions.to_vec()),
        include_read_only: plan.settings.include_read_only,
        include_data: false,
    };
    let mut missing = Vec::new();
    let mut reconciler = Reconciler::new(scope, &seen, &mut missing);
    if plan.pass == Pass::Second {
        reconciler.late_after = Some(plan.window.first_pass_at());
    }
    reconciler.delivery_lag = lag;
    let mut unlisted = Vec::new();
    for path in plan.paths {
        let listings =
            plan.settings
                .trail
                .listings(&path.account, &path.region, &plan.window, until);
        for listing in listings {
            let keys = match trail.list(&listing.prefix, listing.start_after.as_deref()) {
                Ok(keys) => keys,
                Err(reason) => {
                    unlisted.push((path.clone(), reason));
                    continue;
                }
            };
            for key in keys.iter().filter(|k| logfile::is_log_file(k)) {
                reconciler.log_file(key, || trail.open(key))?;
            }
        }
    }
    let report = reconciler.finish()?;
    let missing = String::from_utf8_lossy(&missing)
        .lines()
        .map(str::to_owned)
        .collect();
    Ok(Found {
        report,
        missing,
        seen_ids: seen.len(),
        unlisted,
    })
}

/// What became of the put-back.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutBack {
    pub mode: &'static str,
    pub sent: u64,
    pub failed: u64,
}

impl Backfill {
    pub fn mode(&self) -> &'static str {
        match self {
            Backfill::Off => "off",
            Backfill::Queue(_) => "queue",
            Backfill::Invoke(_) => "invoke",
        }
    }
}

/// SQS takes ten messages and 256 KiB per SendMessageBatch.
pub const QUEUE_BATCH_MESSAGES: usize = 10;
pub const QUEUE_BATCH_BYTES: usize = 256 * 1024;
/// A synchronous invocation's payload is at most 6 MB; the batch shape
/// adds a few hundred bytes per message.
pub const INVOKE_BATCH_BYTES: usize = 5_000_000;
pub const INVOKE_BATCH_MESSAGES: usize = 1_000;

/// Direct mode's put-back payload: the shape the buffer queue delivers,
/// each message marked with the enricher's backfill attribute.
pub fn invocation_payload(bodies: &[String], attribute: &str) -> String {
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            serde_json::json!({
                "messageId": format!("backfill-{i}"),
                "body": body,
                "messageAttributes": {attribute: {"stringValue": "true", "dataType": "String"}},
                "eventSource": "trailrelay:reconcile",
            })
        })
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}

/// The indexes an enricher's batch answer names as failed.
pub fn invocation_failures(answer: &[u8], count: usize) -> Vec<usize> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "batchItemFailures", default)]
        failures: Vec<Failure>,
    }
    #[derive(Deserialize)]
    struct Failure {
        #[serde(rename = "itemIdentifier")]
        id: String,
    }
    match serde_json::from_slice::<Answer>(answer) {
        Ok(answer) => answer
            .failures
            .iter()
            .filter_map(|f| f.id.strip_prefix("backfill-")?.parse().ok())
            .collect(),
        // An answer we cannot read: count every message as not put back.
        Err(_) => (0..count).collect(),
    }
}

/// Where missing records are put back: the buffer queue or the enricher.
pub trait PutBackTarget {
    /// (most messages, most bytes) in one call.
    fn limits(&self) -> (usize, usize);
    /// Sends one group; the indexes (within the group) that were refused.
    fn send(
        &self,
        group: &[String],
    ) -> impl std::future::Future<Output = Result<Vec<usize>, String>> + Send;
}

/// Puts every missing record back, group by group; a refused record or a
/// failed call is counted and logged (the next pass finds it missing
/// again), never the end of the pass.
pub async fn put_back<T: PutBackTarget + Sync>(
    target: &T,
    mode: &'static str,
    missing: &[String],
) -> PutBack {
    let (count, bytes) = target.limits();
    let mut result = PutBack {
        mode,
        ..PutBack::default()
    };
    let sizes: Vec<usize> = missing.iter().map(String::len).collect();
    for range in group_sizes(&sizes, count, bytes) {
        let size = range.len() as u64;
        match target.send(&missing[range.clone()]).await {
            Ok(refused) => {
                let refused = refused.len() as u64;
                result.sent += size - refused.min(size);
                result.failed += refused.min(size);
                if refused > 0 {
                    tracing::error!(
                        refused,
                        mode,
                        "records not put back; the next pass reports them again"
                    );
                }
            }
            Err(reason) => {
                result.failed += size;
                tracing::error!(%reason, records = size, mode, "put-back failed; the next pass reports them again");
            }
        }
    }
    result
}

/// The report's detail, in parts that each fit an entry.
pub fn report_details(
    found: &Found,
    pass: Pass,
    window: &Window,
    put_back: &PutBack,
    paths_expected: usize,
) -> Vec<String> {
    // Only the paths with something to say are listed; the others are counted.
    let noteworthy: Vec<&PathTally> = found
        .report
        .paths
        .iter()
        .filter(|p| p.tally.missing + p.tally.late + p.tally.backfilled > 0)
        .collect();
    let unlisted: Vec<serde_json::Value> = found
        .unlisted
        .iter()
        .map(|(p, reason)| serde_json::json!({"account": p.account, "region": p.region, "reason": reason}))
        .collect();
    let head = |paths: &[&PathTally], part: usize, parts: usize| {
        serde_json::json!({
            "pass": pass.as_str(),
            "window": {"from": rfc3339(window.from), "to": rfc3339(window.to)},
            "totals": found.report.totals,
            "pathsExpected": paths_expected,
            "pathsWithFindings": noteworthy.len(),
            "paths": paths,
            "part": part,
            "parts": parts,
            "filesRead": found.report.files_read,
            "damagedFiles": found.report.damaged_files,
            "unlistedPaths": unlisted,
            "duplicates": found.report.duplicates,
            "withoutEventId": found.report.without_event_id,
            "seenEventIds": found.seen_ids,
            "putBack": put_back,
        })
        .to_string()
    };
    // Paths in parts: as many per part as fit beside the rest of the report.
    let base = head(&[], 1, 1).len();
    let room = MAX_REPORT_DETAIL_BYTES.saturating_sub(base).max(1);
    let sizes: Vec<usize> = noteworthy
        .iter()
        .map(|p| serde_json::to_string(p).map_or(0, |t| t.len() + 1))
        .collect();
    let mut parts = group_sizes(&sizes, usize::MAX, room);
    if parts.is_empty() {
        // Nothing to list: one report all the same.
        parts.push(0..0);
    }
    let count = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, range)| head(&noteworthy[range], i + 1, count))
        .collect()
}

/// The report's entries for the audit bus.
pub fn report_entries(
    details: Vec<String>,
    source: &str,
    bus: &str,
    window: &Window,
) -> Vec<Entry> {
    details
        .into_iter()
        .map(|detail| Entry {
            event_bus_name: bus.to_owned(),
            source: source.to_owned(),
            detail_type: REPORT_DETAIL_TYPE.to_owned(),
            detail,
            time: window.to,
            resources: Vec::new(),
        })
        .collect()
}

/// The pass's metrics, dimension `Pass` (the alarm watches Missing of the
/// second pass).
pub fn metric_line(found: &Found, pass: Pass, put_back: &PutBack, timestamp_ms: i64) -> String {
    let t = &found.report.totals;
    trailrelay_lambda::emf::line(
        timestamp_ms,
        &[("Pass", pass.as_str())],
        &[
            ("ReconcileExpected", t.expected),
            ("ReconcileSeen", t.seen),
            ("ReconcileMissing", t.missing),
            ("ReconcileLate", t.late),
            ("ReconcileBackfilledSeen", t.backfilled),
            ("ReconcilePutBack", put_back.sent),
            ("ReconcilePutBackFailed", put_back.failed),
            (
                "ReconcileUnreadable",
                (found.report.damaged_files.len() + found.unlisted.len()) as u64,
            ),
        ],
    )
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}
