//! `trailrelay paths`: every expected forwarding path, when it was last
//! heard from and how it stands, read from the path store.

use crate::CliError;
use serde::Serialize;
use std::io::Write;
use std::time::Duration;
use time::OffsetDateTime;
use trailrelay_adapters::dynamodb::DynamoPathStore;
use trailrelay_adapters::s3::read_directory;
use trailrelay_path_health::{assess, expected_paths, PathState, PathStatus};
use trailrelay_shared::paths::{rfc3339, PathStore};
use trailrelay_shared::settings::{ENV_ENROLLED_REGIONS, ENV_PATHS_TABLE};
use trailrelay_shared::Settings;

#[derive(clap::Args)]
pub struct PathsArgs {
    /// The path store (DynamoDB table); default: TRAILRELAY_PATHS_TABLE.
    #[arg(long)]
    table: Option<String>,
    /// Enrolled regions, comma-separated; default: TRAILRELAY_ENROLLED_REGIONS.
    #[arg(long, value_delimiter = ',')]
    regions: Vec<String>,
    /// A path not heard from for longer is silent; default: TRAILRELAY_SILENCE_THRESHOLD_SECS, else 900.
    #[arg(long, value_name = "SECONDS")]
    threshold: Option<u64>,
    /// The account directory (JSON); default: the live one in S3 when
    /// TRAILRELAY_DIRECTORY_BUCKET is set, else TRAILRELAY_ACCOUNTS_FILE, else the sample.
    #[arg(long, value_name = "FILE")]
    accounts: Option<std::path::PathBuf>,
    #[command(flatten)]
    aws: crate::aws::AwsArgs,
    /// One JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row<'a> {
    account: &'a str,
    account_name: Option<&'a str>,
    region: &'a str,
    state: PathState,
    last_seen: Option<String>,
    age_seconds: Option<i64>,
    silent_since: Option<String>,
}

pub fn paths(args: PathsArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut settings = Settings::from_env()?;
    if let Some(table) = args.table {
        settings.paths.table = Some(table);
    }
    if !args.regions.is_empty() {
        settings.paths.enrolled_regions = args.regions;
    }
    if let Some(secs) = args.threshold {
        settings.paths.silence_threshold = Duration::from_secs(secs);
    }
    if let Some(path) = args.accounts {
        settings.accounts_file = Some(path.display().to_string());
        settings.live_directory = None;
    }
    let table = settings.paths.table.clone().ok_or(CliError::Usage(format!(
        "no path store: give --table or set {ENV_PATHS_TABLE}"
    )))?;
    if settings.paths.enrolled_regions.is_empty() {
        return Err(CliError::Usage(format!(
            "no enrolled regions: give --regions or set {ENV_ENROLLED_REGIONS}"
        )));
    }
    let runtime = crate::aws::runtime()?;
    let (statuses, now) = runtime.block_on(async {
        let config = args.aws.config().await;
        let directory = read_directory(&settings, &config)
            .await
            .map_err(CliError::Aws)?;
        let store = DynamoPathStore::new(DynamoPathStore::client(&config), table);
        let records = store.list().await.map_err(CliError::Relay)?;
        let now = OffsetDateTime::now_utc();
        let expected = expected_paths(
            &directory,
            &settings.paths.enrolled_regions,
            &settings.paths.scope,
        );
        let (statuses, _) = assess(
            &expected,
            &records,
            &directory,
            now,
            settings.paths.silence_threshold,
        );
        Ok::<_, CliError>((statuses, now))
    })?;
    let rows: Vec<Row> = statuses.iter().map(|s| row(s, now)).collect();
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &rows).map_err(|e| CliError::Output(e.into()))?;
        writeln!(out).map_err(CliError::Output)?;
        return Ok(());
    }
    write_table(&rows, out).map_err(CliError::Output)
}

fn row(status: &PathStatus, now: OffsetDateTime) -> Row<'_> {
    Row {
        account: &status.key.account,
        account_name: status.account_name.as_deref(),
        region: &status.key.region,
        state: status.state,
        last_seen: status.last_seen.map(rfc3339),
        age_seconds: status.last_seen.map(|t| (now - t).whole_seconds()),
        silent_since: status.silent_since.map(rfc3339),
    }
}

fn write_table(rows: &[Row], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<14} {:<20} {:<16} {:<12} {:>10}  LAST SEEN",
        "ACCOUNT", "NAME", "REGION", "STATE", "AGE"
    )?;
    for r in rows {
        let state = match r.state {
            PathState::Healthy => "healthy",
            PathState::Silent => "SILENT",
            PathState::Pending => "pending",
            PathState::NotExpected => "not-expected",
        };
        let age = r.age_seconds.map_or_else(|| "never".to_owned(), human_age);
        writeln!(
            out,
            "{:<14} {:<20} {:<16} {:<12} {:>10}  {}",
            r.account,
            r.account_name.unwrap_or("-"),
            r.region,
            state,
            age,
            r.last_seen.as_deref().unwrap_or("-")
        )?;
    }
    let silent = rows.iter().filter(|r| r.state == PathState::Silent).count();
    writeln!(out, "{} path(s), {silent} silent", rows.len())
}

fn human_age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}
