//! `trailrelay reconcile`: the organization trail's log files against what
//! the relay delivered (trailrelay-reconcile does the judging); each side a
//! local folder or file, or an S3 prefix.

use crate::CliError;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trailrelay_reconcile::seen::Seen;
use trailrelay_reconcile::{logfile, Reconciler, Report, Scope};

#[derive(clap::Args)]
pub struct ReconcileArgs {
    /// The trail: a folder tree of CloudTrail log files (`*.json.gz` as
    /// CloudTrail writes them, plain `*.json` too), one such file, or
    /// `s3://bucket/prefix` (read with the AWS credentials).
    #[arg(long, value_name = "PATH")]
    trail: String,
    /// What the relay delivered: a JSON Lines file, a folder of them, or
    /// `s3://bucket/prefix` (`trailrelay route` output, or events as a
    /// category bus delivers them, such as the enriched copy's objects;
    /// `*.gz` are decompressed).
    #[arg(long, value_name = "PATH")]
    seen: String,
    /// Records from this time on (RFC 3339, by eventTime); default: from the start.
    #[arg(long, value_name = "TIME", value_parser = rfc3339)]
    from: Option<OffsetDateTime>,
    /// Records before this time (RFC 3339); default: to the end.
    #[arg(long, value_name = "TIME", value_parser = rfc3339)]
    to: Option<OffsetDateTime>,
    /// The enrolled regions, comma-separated; default: every region.
    #[arg(long, value_delimiter = ',')]
    regions: Vec<String>,
    /// Whether the forward rule sends read-only management events (the
    /// member template's IncludeReadOnlyEvents).
    #[arg(long, value_name = "true|false", default_value = "true", action = clap::ArgAction::Set)]
    include_read_only: bool,
    /// Expect the trail's data events on the relay too.
    #[arg(long)]
    include_data: bool,
    /// The summary as one JSON document (on stderr) instead of a table
    /// (whose "put back" column counts the records seen only as backfilled
    /// copies, `provenance.backfilled`, among those seen).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    aws: crate::aws::AwsArgs,
}

/// Where one side is read from.
enum Source {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Source {
    fn parse(text: &str) -> Result<Source, CliError> {
        match text.strip_prefix("s3://") {
            None => Ok(Source::Local(PathBuf::from(text))),
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(CliError::Usage(format!("{text}: no bucket")));
                }
                Ok(Source::S3 {
                    bucket: bucket.to_owned(),
                    prefix: prefix.to_owned(),
                })
            }
        }
    }
}

/// A side as it is read: its files, each named by its path or `s3://`
/// URL; S3 objects are streamed, one at a time, as they are parsed.
pub(crate) enum Side {
    Local(PathBuf),
    S3 {
        bucket: trailrelay_adapters::s3::Bucket,
        prefix: String,
        runtime: tokio::runtime::Runtime,
    },
}

impl Side {
    pub(crate) fn new(text: &str, aws: &crate::aws::AwsArgs) -> Result<Side, CliError> {
        Ok(match Source::parse(text)? {
            Source::Local(path) => Side::Local(path),
            Source::S3 { bucket, prefix } => {
                // A worker thread drives the downloads while this one parses
                // what arrives (a current-thread runtime could not).
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(CliError::Output)?;
                let config = runtime.block_on(aws.config());
                Side::S3 {
                    bucket: trailrelay_adapters::s3::Bucket::new(&config, &bucket),
                    prefix,
                    runtime,
                }
            }
        })
    }

    pub(crate) fn names(&self, keep: impl Fn(&str) -> bool) -> Result<Vec<String>, CliError> {
        match self {
            Side::Local(path) => Ok(files(path, |p| keep(&p.to_string_lossy()))?
                .into_iter()
                .map(|p| p.display().to_string())
                .collect()),
            Side::S3 {
                bucket,
                prefix,
                runtime,
            } => {
                let keys = runtime
                    .block_on(bucket.list_after(prefix, None))
                    .map_err(|e| CliError::Aws(e.to_string()))?;
                Ok(keys
                    .into_iter()
                    .filter(|k| keep(k))
                    .map(|k| format!("s3://{}/{k}", bucket.name()))
                    .collect())
            }
        }
    }

