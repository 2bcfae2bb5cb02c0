//! `trailrelay filter suggest`: an exclusion for the member forward rule
//! that cuts the highest-volume read-only calls to a saving or a budget,
//! with the proof over the input that nothing it drops is of a kept class
//! (trailrelay-volume chooses the calls and builds the pattern; the relay
//! itself judges every dropped event).

use crate::volumes::Sources;
use crate::CliError;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use trailrelay_shared::event::{detail_type_for, service_name};
use trailrelay_shared::signal::Signal;
use trailrelay_shared::tamper::tampering_event_names;
use trailrelay_shared::{Prepared, ReceivedAt, Relay, Settings};
use trailrelay_volume::report::{window_seconds, Prices, SECONDS_PER_MONTH};
use trailrelay_volume::suggest::{
    choose, forward_pattern, Exclusion, Judge, Keep, Suggestion, ACCOUNT_PLACEHOLDER,
    DEFAULT_PATTERN_LIMIT,
};
use trailrelay_volume::tally::{observe, Tally, Totals};

#[derive(clap::Subcommand)]
pub enum FilterCommand {
    /// Offline or AWS (read only, for s3:// paths): suggest an exclusion for
    /// the member forward rule that saves a share of the EventBridge charge
    /// (or meets a budget) and drops no event a pattern can tell is
    /// security-relevant, proven over the input.
    Suggest(SuggestArgs),
    /// Offline: write the member forward rule's pattern for an exclusion
    /// (the member template's ForwardExcludedEventSources and
    /// ForwardExcludedEventNames), for review; stdout.
    Pattern(PatternArgs),
}

#[derive(clap::Args)]
pub struct PatternArgs {
    /// The excluded event sources, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    event_sources: Vec<String>,
    /// The excluded event names, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    event_names: Vec<String>,
    /// The member account whose rule it is; default: the template's placeholder.
    #[arg(long, default_value = ACCOUNT_PLACEHOLDER)]
    account: String,
    /// The member template's ControlSource.
    #[arg(long, default_value = "trailrelay.control")]
    control_source: String,
}

fn keep(control_source: &str) -> Keep {
    Keep {
        control_source: control_source.to_owned(),
        tampering_names: tampering_event_names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    }
}

pub fn pattern(args: PatternArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let exclusion = Exclusion {
        event_sources: args
            .event_sources
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
        event_names: args
            .event_names
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
    };
    let keep = keep(&args.control_source);
    let base = forward_pattern(&args.control_source);
    let pattern = exclusion.pattern(&base, &keep, &args.account);
    writeln!(out, "{pattern}").map_err(CliError::Output)?;
    let length = exclusion.pattern_len(&base, &keep);
    if length > DEFAULT_PATTERN_LIMIT {
        eprintln!("trailrelay: the pattern is {length} characters, over EventBridge's default limit of {DEFAULT_PATTERN_LIMIT}");
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct SuggestArgs {
    #[command(flatten)]
    sources: Sources,
    /// The share of today's forwarded chunks to cut, such as `60%`.
    #[arg(long, value_parser = percent, conflicts_with = "budget", required_unless_present = "budget")]
    saving: Option<f64>,
    /// The EventBridge charge a month to get under, in the prices' currency.
    #[arg(long)]
    budget: Option<f64>,
    /// The longest pattern every member account and region allows
    /// (EventBridge: 2,048 by default, raisable to 4,096 per account and
    /// region; the lowest among the StackSet's instances is the limit).
    #[arg(long, default_value_t = DEFAULT_PATTERN_LIMIT)]
    max_pattern_length: usize,
    /// The member template's ControlSource.
    #[arg(long, default_value = "trailrelay.control")]
    control_source: String,
    /// The suggestion as one JSON document.
    #[arg(long)]
    json: bool,
}

fn percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(p) if p > 0.0 && p < 100.0 => Ok(p / 100.0),
        _ => Err(format!("{text}: a share between 0% and 100%, such as 60%")),
    }
}

/// The signals a dropped event must never carry: each is a class the
/// exclusion keeps.
const KEPT_SIGNALS: [Signal; 6] = [
    Signal::RootActivity,
    Signal::ConsoleLoginFailure,
    Signal::ConsoleLoginWithoutMfa,
    Signal::AccessDenied,
    Signal::CrossAccountActor,
    Signal::RelayTampering,
];

/// Out of a pattern's reach: they depend on the relay's state.
const OUT_OF_REACH: &str = "unknown_account, directory_stale, truncated and malformed_input depend on the relay's state (its directory, the size limit, the input's shape), not on fields a pattern can read: an exclusion cannot keep them by pattern, and a dropped call never reaches the relay to carry them";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The forward rule's pattern, `${AWS::AccountId}` for each member's own id.
    pattern: Value,
    pattern_length: usize,
    max_pattern_length: usize,
    /// The member template's parameters that apply it.
    parameters: HashMap<&'static str, String>,
    target_chunks: u64,
    total: Totals,
    excluded: Totals,
    excluded_share: f64,
    cost_per_month_today: f64,
    cost_per_month_saved: f64,
    /// Every excluded event run through the relay: how many, and any that
    /// carried a kept signal or lacked `readOnly: true` (none, or the
    /// suggestion is refused).
    proof_checked: u64,
    proof_violations: Vec<String>,
    out_of_reach: &'static str,
    prices_as_of: String,
}

