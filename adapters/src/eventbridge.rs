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
