//! The real publisher: EventBridge PutEvents through the AWS SDK.

use aws_sdk_eventbridge::config::http::HttpResponse;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::operation::put_events::PutEventsError;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use trailrelay_shared::publish::{EntryFailure, Publisher};
use trailrelay_shared::{Entry, Error};

/// Error codes of a whole call that a retry may fix.
const TRANSIENT_CODES: [&str; 5] = [
    "ThrottlingException",
    "InternalException",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
];

pub struct EventBridgePublisher {
    client: Client,
}

impl EventBridgePublisher {
    pub fn new(client: Client) -> Self {
        EventBridgePublisher { client }
    }

    /// A client for the relay: the SDK's own retries are off, because the
    /// relay retries itself, entry by entry and within the invocation's
    /// deadline (`shared::publish`); two layers of retries would multiply
    /// and ignore the deadline. Connecting may take 2 s at most; a call as a
    /// whole is bounded by the time left in the invocation.
    pub fn client(config: &aws_config::SdkConfig) -> Client {
        let conf = aws_sdk_eventbridge::config::Builder::from(config)
            .retry_config(aws_sdk_eventbridge::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_eventbridge::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(2))
                    .build(),
            )
            .build();
        Client::from_conf(conf)
    }
}

fn request_entry(entry: &Entry) -> PutEventsRequestEntry {
    let time = entry.time;
    PutEventsRequestEntry::builder()
        .event_bus_name(&entry.event_bus_name)
        .source(&entry.source)
        .detail_type(&entry.detail_type)
        .detail(&entry.detail)
        .time(DateTime::from_secs_and_nanos(
            time.unix_timestamp(),
            time.nanosecond(),
        ))
        .set_resources(Some(entry.resources.clone()))
        .build()
}

impl Publisher for EventBridgePublisher {
    async fn put_events(&self, entries: &[&Entry]) -> Result<Vec<Option<EntryFailure>>, Error> {
        let request: Vec<PutEventsRequestEntry> =
            entries.iter().map(|e| request_entry(e)).collect();
        let output = self
            .client
            .put_events()
            .set_entries(Some(request))
            .send()
            .await
            .map_err(call_error)?;
        Ok(output
            .entries()
            .iter()
            .map(|result| {
                result.error_code().map(|code| EntryFailure {
                    code: code.to_owned(),
                    message: result.error_message().unwrap_or_default().to_owned(),
                })
            })
            .collect())
    }
}

fn call_error(err: SdkError<PutEventsError, HttpResponse>) -> Error {
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            TRANSIENT_CODES.contains(&code) || service.raw().status().is_server_error()
        }
        _ => false,
    };
    let code = err.code().unwrap_or("no error code").to_owned();
    let detail = aws_sdk_eventbridge::error::DisplayErrorContext(&err);
    Error::put_events(transient, format!("{code}: {detail}"))
}

/// A bus as `DescribeEventBus` gives it.
#[derive(Debug, Clone, Default)]
pub struct Bus {
    pub arn: String,
    pub policy: Option<String>,
}

/// A rule and its targets.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    pub name: String,
    pub state: String,
    pub event_pattern: Option<String>,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Default)]
pub struct Target {
    pub arn: String,
    pub role_arn: Option<String>,
    pub dead_letter_arn: Option<String>,
}

/// Buses and rules: what the doctor reads, what `send-test-event` makes.
pub struct Buses {
    client: Client,
}

impl Buses {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Buses {
            client: Client::new(config),
        }
    }

    pub async fn describe(&self, name: &str) -> Result<Bus, crate::Error> {
        let bus = self
            .client
            .describe_event_bus()
            .name(name)
            .send()
            .await
            .map_err(|e| crate::Error::of("DescribeEventBus", e))?;
        Ok(Bus {
            arn: bus.arn().unwrap_or_default().to_owned(),
            policy: bus.policy().map(str::to_owned),
        })
    }

    /// The rule on `bus` and its targets (none when they cannot be listed).
    pub async fn rule(&self, bus: &str, name: &str) -> Result<Rule, crate::Error> {
        let rule = self
            .client
            .describe_rule()
            .name(name)
            .event_bus_name(bus)
            .send()
            .await
            .map_err(|e| crate::Error::of("DescribeRule", e))?;
        let targets = self
            .client
            .list_targets_by_rule()
            .rule(name)
            .event_bus_name(bus)
            .send()
            .await
            .map(|t| t.targets().to_vec())
            .unwrap_or_default();
        Ok(Rule {
            name: name.to_owned(),
            state: rule
                .state()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            event_pattern: rule.event_pattern().map(str::to_owned),
            targets: targets
                .iter()
                .map(|t| Target {
                    arn: t.arn().to_owned(),
                    role_arn: t.role_arn().map(str::to_owned),
                    dead_letter_arn: t
                        .dead_letter_config()
                        .and_then(|d| d.arn())
                        .map(str::to_owned),
                })
                .collect(),
        })
    }

    /// EventBridge's own answer: does `pattern` match `event`?
    pub async fn test_pattern(&self, pattern: &str, event: &str) -> Result<bool, crate::Error> {
        self.client
            .test_event_pattern()
            .event_pattern(pattern)
            .event(event)
            .send()
            .await
            .map(|r| r.result())
            .map_err(|e| crate::Error::of("TestEventPattern", e))
    }

    /// A rule on `bus` with `pattern` and one target (no role): its ARN.
    pub async fn put_rule_to(
        &self,
        bus: &str,
        name: &str,
        pattern: &str,
        target_id: &str,
        target_arn: &str,
    ) -> Result<String, crate::Error> {
        let rule_arn = self
            .client
            .put_rule()
            .name(name)
            .event_bus_name(bus)
            .event_pattern(pattern)
            .send()
            .await
            .map_err(|e| crate::Error::of("PutRule", e))?
            .rule_arn()
            .unwrap_or_default()
            .to_owned();
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id(target_id)
            .arn(target_arn)
            .build()
            .map_err(|e| crate::Error {
                api: "PutTargets",
                code: None,
                detail: e.to_string(),
            })?;
        self.client
            .put_targets()
            .rule(name)
            .event_bus_name(bus)
            .targets(target)
            .send()
            .await
            .map_err(|e| crate::Error::of("PutTargets", e))?;
        Ok(rule_arn)
    }

    /// Removes the rule's target and the rule, as far as they exist.
    pub async fn remove_rule(&self, bus: &str, name: &str, target_id: &str) {
        let _ = self
            .client
            .remove_targets()
            .rule(name)
            .event_bus_name(bus)
            .ids(target_id)
            .send()
            .await;
        let _ = self
            .client
            .delete_rule()
            .name(name)
            .event_bus_name(bus)
            .send()
            .await;
    }

    /// Puts one event; a refused entry is an error with its code.
    pub async fn put_one(
        &self,
        bus: &str,
        source: &str,
        detail_type: &str,
        detail: &str,
    ) -> Result<(), crate::Error> {
        let put = self
            .client
            .put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(source)
                    .detail_type(detail_type)
                    .detail(detail)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| crate::Error::of("PutEvents", e))?;
        match put.entries().iter().find(|e| e.error_code().is_some()) {
            Some(refused) => Err(crate::Error {
                api: "PutEvents",
                code: refused.error_code().map(str::to_owned),
                detail: format!(
                    "the entry was refused: {}: {}",
                    refused.error_code().unwrap_or_default(),
                    refused.error_message().unwrap_or_default()
                ),
            }),
            None => Ok(()),
        }
    }
}