    pub(crate) fn open(&self, name: &str) -> Result<Box<dyn Read>, String> {
        match self {
            Side::Local(_) => File::open(name)
                .map(|f| Box::new(f) as Box<dyn Read>)
                .map_err(|e| e.to_string()),
            Side::S3 {
                bucket, runtime, ..
            } => {
                let key = name
                    .strip_prefix(&format!("s3://{}/", bucket.name()))
                    .unwrap_or(name);
                let body = runtime
                    .block_on(bucket.open(key))
                    .map_err(|e| e.to_string())?;
                Ok(Box::new(tokio_util::io::SyncIoBridge::new_with_handle(
                    body,
                    runtime.handle().clone(),
                )))
            }
        }
    }
}

fn rfc3339(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| format!("not an RFC 3339 time: {e}"))
}

pub fn reconcile(
    args: ReconcileArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        if from >= to {
            return Err(CliError::Usage("--from must be before --to".into()));
        }
    }
    // With a whole window, only its events need be held: the copy of a
    // day holds many windows' events.
    let mut seen = match (args.from, args.to) {
        (Some(from), Some(to)) => Seen::for_window(from, to),
        _ => Seen::default(),
    };
    let seen_side = Side::new(&args.seen, &args.aws)?;
    for name in seen_side.names(|_| true)? {
        let input = seen_side.open(&name).map_err(|reason| CliError::Input {
            path: name.clone(),
            source: std::io::Error::other(reason),
        })?;
        let gzip = name.ends_with(".gz");
        seen.read(BufReader::new(logfile::decompressed(input, gzip)))
            .map_err(|source| unreadable(Path::new(&name), source))?;
    }
    let scope = Scope {
        from: args.from,
        to: args.to,
        regions: (!args.regions.is_empty()).then_some(args.regions),
        include_read_only: args.include_read_only,
        include_data: args.include_data,
    };
    let mut reconciler = Reconciler::new(scope, &seen, out);
    let trail = Side::new(&args.trail, &args.aws)?;
    for name in trail.names(logfile::is_log_file)? {
        reconciler
            .log_file(&name, || trail.open(&name))
            .map_err(CliError::Output)?;
    }
    let report = reconciler.finish().map_err(CliError::Output)?;
    let summary = if args.json {
        serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
    } else {
        table(&report, seen.len())
    };
    err.write_all(summary.as_bytes()).map_err(CliError::Output)
}

fn unreadable(path: &Path, source: std::io::Error) -> CliError {
    CliError::Input {
        path: path.display().to_string(),
        source,
    }
}

/// The path itself when it is a file, else the files under it that `keep` keeps.
fn files(path: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>, CliError> {
    let meta = std::fs::metadata(path).map_err(|source| unreadable(path, source))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut folders = vec![path.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|source| unreadable(&folder, source))?;
        for entry in entries {
            let entry = entry.map_err(|source| unreadable(&folder, source))?;
            let p = entry.path();
            if p.is_dir() {
                folders.push(p);
            } else if keep(&p) {
                found.push(p);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn table(report: &Report, seen_ids: usize) -> String {
    let row = |account: &str, region: &str, t: &trailrelay_reconcile::reconciler::Tally| {
        format!(
            "{account:<14} {region:<16} {:>9} {:>9} {:>9} {:>9}\n",
            t.expected, t.seen, t.missing, t.backfilled
        )
    };
    let mut t = format!(
        "{:<14} {:<16} {:>9} {:>9} {:>9} {:>9}\n",
        "account", "region", "expected", "seen", "missing", "put back"
    );
    for p in &report.paths {
        t += &row(&p.account, &p.region, &p.tally);
    }
    t += &row("total", "", &report.totals);
    t += &format!(
        "{} log file(s) read, {} outside the window; {} event id(s) seen; {} duplicate record(s); {} without an event id\n",
        report.files_read, report.files_outside_the_window, seen_ids, report.duplicates, report.without_event_id
    );
    for d in &report.damaged_files {
        t += &format!("damaged: {}: {}\n", d.file, d.reason);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_side_is_a_local_path_or_an_s3_bucket_and_prefix() {
        assert!(
            matches!(Source::parse("trail/").unwrap(), Source::Local(p) if p == Path::new("trail/"))
        );
        let Source::S3 { bucket, prefix } = Source::parse("s3://logs/org/AWSLogs/").unwrap() else {
            panic!("not S3")
        };
        assert_eq!((bucket.as_str(), prefix.as_str()), ("logs", "org/AWSLogs/"));
        let Source::S3 { prefix, .. } = Source::parse("s3://logs").unwrap() else {
            panic!("not S3")
        };
        assert_eq!(prefix, "");
        assert!(Source::parse("s3:///x").is_err());
    }
}
