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
use trailrelay_shared::relay::TEST_EVENT;
use trailrelay_shared::Settings;

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
    let prefix = crate::aws::name_prefix(args.prefix.as_deref());
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

async fn listen(
    config: &SdkConfig,
    prefix: &str,
    source: &str,
    id: &str,
) -> Result<Listener, CliError> {
    let events = aws_sdk_eventbridge::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let fail = |what: &str, e: String| CliError::Aws(format!("{what}: {e}"));
    let bus = format!("{prefix}-identity");
    let queue_url = sqs
        .create_queue()
        .queue_name(id)
        .send()
        .await
        .map_err(|e| {
            fail(
                "CreateQueue",
                aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            )
        })?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let queue_arn = crate::aws::queue_attribute(
        &sqs,
        &queue_url,
        aws_sdk_sqs::types::QueueAttributeName::QueueArn,
    )
    .await
    .unwrap_or_default();
    let listener = Listener {
        bus: bus.clone(),
        rule: id.to_owned(),
        queue_url: queue_url.clone(),
    };
    let made = async {
        let rule_arn = events
            .put_rule()
            .name(id)
            .event_bus_name(&bus)
            .event_pattern(
                serde_json::json!({"source": [source], "detail": {"eventID": [id]}}).to_string(),
            )
            .send()
            .await
            .map_err(|e| {
                fail(
                    "PutRule",
                    aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string(),
                )
            })?
            .rule_arn()
            .unwrap_or_default()
            .to_owned();
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]});
        sqs.set_queue_attributes()
            .queue_url(&queue_url)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::Policy,
                policy.to_string(),
            )
            .send()
            .await
            .map_err(|e| {
                fail(
                    "SetQueueAttributes",
                    aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        events
            .put_targets()
            .rule(id)
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("test-queue")
                    .arn(&queue_arn)
                    .build()
                    .map_err(|e| fail("Target", e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| {
                fail(
                    "PutTargets",
                    aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        Ok::<(), CliError>(())
    };
    if let Err(e) = made.await {
        remove(config, &listener).await;
        return Err(e);
    }
    Ok(listener)
}

async fn remove(config: &SdkConfig, listener: &Listener) {
    let events = aws_sdk_eventbridge::Client::new(config);
    let _ = events
        .remove_targets()
        .rule(&listener.rule)
        .event_bus_name(&listener.bus)
        .ids("test-queue")
        .send()
        .await;
    let _ = events
        .delete_rule()
        .name(&listener.rule)
        .event_bus_name(&listener.bus)
        .send()
        .await;
    let _ = aws_sdk_sqs::Client::new(config)
        .delete_queue()
        .queue_url(&listener.queue_url)
        .send()
        .await;
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
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("trailrelay-send-test-event")
                .configure(config)
                .build()
                .await;
            let mut loader = trailrelay_aws::config_loader().credentials_provider(provider);
            if let Some(region) = config.region() {
                loader = loader.region(region.clone());
            }
            let account = role.split(':').nth(4).unwrap_or("?").to_owned();
            (
                loader.load().await,
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
        "eventType": "AwsApiCall", "eventID": id, "eventTime": trailrelay_shared::paths::rfc3339(time::OffsetDateTime::now_utc()),
        "userIdentity": {"type": "AssumedRole", "principalId": "trailrelay:send-test-event"},
        "requestParameters": null, "responseElements": null,
    });
    let started = Instant::now();
    let put = aws_sdk_eventbridge::Client::new(&sender_config)
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(&bus)
                .source(&settings.control_source)
                .detail_type(TEST_EVENT)
                .detail(record.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            CliError::Aws(format!(
                "PutEvents: {}",
                aws_sdk_eventbridge::error::DisplayErrorContext(e)
            ))
        })?;
    if put.failed_entry_count() > 0 {
        let why: Vec<String> = put
            .entries()
            .iter()
            .filter_map(|e| {
                e.error_code()
                    .map(|c| format!("{c}: {}", e.error_message().unwrap_or("")))
            })
            .collect();
        return Err(CliError::Aws(format!(
            "PutEvents refused the test event: {}",
            why.join("; ")
        )));
    }
    writeln!(out, "sent test event {id} via {path}").map_err(CliError::Output)?;
    let sqs = aws_sdk_sqs::Client::new(config);
    let deadline = started + Duration::from_secs(args.timeout);
    while Instant::now() < deadline {
        let got = sqs
            .receive_message()
            .queue_url(&listener.queue_url)
            .wait_time_seconds(1)
            .max_number_of_messages(1)
            .send()
            .await
            .map_err(|e| {
                CliError::Aws(format!(
                    "ReceiveMessage: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ))
            })?;
        if let Some(message) = got.messages().first() {
            let event: serde_json::Value =
                serde_json::from_str(message.body().unwrap_or("{}")).unwrap_or_default();
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