/// The object as the member's forward rule sees it (EventBridge's envelope
/// around the record), and the record alone, without any enrichment.
fn as_forwarded(text: &str) -> Option<(Value, String)> {
    let value: Value = serde_json::from_str(text.trim()).ok()?;
    let mut record = match (value.get("detail"), value.get("Detail")) {
        (Some(detail @ Value::Object(_)), _) => detail.clone(),
        (_, Some(Value::String(detail))) => serde_json::from_str(detail).ok()?,
        _ => value.clone(),
    };
    let record_map = record.as_object_mut()?;
    record_map.remove("enrichment");
    let source = value
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // A forwarded event keeps its envelope; the relay's output, the copy's
    // lines and bare records get the one EventBridge would have written.
    let envelope = if source.starts_with("aws.") && value.get("detail").is_some() {
        let mut envelope = value.clone();
        envelope["detail"] = record.clone();
        envelope
    } else {
        let event_source = record_map
            .get("eventSource")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        json!({
            "source": format!("aws.{}", service_name(event_source)),
            "detail-type": detail_type_for(record_map.get("eventType").and_then(Value::as_str)),
            "account": record_map.get("recipientAccountId").cloned().unwrap_or(Value::Null),
            "region": record_map.get("awsRegion").cloned().unwrap_or(Value::Null),
            "detail": record.clone(),
        })
    };
    Some((envelope, record.to_string()))
}

pub fn suggest(args: SuggestArgs, out: &mut dyn Write) -> Result<bool, CliError> {
    let prices: Prices = args.sources.prices()?;
    let mut tally = Tally::default();
    args.sources.each(&mut |text| tally.add_text(text))?;
    let total = tally.total();
    if total.count == 0 {
        return Err(CliError::Usage("no events in the input".into()));
    }
    let month = SECONDS_PER_MONTH / window_seconds(&tally);
    let cost_today = prices.cost(total.chunks as f64 * month);
    let target_chunks = match (args.saving, args.budget) {
        (Some(share), _) => (total.chunks as f64 * share).ceil() as u64,
        (None, Some(budget)) => {
            let allowed = budget / prices.cost(month); // chunks in the window that fit
            total.chunks.saturating_sub(allowed.floor() as u64)
        }
        (None, None) => return Err(CliError::Usage("--saving or --budget".into())),
    };
    let keep = keep(&args.control_source);
    let base = forward_pattern(&args.control_source);
    let droppable: Vec<_> = tally
        .droppable()
        .into_iter()
        .map(|(k, t)| (k, t.chunks))
        .collect();
    let (suggestion, reached) = match choose(
        &droppable,
        target_chunks,
        &base,
        &keep,
        args.max_pattern_length,
    ) {
        Ok(s) => (s, true),
        Err(best) => (best, false),
    };

    // The proof: every event the pattern drops, through the relay.
    let relay = Relay::load(Settings::from_env()?)?;
    let received = ReceivedAt::now();
    let mut judges: HashMap<String, Judge> = HashMap::new();
    let mut excluded = Totals::default();
    let mut checked = 0;
    let mut violations = Vec::new();
    let mut judge_error = None;
    if !suggestion.exclusion.is_empty() {
        args.sources.each(&mut |text| {
            let Some((event, record)) = as_forwarded(text) else {
                return;
            };
            let account = event["account"].as_str().unwrap_or_default().to_owned();
            let judge = match judges.get(&account) {
                Some(judge) => judge,
                None => match Judge::new(&suggestion.exclusion, &base, &keep, &account) {
                    Ok(judge) => judges.entry(account.clone()).or_insert(judge),
                    Err(e) => {
                        judge_error = Some(e.to_string());
                        return;
                    }
                },
            };
            // Its size is read only for what is dropped.
            let Some(observed) = judge.excludes(&event).then(|| observe(text).ok()).flatten()
            else {
                return;
            };
            excluded.count_event(observed.bytes);
            checked += 1;
            let read_only = event["detail"]["readOnly"] == json!(true);
            let kept_signals: Vec<&str> = match relay.prepare(&record, &received) {
                Prepared::Entry(entry) => KEPT_SIGNALS
                    .iter()
                    .filter(|s| entry.has(**s))
                    .map(|s| s.as_str())
                    .collect(),
                _ => Vec::new(),
            };
            if !read_only || !kept_signals.is_empty() {
                violations.push(format!(
                    "{} {}: readOnly {}, signals {:?}",
                    event["detail"]["eventSource"],
                    event["detail"]["eventName"],
                    event["detail"]["readOnly"],
                    kept_signals
                ));
            }
        })?;
    }
    if let Some(e) = judge_error {
        return Err(CliError::Usage(format!(
            "the suggested pattern is not valid: {e}"
        )));
    }
    let outcome = outcome(
        &args,
        &suggestion,
        &keep,
        &base,
        target_chunks,
        total,
        excluded,
        cost_today,
        &prices,
        month,
        checked,
        violations,
    );
    let safe = outcome.proof_violations.is_empty();
    let met = reached && excluded.chunks >= target_chunks;
    let text = if args.json {
        serde_json::to_string_pretty(&outcome).unwrap_or_default() + "\n"
    } else {
        render(&outcome, met)
    };
    out.write_all(text.as_bytes()).map_err(CliError::Output)?;
    Ok(safe && met)
}

