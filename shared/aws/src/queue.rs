//! SQS: the dead-letter queue the ingest function quarantines into, the consumer the re-drive reads
//! it with (pb-tests' local poll loop, standing in for Lambda's event-source mapping, uses it too),
//! and the sender the re-drive puts quarantined records back with.

use std::collections::HashMap;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageAttributeValue, MessageSystemAttributeName,
};

use crate::AwsError;

/// SQS's message limit counts body and attributes; keep room for the attributes we add.
const MAX_QUARANTINED_BODY_BYTES: usize = 250 * 1024;

/// Message attributes of a quarantined record: why, the error, the ingest queue's message id, and
/// whether the body was cut to fit (then it is no longer the event).
pub const REASON_ATTRIBUTE: &str = "reason";
pub const DETAIL_ATTRIBUTE: &str = "detail";
pub const SOURCE_MESSAGE_ID_ATTRIBUTE: &str = "sourceMessageId";
pub const TRUNCATED_ATTRIBUTE: &str = "truncated";
/// The system attribute with the time SQS accepted a message, in epoch milliseconds.
pub const SENT_TIMESTAMP_ATTRIBUTE: &str = "SentTimestamp";

#[derive(Debug, Clone)]
pub struct DeadLetters {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl DeadLetters {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        DeadLetters {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Moves a record that can never succeed to the DLQ, with the reason as message attributes.
    pub async fn quarantine(
        &self,
        body: &str,
        reason: &str,
        detail: &str,
        source_message_id: &str,
    ) -> Result<(), AwsError> {
        self.quarantine_with(body, reason, detail, source_message_id, &[])
            .await
    }

    /// [`DeadLetters::quarantine`] with more string attributes, for the records whose consumer
    /// knows what an operator looks for (the notify's delivery and subscription ids).
    pub async fn quarantine_with(
        &self,
        body: &str,
        reason: &str,
        detail: &str,
        source_message_id: &str,
        extra: &[(&str, &str)],
    ) -> Result<(), AwsError> {
        let (body, truncated) = truncate(body, MAX_QUARANTINED_BODY_BYTES);
        let detail: String = detail.chars().take(1024).collect();
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(if body.is_empty() {
                "(empty body)"
            } else {
                body
            })
            .message_attributes(REASON_ATTRIBUTE, string_attribute(reason)?)
            .message_attributes(DETAIL_ATTRIBUTE, string_attribute(&detail)?)
            .message_attributes(
                SOURCE_MESSAGE_ID_ATTRIBUTE,
                string_attribute(source_message_id)?,
            )
            .message_attributes(
                TRUNCATED_ATTRIBUTE,
                string_attribute(if truncated { "true" } else { "false" })?,
            );
        for (name, value) in extra {
            request = request.message_attributes(*name, string_attribute(value)?);
        }
        request
            .send()
            .await
            .map_err(|e| AwsError::classify("SendMessage", e))?;
        Ok(())
    }
}

/// SQS refuses an empty attribute value: an absent one is written as `-`.
fn string_attribute(value: &str) -> Result<MessageAttributeValue, AwsError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(if value.is_empty() { "-" } else { value })
        .build()
        .map_err(|e| AwsError::local("SendMessage", "InvalidAttribute", e))
}

fn truncate(text: &str, max_bytes: usize) -> (&str, bool) {
    if text.len() <= max_bytes {
        return (text, false);
    }
    let mut cut = max_bytes;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    (&text[..cut], true)
}

/// A message as received from SQS, with the fields Lambda passes to a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub md5_of_body: Option<String>,
    pub attributes: HashMap<String, String>,
    pub message_attributes: HashMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct QueueConsumer {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl QueueConsumer {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        QueueConsumer {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Long-polls for up to `max` messages. `visibility_timeout` overrides the queue's setting.
    pub async fn receive(
        &self,
        max: i32,
        wait_seconds: i32,
        visibility_timeout: Option<i32>,
    ) -> Result<Vec<ReceivedMessage>, AwsError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_seconds)
            .set_visibility_timeout(visibility_timeout)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| AwsError::classify("ReceiveMessage", e))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| ReceivedMessage {
                message_id: m.message_id.unwrap_or_default(),
                receipt_handle: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
                md5_of_body: m.md5_of_body,
                attributes: m
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_string(), v))
                    .collect(),
                message_attributes: m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
                    .collect(),
            })
            .collect())
    }

    /// Makes the given messages visible again at once, for the next reader; returns how many SQS
    /// confirmed.
    pub async fn release(&self, messages: &[&ReceivedMessage]) -> Result<usize, AwsError> {
        let mut released = 0;
        for chunk in messages.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&m.receipt_handle)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| {
                            AwsError::local("ChangeMessageVisibilityBatch", "InvalidEntry", e)
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| AwsError::classify("ChangeMessageVisibilityBatch", e))?;
            released += output.successful.len();
        }
        Ok(released)
    }

    /// Deletes the given messages; returns how many SQS confirmed.
    pub async fn delete(&self, messages: &[&ReceivedMessage]) -> Result<usize, AwsError> {
        let mut deleted = 0;
        for chunk in messages.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&m.receipt_handle)
                        .build()
                        .map_err(|e| AwsError::local("DeleteMessageBatch", "InvalidEntry", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| AwsError::classify("DeleteMessageBatch", e))?;
            deleted += output.successful.len();
        }
        Ok(deleted)
    }
}

/// Puts messages on a queue.
#[derive(Debug, Clone)]
pub struct QueueSender {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl QueueSender {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        QueueSender {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Sends `body` as a new message; returns its message id.
    pub async fn send(&self, body: &str) -> Result<String, AwsError> {
        self.send_with_delay(body, None).await
    }

    /// Sends `body` to be received no sooner than `delay_seconds` from now (SQS allows 0-900).
    pub async fn send_delayed(&self, body: &str, delay_seconds: i32) -> Result<String, AwsError> {
        self.send_with_delay(body, Some(delay_seconds)).await
    }

    async fn send_with_delay(
        &self,
        body: &str,
        delay_seconds: Option<i32>,
    ) -> Result<String, AwsError> {
        let output = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .set_delay_seconds(delay_seconds)
            .send()
            .await
            .map_err(|e| AwsError::classify("SendMessage", e))?;
        Ok(output.message_id.unwrap_or_default())
    }
}
