//! `trailrelay send-test-event`: proves the path end to end. It listens on
//! the category bus the event should reach (a temporary rule and queue),
//! puts a synthetic CloudTrail-shaped event on the control source on a
//! default bus (this account's, or a member account's), so that it travels
//! the forward rule and role as real events do (the ingest bus admits
//! nothing else), waits until it
//! arrives, says how long it took, and removes what it created, also when
//! interrupted.

use crate::CliError;
use aws_config::SdkConfig;
use std::io::Write;
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use trailrelay_adapters::eventbridge::Buses;
use trailrelay_adapters::sqs::Queues;
use trailrelay_shared::relay::TEST_EVENT;
use trailrelay_shared::Settings;

/// The calls send-test-event makes in a member account, through the member
/// stack's doctor role (`--member-role-arn`): the test event on the default
/// bus. The listener's queue and rule are made with the caller's own
/// credentials in the security account.
// Read by aws_calls' test, which writes tests/iam/aws-calls.json.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const MEMBER_ROLE_CALLS: &[trailrelay_adapters::calls::Call] =
    &[trailrelay_adapters::calls::EVENTS_PUT_EVENTS];

#[derive(clap::Args)]
pub struct SendTestArgs {
    /// The stacks' NamePrefix; default: TRAILRELAY_NAME_PREFIX, else trailrelay.
    #[arg(long)]
    prefix: Option<String>,
    /// Send from this member account's default bus (assuming this role, the
    /// member stack's doctor role) instead of this account's default bus.
    #[arg(long = "member-role-arn", value_name = "ARN")]
    member_role: Option<String>,
    /// How long to wait for the event (seconds).
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    #[command(flatten)]
    aws: crate::aws::AwsArgs,
}

/// What was made to listen, to be removed whatever happens.
struct Listener {
    bus: String,
    rule: String,
    queue_url: String,
}

pub fn send_test_event(args: SendTestArgs, out: &mut dyn Write) -> Result<bool, CliError> {
    let settings = Settings::from_env()?;
    let prefix = crate::aws::name_prefix(args.prefix.as_deref(), &settings);
    let runtime = crate::aws::runtime()?;
    runtime.block_on(async {
        let config = args.aws.config().await;
        let id = format!(
            "trailrelay-test-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
        );
        let listener = listen(&config, &prefix, &settings.source, &id).await?;
        writeln!(out, "listening on {} (rule {}, temporary)", listener.bus, listener.rule).map_err(CliError::Output)?;
        // The listener goes whatever happens next: arrival, time-out, error or Ctrl-C.
        let outcome = tokio::select! {
            result = send_and_wait(&config, &args, &prefix, &settings, &id, &listener, out) => result,
            _ = tokio::signal::ctrl_c() => {
                writeln!(out, "interrupted").ok();
                Ok(false)
            }
        };
        remove(&config, &listener).await;
        writeln!(out, "removed the temporary rule and queue").map_err(CliError::Output)?;
        outcome
    })
}

const TARGET_ID: &str = "test-queue";

async fn listen(
    config: &SdkConfig,
    prefix: &str,
    source: &str,
    id: &str,
) -> Result<Listener, CliError> {
    let queues = Queues::new(config);
    let bus = format!("{prefix}-identity");
    let queue = queues.create_for_rule(id).await.map_err(aws)?;
    let listener = Listener {
        bus: bus.clone(),
        rule: id.to_owned(),
        queue_url: queue.url.clone(),
    };
    let made = async {
        let pattern = serde_json::json!({"source": [source], "detail": {"eventID": [id]}});
        let rule_arn = Buses::new(config)
            .put_rule_to(
                &bus,
                id,
                &pattern.to_string(),
                TARGET_ID,
                queue.arn.as_deref().unwrap_or_default(),
            )
            .await
            .map_err(aws)?;
        queues.admit_rule(&queue, &rule_arn).await.map_err(aws)
    };
    if let Err(e) = made.await {
        remove(config, &listener).await;
        return Err(e);
    }
    Ok(listener)
}

fn aws(e: trailrelay_adapters::Error) -> CliError {
    CliError::Aws(e.to_string())
}

async fn remove(config: &SdkConfig, listener: &Listener) {
    Buses::new(config)
        .remove_rule(&listener.bus, &listener.rule, TARGET_ID)
        .await;
    let _ = Queues::new(config).delete(&listener.queue_url).await;
}

async fn send_and_wait(
    config: &SdkConfig,
    args: &SendTestArgs,
    prefix: &str,
    settings: &Settings,
    id: &str,
    listener: &Listener,
    out: &mut dyn Write,
) -> Result<bool, CliError> {
    let (sender_config, bus, path) = match &args.member_role {
        Some(role) => {
            let member =
                trailrelay_adapters::assume_role(config, role, "trailrelay-send-test-event").await;
            let account = role.split(':').nth(4).unwrap_or("?").to_owned();
            (
                member,
                "default".to_owned(),
                format!("{account} default bus -> {prefix}-forward -> {prefix}-ingest"),
            )
        }
        // The security account forwards like any member (the StackSet covers
        // it), and the ingest bus admits only forward rules.
        None => (
            config.clone(),
            "default".to_owned(),
            format!("this account's default bus -> {prefix}-forward -> {prefix}-ingest"),
        ),
    };
    let record = serde_json::json!({
        "eventVersion": "1.10", "eventSource": "iam.amazonaws.com", "eventName": "GetUser",
        "eventType": "AwsApiCall", "eventID": id, "eventTime": now_rfc3339(),
        "userIdentity": {"type": "AssumedRole", "principalId": "trailrelay:send-test-event"},
        "requestParameters": null, "responseElements": null,
    });
    let started = Instant::now();
    Buses::new(&sender_config)
        .put_one(
            &bus,
            &settings.control_source,
            TEST_EVENT,
            &record.to_string(),
        )
        .await
        .map_err(aws)?;
    writeln!(out, "sent test event {id} via {path}").map_err(CliError::Output)?;
    let queues = Queues::new(config);
    let deadline = started + Duration::from_secs(args.timeout);
    while Instant::now() < deadline {
        if let Some(body) = queues.receive_one(&listener.queue_url).await.map_err(aws)? {
            let event: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let enrichment = &event["detail"]["enrichment"];
            writeln!(
                out,
                "arrived on {} after {} ms: category {}, signals {}, enriched by {}",
                listener.bus,
                started.elapsed().as_millis(),
                enrichment["category"],
                enrichment["signals"],
                enrichment["provenance"]["relay"]
            )
            .map_err(CliError::Output)?;
            writeln!(out, "path: {path} -> enricher -> {}", listener.bus)
                .map_err(CliError::Output)?;
            return Ok(true);
        }
        write!(out, "\rwaiting... {}s", started.elapsed().as_secs()).map_err(CliError::Output)?;
        out.flush().map_err(CliError::Output)?;
    }
    writeln!(
        out,
        "\nnot arrived within {}s: run `trailrelay doctor` to find the layer that drops it",
        args.timeout
    )
    .map_err(CliError::Output)?;
    Ok(false)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}
