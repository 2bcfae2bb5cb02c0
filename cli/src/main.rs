//! `trailrelay`: the relay's pipeline offline, on a file of events.
//!
//! `route` writes the PutEvents entries the enricher would send, `explain`
//! says for people what it decided, `schema` prints the JSON Schema of the
//! enrichment. All of it runs the same library code as the Lambda.

mod aws;
mod aws_calls;
mod doctor;
mod filter;
mod finding;
mod paths;
mod pattern;
mod reconcile;
mod send_test;
mod template;
mod volumes;

use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use trailrelay_shared::{Category, Prepared, ReceivedAt, Relay, Settings};

#[derive(Parser)]
#[command(
    name = "trailrelay",
    version,
    about = "CloudTrail relay: route, explain and check events offline; check a deployment in AWS",
    long_about = "CloudTrail relay. route, explain, schema, pattern and check-template read files \
and write to stdout, offline; reconcile reads files or S3 prefixes. send-test-event, doctor and paths read (and send-test-event \
writes) a deployment through the AWS APIs, with the standard credential chain."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Offline: read events (a file or stdin) and write one PutEvents request
    /// entry (JSON) per event to stdout, in input order.
    Route(Inputs),
    /// Offline: read events and say, per event, its category, rule, signals,
    /// account and bus, then a summary (stdout).
    Explain(Inputs),
    /// Offline: write the JSON Schema of the `enrichment` object to stdout.
    Schema,
    /// Offline: rewrite event patterns written for raw CloudTrail events.
    #[command(subcommand)]
    Pattern(PatternCommand),
    /// AWS: prove the path end to end. Makes a temporary rule and queue on the
    /// identity bus, puts a test event on a default bus (this account's or a
    /// member's), waits until it arrives, removes what it made; exit status 1
    /// if it does not arrive.
    SendTestEvent(send_test::SendTestArgs),
    /// AWS, read only: check a deployment's permission layers, from the member
    /// accounts' trails, rules and roles to the category buses and the key;
    /// a table (or --json) on stdout, exit status 1 when any check fails.
    Doctor(doctor::DoctorArgs),
    /// AWS, read only: list every expected forwarding path (active account x
    /// enrolled region) with when it was last heard from and whether it is
    /// silent (the paths table, the directory in S3).
    Paths(paths::PathsArgs),
    /// Offline or AWS (read only, for s3:// paths): reconcile the
    /// organization trail's log files with what the relay delivered (JSON
    /// Lines, such as the enriched copy): each record the forward rule would
    /// have sent and nothing delivered is written to stdout as an EventBridge
    /// event, ready for `route` or the buffer queue; a summary per path
    /// (account x region) goes to stderr. Exit status 0 whatever it finds.
    Reconcile(reconcile::ReconcileArgs),
    /// Offline or AWS (read only, for s3:// paths): event volume by
    /// eventSource, eventName, readOnly, caller (an AWS service or not),
    /// account and region, with bytes, 64 KB chunks and EventBridge's cost a
    /// month (prices: config/prices.toml), from CloudTrail log files, JSON
    /// Lines of events or route entries, or the enriched copy.
    Volumes(volumes::VolumesArgs),
    /// Offline or AWS (read only, for s3:// paths): member-rule filters that
    /// cut read-only volume without losing a security-relevant event.
    #[command(subcommand)]
    Filter(filter::FilterCommand),
    /// Offline: read a SAM template and check that its buses, the enricher's
    /// environment and role agree with the categories; exit status 1 if not.
    CheckTemplate {
        /// The security account's SAM template.
        #[arg(value_name = "FILE", default_value = "template.yaml")]
        template: PathBuf,
    },
}

#[derive(Subcommand)]
enum PatternCommand {
    /// Read a pattern written for raw CloudTrail events (`source: aws.iam`,
    /// `account`, `region`; a file or stdin) and write its equivalent on the
    /// category buses, and which buses carry what it matches, to stdout.
    Translate {
        /// The rule table (TOML); default: TRAILRELAY_RULES_FILE, else the embedded table.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The pattern (JSON); "-" or nothing for stdin.
        #[arg(value_name = "FILE")]
        input: Option<PathBuf>,
    },
}

