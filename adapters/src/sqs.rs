//! SQS: a queue's encryption and backlog, a peek at dead letters, the
//! temporary listening queue of `send-test-event`, and reconciliation's
//! backfill onto the buffer queue.

use crate::Error;
use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;

/// What a queue says of itself.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    pub url: String,
    pub arn: Option<String>,
    /// KmsMasterKeyId, when a KMS key encrypts it.
    pub kms_key: Option<String>,
    /// SqsManagedSseEnabled.
    pub sse_sqs: bool,
    /// ApproximateNumberOfMessages.
    pub waiting: Option<u64>,
}

pub struct Queues {
    client: aws_sdk_sqs::Client,
}

impl Queues {
    pub fn new(config: &SdkConfig) -> Self {
        Queues {
            client: aws_sdk_sqs::Client::new(config),
        }
    }

    /// The queue of that name in this account and region.
    pub async fn find(&self, name: &str) -> Result<Queue, Error> {
        let url = self
            .client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| Error::of("GetQueueUrl", e))?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        self.describe(url).await
    }

    async fn describe(&self, url: String) -> Result<Queue, Error> {
        let answer = self
            .client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| Error::of("GetQueueAttributes", e))?;
        let attribute = |name: QueueAttributeName| {
            answer
                .attributes()
                .and_then(|a| a.get(&name))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        Ok(Queue {
            arn: attribute(QueueAttributeName::QueueArn),
            kms_key: attribute(QueueAttributeName::KmsMasterKeyId),
            sse_sqs: attribute(QueueAttributeName::SqsManagedSseEnabled)
                .is_some_and(|v| v == "true"),
            waiting: attribute(QueueAttributeName::ApproximateNumberOfMessages)
                .and_then(|n| n.parse().ok()),
            url,
        })
    }

    /// The distinct `ERROR_CODE` attributes of up to ten messages, read with
    /// visibility 0 so that they stay where they were.
    pub async fn peek_error_codes(&self, url: &str) -> Result<Vec<String>, Error> {
        let got = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| Error::of("ReceiveMessage", e))?;
        let mut codes: Vec<String> = Vec::new();
        for code in got.messages().iter().filter_map(|m| {
            m.message_attributes()
                .and_then(|a| a.get("ERROR_CODE"))
                .and_then(|v| v.string_value())
        }) {
            if !codes.iter().any(|c| c == code) {
                codes.push(code.to_owned());
            }
        }
        Ok(codes)
    }

    /// A new queue that EventBridge may write to from one rule only.
    pub async fn create_for_rule(&self, name: &str) -> Result<Queue, Error> {
        let url = self
            .client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| Error::of("CreateQueue", e))?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        self.describe(url).await
    }

    /// Lets the rule `rule_arn` (and nothing else) send to the queue.
    pub async fn admit_rule(&self, queue: &Queue, rule_arn: &str) -> Result<(), Error> {
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": queue.arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]});
        self.client
            .set_queue_attributes()
            .queue_url(&queue.url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .map_err(|e| Error::of("SetQueueAttributes", e))?;
        Ok(())
    }

    /// One message's body, waiting up to a second for it (and leaving it).
    pub async fn receive_one(&self, url: &str) -> Result<Option<String>, Error> {
        let got = self
            .client
            .receive_message()
            .queue_url(url)
            .wait_time_seconds(1)
            .max_number_of_messages(1)
            .send()
            .await
            .map_err(|e| Error::of("ReceiveMessage", e))?;
        Ok(got
            .messages()
            .first()
            .map(|m| m.body().unwrap_or("{}").to_owned()))
    }

    /// Sends up to ten bodies in one SendMessageBatch, each with the String
    /// attribute `attribute` = "true"; returns the indexes SQS refused.
    pub async fn send_marked(
        &self,
        url: &str,
        bodies: &[String],
        attribute: &str,
    ) -> Result<Vec<usize>, Error> {
        use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
        let unbuildable = |e: aws_sdk_sqs::error::BuildError| Error {
            api: "SendMessageBatch",
            code: None,
            detail: e.to_string(),
        };
        let mark = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("true")
            .build()
            .map_err(unbuildable)?;
        let mut entries = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.iter().enumerate() {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .message_attributes(attribute, mark.clone())
                .build()
                .map_err(unbuildable)?;
            entries.push(entry);
        }
        let answer = self
            .client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| Error::of("SendMessageBatch", e))?;
        Ok(answer
            .failed()
            .iter()
            .filter_map(|f| f.id().parse().ok())
            .collect())
    }

    pub async fn delete(&self, url: &str) -> Result<(), Error> {
        self.client
            .delete_queue()
            .queue_url(url)
            .send()
            .await
            .map_err(|e| Error::of("DeleteQueue", e))?;
        Ok(())
    }
}
