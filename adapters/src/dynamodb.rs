//! Path last-seen times in a DynamoDB table: one item per path, keyed
//! `path` = `<account>#<region>`, with `lastSeen` and `silentSince` as epoch
//! seconds (numbers, so that the conditions compare them).
//!
//! A heartbeat's write is conditional: it only moves `lastSeen` forward, and
//! only by at least the minimum interval, so however many containers run,
//! a path is written at most once per interval.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;
use trailrelay_shared::paths::{rfc3339, PathKey, PathRecord, PathStore, Recorded};
use trailrelay_shared::Error;

pub const KEY: &str = "path";
const LAST_SEEN: &str = "lastSeen";
const SILENT_SINCE: &str = "silentSince";

pub struct DynamoPathStore {
    client: Client,
    table: String,
}

impl DynamoPathStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoPathStore {
            client,
            table: table.into(),
        }
    }

    /// A client whose calls give up within a few seconds: a heartbeat whose
    /// write hangs must not hold the invocation to its deadline.
    pub fn client(config: &aws_config::SdkConfig) -> Client {
        let conf = aws_sdk_dynamodb::config::Builder::from(config)
            .timeout_config(
                aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_timeout(Duration::from_secs(5))
                    .build(),
            )
            .build();
        Client::from_conf(conf)
    }

    fn fail<E: std::error::Error + 'static>(&self, what: &str, e: SdkError<E>) -> Error {
        Error::PathStore {
            reason: format!(
                "{what} on table {}: {}",
                self.table,
                DisplayErrorContext(&e)
            ),
        }
    }
}

fn seconds(t: OffsetDateTime) -> AttributeValue {
    AttributeValue::N(t.unix_timestamp().to_string())
}

fn time_of(item: &HashMap<String, AttributeValue>, name: &str) -> Option<OffsetDateTime> {
    let n = item.get(name)?.as_n().ok()?.parse::<i64>().ok()?;
    OffsetDateTime::from_unix_timestamp(n).ok()
}

impl PathStore for DynamoPathStore {
    async fn record_heartbeat(
        &self,
        path: &PathKey,
        at: OffsetDateTime,
        min_interval: Duration,
    ) -> Result<Recorded, Error> {
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(path.id()))
            .update_expression(
                "SET #seen = :at, #seenText = :atText, #account = :account, #region = :region",
            )
            .condition_expression("attribute_not_exists(#seen) OR #seen <= :cutoff")
            .expression_attribute_names("#seen", LAST_SEEN)
            .expression_attribute_names("#seenText", "lastSeenAt")
            .expression_attribute_names("#account", "account")
            .expression_attribute_names("#region", "region")
            .expression_attribute_values(":at", seconds(at))
            .expression_attribute_values(":atText", AttributeValue::S(rfc3339(at)))
            .expression_attribute_values(":cutoff", seconds(at - min_interval))
            .expression_attribute_values(":account", AttributeValue::S(path.account.clone()))
            .expression_attribute_values(":region", AttributeValue::S(path.region.clone()))
            .send()
            .await;
        match answer {
            Ok(_) => Ok(Recorded::Written),
            Err(SdkError::ServiceError(e))
                if e.err().code() == Some("ConditionalCheckFailedException") =>
            {
                Ok(Recorded::AlreadyRecent)
            }
            Err(e) => Err(self.fail("UpdateItem", e)),
        }
    }

    async fn list(&self) -> Result<Vec<PathRecord>, Error> {
        let mut records = Vec::new();
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.fail("Scan", e))?;
            for item in page.items() {
                let key = item
                    .get(KEY)
                    .and_then(|v| v.as_s().ok())
                    .and_then(|id| PathKey::from_id(id));
                // An item that is not a path (written by hand) is left alone.
                if let Some(key) = key {
                    records.push(PathRecord {
                        key,
                        last_seen: time_of(item, LAST_SEEN),
                        silent_since: time_of(item, SILENT_SINCE),
                    });
                }
            }
        }
        records.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(records)
    }

    async fn set_silent(&self, path: &PathKey, since: Option<OffsetDateTime>) -> Result<(), Error> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(path.id()))
            .expression_attribute_names("#silent", SILENT_SINCE);
        let update = match since {
            Some(t) => update
                .update_expression("SET #silent = :since")
                .expression_attribute_values(":since", seconds(t)),
            None => update.update_expression("REMOVE #silent"),
        };
        update
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.fail("UpdateItem", e))
    }
}