#[derive(Args)]
struct Inputs {
    /// The rule table (TOML); default: TRAILRELAY_RULES_FILE, else the embedded table.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The account directory (JSON); default: TRAILRELAY_ACCOUNTS_FILE, else the embedded sample.
    #[arg(long, value_name = "FILE")]
    accounts: Option<PathBuf>,
    /// JSON Lines of EventBridge events (or bare CloudTrail records); "-" or nothing for stdin.
    #[arg(value_name = "FILE")]
    input: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Relay(#[from] trailrelay_shared::Error),
    #[error("cannot read {path}: {source}")]
    Input { path: String, source: io::Error },
    #[error("cannot write the output: {0}")]
    Output(io::Error),
    #[error("{path} is not a readable template: {reason}")]
    Template { path: String, reason: String },
    #[error("{failed} check(s) of {path} failed")]
    TemplateDisagrees { path: String, failed: usize },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Aws(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Route(inputs) => run(&inputs, route),
        Command::Explain(inputs) => run(&inputs, explain),
        Command::Schema => schema(),
        Command::CheckTemplate { template } => check_template(&template),
        Command::Pattern(PatternCommand::Translate { config, input }) => {
            translate_pattern(config.as_deref(), input.as_deref())
        }
        Command::SendTestEvent(args) => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            match send_test::send_test_event(args, &mut out) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::FAILURE,
                Err(e) => Err(e),
            }
        }
        Command::Doctor(args) => {
            let stdout = io::stdout();
            let colour = std::io::IsTerminal::is_terminal(&stdout);
            let mut out = stdout.lock();
            match doctor::doctor(args, &mut out, colour) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::FAILURE,
                Err(e) => Err(e),
            }
        }
        Command::Reconcile(args) => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            reconcile::reconcile(args, &mut out, &mut io::stderr().lock())
        }
        Command::Paths(args) => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            paths::paths(args, &mut out)
        }
        Command::Volumes(args) => volumes::volumes(args, &mut io::stdout().lock()),
        Command::Filter(filter::FilterCommand::Pattern(args)) => {
            filter::pattern(args, &mut io::stdout().lock())
        }
        Command::Filter(filter::FilterCommand::Suggest(args)) => {
            match filter::suggest(args, &mut io::stdout().lock()) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::FAILURE,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trailrelay: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn translate_pattern(
    config: Option<&std::path::Path>,
    input: Option<&std::path::Path>,
) -> Result<(), CliError> {
    let mut settings = Settings::from_env()?;
    if let Some(path) = config {
        settings.rules_file = Some(path.display().to_string());
    }
    let source = settings.source.clone();
    let relay = Relay::load(settings)?;
    let text = match input {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::read_to_string(path).map_err(|source| CliError::Input {
                path: path.display().to_string(),
                source,
            })?
        }
        _ => io::read_to_string(io::stdin()).map_err(|source| CliError::Input {
            path: "stdin".into(),
            source,
        })?,
    };
    let pattern: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("the pattern is not JSON: {e}")))?;
    let translated =
        pattern::translate(&pattern, relay.rules(), &source).map_err(CliError::Usage)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer_pretty(&mut out, &translated).map_err(|e| CliError::Output(e.into()))?;
    writeln!(out).map_err(CliError::Output)
}

type Handler = fn(&Relay, &mut dyn BufRead, &mut dyn Write) -> Result<(), CliError>;

fn run(inputs: &Inputs, handler: Handler) -> Result<(), CliError> {
    let mut settings = Settings::from_env()?;
    if let Some(path) = &inputs.config {
        settings.rules_file = Some(path.display().to_string());
    }
    if let Some(path) = &inputs.accounts {
        settings.accounts_file = Some(path.display().to_string());
    }
    let relay = Relay::load(settings)?;
    let mut reader: Box<dyn BufRead> = match &inputs.input {
        None => Box::new(BufReader::new(io::stdin().lock())),
        Some(path) if path.as_os_str() == "-" => Box::new(BufReader::new(io::stdin().lock())),
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|source| CliError::Input {
                path: path.display().to_string(),
                source,
            })?;
            Box::new(BufReader::with_capacity(1 << 20, file))
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    handler(&relay, &mut reader, &mut out)?;
    out.flush().map_err(CliError::Output)
}

/// Calls `each` with every non-blank line, numbered from 1. Lines that are
/// not UTF-8 are passed on lossily (they become malformed-input entries).
fn for_each_line(
    reader: &mut dyn BufRead,
    mut each: impl FnMut(usize, &str) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| CliError::Input {
                path: "input".into(),
                source,
            })?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        if !line.trim().is_empty() {
            each(number, line)?;
        }
    }
}

fn route(relay: &Relay, reader: &mut dyn BufRead, out: &mut dyn Write) -> Result<(), CliError> {
    let received = ReceivedAt::now();
    // Serializing into a buffer of our own spares a dynamic call for every
    // fragment of the escaped detail.
    let mut line_out = Vec::with_capacity(16 * 1024);
    for_each_line(reader, |number, line| {
        match relay.prepare(line, &received) {
            Prepared::Entry(prepared) => {
                line_out.clear();
                write_entry(&prepared.entry, &mut line_out)?;
                line_out.push(b'\n');
                out.write_all(&line_out).map_err(CliError::Output)?;
            }
            Prepared::Refused { reason, .. } => {
                eprintln!("trailrelay: line {number}: refused, no entry: {reason}")
            }
            Prepared::Consumed { detail_type, .. } => {
                eprintln!("trailrelay: line {number}: {detail_type} consumed, no entry")
            }
        }
        Ok(())
    })
}

/// One entry as JSON, appended to `out`. sonic-rs writes exactly what
/// serde_json writes (the test below holds them equal, and route's output
/// baseline did not change) and escapes the detail, which is most of an
/// entry, in SIMD steps: `route` took 12% less CPU on the mix
/// (docs/performance.md).
fn write_entry(entry: &trailrelay_shared::Entry, out: &mut Vec<u8>) -> Result<(), CliError> {
    sonic_rs::to_writer(out, entry).map_err(|e| CliError::Output(io::Error::other(e)))
}

