//! `trailrelay volumes`: the relay's event volume by call, account and
//! region, its 64 KB chunks and their cost a month (trailrelay-volume builds
//! and prices the table). Reads CloudTrail log files (what the forward rule
//! did not send too), JSON Lines of EventBridge events or `route` entries,
//! and the enriched copy, locally or in S3; streamed, one object at a time.

use crate::reconcile::Side;
use crate::CliError;
use std::io::{BufRead, BufReader, Read, Write};
use trailrelay_reconcile::logfile;
use trailrelay_volume::report::{Prices, Report};
use trailrelay_volume::tally::Tally;

/// What `volumes` and `filter suggest` read, and at which prices.
#[derive(clap::Args)]
pub struct Sources {
    /// Files or folders (CloudTrail log files `*.json[.gz]`, JSON Lines of
    /// events or `route` entries, `*.gz` decompressed), or
    /// `s3://bucket/prefix` (a trail's bucket, the enriched copy).
    #[arg(required = true, value_name = "PATH")]
    pub inputs: Vec<String>,
    /// Prices (TOML, as config/prices.toml); default: the embedded ones.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub aws: crate::aws::AwsArgs,
}

impl Sources {
    /// Every object of every input, in order.
    pub fn each(&self, each: &mut dyn FnMut(&str)) -> Result<(), CliError> {
        for_each_object(&self.inputs, &self.aws, each)
    }

    pub fn prices(&self) -> Result<Prices, CliError> {
        prices(self.prices.as_deref())
    }
}

#[derive(clap::Args)]
pub struct VolumesArgs {
    #[command(flatten)]
    sources: Sources,
    /// Rows shown; the rest are summed in one.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// The report as one JSON document.
    #[arg(long)]
    json: bool,
}

/// Hands `each` every object one file holds: a CloudTrail log file's
/// records, or one object a line.
pub fn read_objects(
    input: impl Read,
    name: &str,
    each: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let mut reader = BufReader::new(logfile::sniffed(input));
    let head = reader.fill_buf().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&head[..head.len().min(64)]);
    if text.trim_start().starts_with("{\"Records\"") || name.contains("_CloudTrail_") {
        logfile::read_records(reader, false, &mut |record| {
            each(record.get());
            Ok(())
        })?;
        return Ok(());
    }
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Ok(());
        }
        if !line.trim().is_empty() {
            each(&line);
        }
    }
}

/// Every object of every input (files, folders, `s3://` prefixes), in order.
fn for_each_object(
    inputs: &[String],
    aws: &crate::aws::AwsArgs,
    each: &mut dyn FnMut(&str),
) -> Result<(), CliError> {
    for input in inputs {
        let side = Side::new(input, aws)?;
        for name in side.names(|n| !n.contains("CloudTrail-Digest"))? {
            let unreadable = |reason: String| CliError::Input {
                path: name.clone(),
                source: std::io::Error::other(reason),
            };
            let file = side.open(&name).map_err(unreadable)?;
            read_objects(file, &name, each).map_err(unreadable)?;
        }
    }
    Ok(())
}

/// Reads `--prices`, else the embedded prices.
fn prices(path: Option<&std::path::Path>) -> Result<Prices, CliError> {
    let Some(path) = path else {
        return Ok(Prices::embedded());
    };
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Input {
        path: path.display().to_string(),
        source,
    })?;
    Prices::parse(&text).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
}

pub fn volumes(args: VolumesArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let prices = args.sources.prices()?;
    let mut tally = Tally::default();
    args.sources.each(&mut |text| tally.add_text(text))?;
    let report = Report::new(&tally, args.top, prices);
    let text = if args.json {
        serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
    } else {
        report.to_table()
    };
    out.write_all(text.as_bytes()).map_err(CliError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_file_and_json_lines_are_told_apart_by_their_content() {
        let record = r#"{"eventSource":"kms.amazonaws.com","eventName":"Decrypt","readOnly":true,"awsRegion":"us-east-1","recipientAccountId":"111122223333","eventTime":"2026-12-01T00:00:00Z","userIdentity":{"type":"AWSService","invokedBy":"s3.amazonaws.com"}}"#;
        let mut tally = Tally::default();
        let mut add = |text: &str| tally.add_text(text);
        read_objects(
            format!("{{\"Records\":[{record},{record}]}}").as_bytes(),
            "x.json",
            &mut add,
        )
        .unwrap();
        read_objects(
            format!("{record}\n\n{record}\nnot json\n").as_bytes(),
            "x.jsonl",
            &mut add,
        )
        .unwrap();
        assert_eq!(tally.total().count, 4);
        assert_eq!(tally.unreadable, 1);
        let rows = tally.rows();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].0.invoked_by_service);
    }
}