#[allow(clippy::too_many_arguments)]
fn outcome(
    args: &SuggestArgs,
    suggestion: &Suggestion,
    keep: &Keep,
    base: &Value,
    target_chunks: u64,
    total: Totals,
    excluded: Totals,
    cost_today: f64,
    prices: &Prices,
    month: f64,
    checked: u64,
    violations: Vec<String>,
) -> Outcome {
    let join = |set: &std::collections::BTreeSet<String>| {
        set.iter().cloned().collect::<Vec<_>>().join(",")
    };
    Outcome {
        pattern: suggestion
            .exclusion
            .pattern(base, keep, ACCOUNT_PLACEHOLDER),
        pattern_length: suggestion.pattern_len,
        max_pattern_length: args.max_pattern_length,
        parameters: HashMap::from([
            (
                "ForwardExcludedEventSources",
                join(&suggestion.exclusion.event_sources),
            ),
            (
                "ForwardExcludedEventNames",
                join(&suggestion.exclusion.event_names),
            ),
        ]),
        target_chunks,
        total,
        excluded,
        excluded_share: excluded.chunks as f64 / total.chunks.max(1) as f64,
        cost_per_month_today: cost_today,
        cost_per_month_saved: prices.cost(excluded.chunks as f64 * month),
        proof_checked: checked,
        proof_violations: violations,
        out_of_reach: OUT_OF_REACH,
        prices_as_of: prices.as_of.clone(),
    }
}

fn render(o: &Outcome, reached: bool) -> String {
    let mut t = String::new();
    if reached {
        t += "Suggested exclusion for the member forward rule:\n";
    } else {
        t += &format!(
            "REFUSED: the target needs {} of {} chunks dropped; the best safe exclusion within {} characters drops {} ({:.1}%, {:.2} a month). Lower the target, or raise the pattern limit (--max-pattern-length 4096, only once the quota is 4,096 in every member account and region: docs/deploy.md).\n",
            o.target_chunks, o.total.chunks, o.max_pattern_length, o.excluded.chunks, o.excluded_share * 100.0, o.cost_per_month_saved
        );
        t += "The best safe exclusion:\n";
    }
    let mut parameters: Vec<_> = o.parameters.iter().collect();
    parameters.sort();
    for (name, value) in parameters {
        t += &format!("  {name}={value}\n");
    }
    t += &format!(
        "excludes {} of {} events ({:.1}% of the chunks): {:.2} of {:.2} a month (prices of {})\n",
        o.excluded.count,
        o.total.count,
        o.excluded_share * 100.0,
        o.cost_per_month_saved,
        o.cost_per_month_today,
        o.prices_as_of
    );
    t += &format!(
        "proof: {} excluded event(s) run through the relay, {} of a kept class\n",
        o.proof_checked,
        o.proof_violations.len()
    );
    for v in &o.proof_violations {
        t += &format!("  kept class dropped: {v}\n");
    }
    t += &format!(
        "pattern ({} characters, limit {}):\n{}\n",
        o.pattern_length, o.max_pattern_length, o.pattern
    );
    t += &format!("not reachable by a pattern: {}\n", o.out_of_reach);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_percentages_between_nothing_and_everything() {
        assert_eq!(percent("60%"), Ok(0.6));
        assert_eq!(percent("25"), Ok(0.25));
        assert!(percent("0%").is_err() && percent("100%").is_err() && percent("lots").is_err());
    }

    #[test]
    fn a_bare_record_a_route_entry_and_a_delivered_event_are_seen_as_forwarded() {
        let record = json!({"eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "readOnly": true,
            "eventType": "AwsApiCall", "recipientAccountId": "111122223333", "awsRegion": "us-east-1"});
        let mut enriched = record.clone();
        enriched["enrichment"] = json!({"category": "data"});
        let delivered = json!({"source": "trailrelay", "detail-type": "AWS API Call via CloudTrail", "account": "999999999999", "detail": enriched});
        let entry = json!({"Source": "trailrelay", "Detail": enriched.to_string()});
        for text in [record.to_string(), delivered.to_string(), entry.to_string()] {
            let (event, bare) = as_forwarded(&text).expect("read");
            assert_eq!(event["source"], "aws.kms", "{text}");
            assert_eq!(event["account"], "111122223333", "{text}");
            assert_eq!(event["detail-type"], "AWS API Call via CloudTrail");
            assert!(event["detail"].get("enrichment").is_none());
            assert_eq!(serde_json::from_str::<Value>(&bare).unwrap(), record);
        }
    }
}