fn explain(relay: &Relay, reader: &mut dyn BufRead, out: &mut dyn Write) -> Result<(), CliError> {
    let received = ReceivedAt::now();
    let mut per_category: BTreeMap<Category, usize> = BTreeMap::new();
    let mut refused = 0;
    let mut consumed = 0;
    let mut malformed = 0;
    let mut truncated = 0;
    let w = |out: &mut dyn Write, text: String| writeln!(out, "{text}").map_err(CliError::Output);
    for_each_line(reader, |number, line| {
        match relay.prepare(line, &received) {
            Prepared::Entry(p) => {
                *per_category.entry(p.category).or_default() += 1;
                malformed += usize::from(p.malformed.is_some());
                truncated += usize::from(p.has(trailrelay_shared::signal::Signal::Truncated));
                let signals: Vec<&str> = p.signals.iter().map(|s| s.as_str()).collect();
                let account = match (&p.account_id, &p.account_name) {
                    (Some(id), Some(name)) => format!("{id} ({name})"),
                    (Some(id), None) => format!("{id} (unknown)"),
                    (None, _) => "-".into(),
                };
                w(
                    out,
                    format!(
                        "line {number}: {category:<10} rule={rule} bus={bus} account={account} signals=[{signals}] event={id}",
                        category = p.category.as_str(),
                        rule = p.rule_id,
                        bus = p.entry.event_bus_name,
                        signals = signals.join(","),
                        id = p.event_id.as_deref().unwrap_or("-"),
                    ),
                )?;
                if let Some(reason) = &p.malformed {
                    w(out, format!("line {number}:   malformed: {reason}"))?;
                }
            }
            Prepared::Refused { reason, .. } => {
                refused += 1;
                w(out, format!("line {number}: refused    {reason}"))?;
            }
            Prepared::Consumed { detail_type, .. } => {
                consumed += 1;
                w(out, format!("line {number}: consumed   {detail_type}"))?;
            }
        }
        Ok(())
    })?;
    w(out, String::new())?;
    w(out, format!("{:<12}{:>8}  bus", "category", "events"))?;
    for category in Category::ALL {
        let n = per_category.get(&category).copied().unwrap_or(0);
        w(
            out,
            format!(
                "{:<12}{:>8}  {}",
                category.as_str(),
                n,
                relay.settings().bus(category)
            ),
        )?;
    }
    let entries: usize = per_category.values().sum();
    w(
        out,
        format!("entries {entries}, refused {refused}, consumed {consumed}, malformed {malformed}, truncated {truncated}"),
    )
}

fn schema() -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(&trailrelay_shared::enrichment_schema())
        .map_err(|e| CliError::Output(e.into()))?;
    let mut out = io::stdout().lock();
    writeln!(out, "{text}").map_err(CliError::Output)
}

fn check_template(path: &std::path::Path) -> Result<(), CliError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Input {
        path: shown.clone(),
        source,
    })?;
    let findings = template::check(&text).map_err(|e| CliError::Template {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let mut out = io::stdout().lock();
    for f in &findings {
        let mark = if f.status == finding::Status::Pass {
            "ok  "
        } else {
            "FAIL"
        };
        writeln!(out, "{mark} {}: {}", f.id, f.evidence).map_err(CliError::Output)?;
    }
    match findings
        .iter()
        .filter(|f| finding::any_failed(std::slice::from_ref(f)))
        .count()
    {
        0 => Ok(()),
        failed => Err(CliError::TemplateDisagrees {
            path: shown,
            failed,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(detail: String) -> trailrelay_shared::Entry {
        trailrelay_shared::Entry {
            source: "trailrelay".into(),
            detail_type: "AWS API Call via CloudTrail".into(),
            detail,
            event_bus_name: "trailrelay-other".into(),
            time: time::OffsetDateTime::from_unix_timestamp(1_796_590_800).expect("a time"),
            resources: vec!["arn:aws:iam::123456789012:user/\u{7f}".into()],
        }
    }

    /// Every character up to U+0800 (the control characters, quotes,
    /// backslashes, DEL, two-byte UTF-8), the separators JavaScript treats
    /// as line ends, and four-byte ones, alone and inside text: written as
    /// serde_json writes them.
    #[test]
    fn entries_are_written_exactly_as_serde_json_writes_them() {
        let mut chars: Vec<char> = (0..0x800).filter_map(char::from_u32).collect();
        chars.extend([
            '\u{2028}',
            '\u{2029}',
            '\u{fffd}',
            '\u{1f600}',
            '\u{10ffff}',
        ]);
        let mut details: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
        details.extend(chars.iter().map(|c| format!("{{\"k\":\"a{c}b\"}}")));
        details.push(chars.iter().collect());
        for detail in details {
            let entry = entry(detail);
            let mut ours = Vec::new();
            write_entry(&entry, &mut ours).expect("written");
            assert_eq!(
                ours,
                serde_json::to_vec(&entry).expect("serialized"),
                "{:?}",
                entry.detail
            );
        }
    }
}
