//! `trailrelay reconcile`: the organization trail's log files against what
//! the relay delivered (trailrelay-reconcile does the judging); local
//! folders and files.

use crate::CliError;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trailrelay_reconcile::seen::Seen;
use trailrelay_reconcile::{logfile, Reconciler, Report, Scope};

#[derive(clap::Args)]
pub struct ReconcileArgs {
    /// The trail: a folder tree of CloudTrail log files (`*.json.gz` as
    /// CloudTrail writes them, plain `*.json` too), or one such file.
    #[arg(long, value_name = "PATH")]
    trail: PathBuf,
    /// What the relay delivered: a JSON Lines file, or a folder of them
    /// (`trailrelay route` output, or events as a category bus delivers
    /// them, such as the enriched copy's objects; `*.gz` are decompressed).
    #[arg(long, value_name = "PATH")]
    seen: PathBuf,
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
    /// The summary as one JSON document (on stderr) instead of a table.
    #[arg(long)]
    json: bool,
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
    let mut seen = Seen::default();
    for file in files(&args.seen, |_| true)? {
        let input = File::open(&file).map_err(|source| unreadable(&file, source))?;
        let gzip = file.extension().is_some_and(|e| e == "gz");
        seen.read(BufReader::new(logfile::decompressed(input, gzip)))
            .map_err(|source| unreadable(&file, source))?;
    }
    let scope = Scope {
        from: args.from,
        to: args.to,
        regions: (!args.regions.is_empty()).then_some(args.regions),
        include_read_only: args.include_read_only,
        include_data: args.include_data,
    };
    let mut reconciler = Reconciler::new(scope, &seen, out);
    for file in files(&args.trail, |p| logfile::is_log_file(&p.to_string_lossy()))? {
        let name = file.display().to_string();
        match File::open(&file) {
            Ok(input) => reconciler
                .log_file(&name, input)
                .map_err(CliError::Output)?,
            Err(e) => reconciler.unreadable(&name, e.to_string()),
        }
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
    let mut t = format!(
        "{:<14} {:<16} {:>9} {:>9} {:>9}\n",
        "account", "region", "expected", "seen", "missing"
    );
    for p in &report.paths {
        t += &format!(
            "{:<14} {:<16} {:>9} {:>9} {:>9}\n",
            p.account, p.region, p.tally.expected, p.tally.seen, p.tally.missing
        );
    }
    let totals = report.totals;
    t += &format!(
        "{:<14} {:<16} {:>9} {:>9} {:>9}\n",
        "total", "", totals.expected, totals.seen, totals.missing
    );
    t += &format!(
        "{} log file(s) read, {} outside the window; {} event id(s) seen; {} duplicate record(s); {} without an event id\n",
        report.files_read, report.files_outside_the_window, seen_ids, report.duplicates, report.without_event_id
    );
    for d in &report.damaged_files {
        t += &format!("damaged: {}: {}\n", d.file, d.reason);
    }
    t
}
