//! The local stand-in for Lambda's SQS event-source mapping (moto has none): receive a batch, call
//! the same handler, delete only the records that succeeded. Failed records stay on the queue and
//! reappear after the visibility timeout, and the queue's redrive policy moves them to the DLQ
//! after `maxReceiveCount` receives — exactly as in AWS.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use pb_aws::queue::{QueueConsumer, ReceivedMessage};
use pb_aws::AwsError;
use pb_ingest::{BatchSummary, Ingest};

use crate::resources::INGEST_BATCH_SIZE;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    pub received: usize,
    pub deleted: usize,
    pub left_for_redelivery: usize,
    pub summary: BatchSummary,
}

pub struct Poller<'a> {
    ingest: &'a Ingest,
    consumer: QueueConsumer,
    batch_size: i32,
    wait_seconds: i32,
    visibility_timeout: Option<i32>,
}

impl<'a> Poller<'a> {
    /// `visibility_timeout` overrides the queue's (tests shorten it to see redeliveries quickly).
    pub fn new(
        ingest: &'a Ingest,
        consumer: QueueConsumer,
        wait_seconds: i32,
        visibility_timeout: Option<i32>,
    ) -> Self {
        Poller {
            ingest,
            consumer,
            batch_size: INGEST_BATCH_SIZE,
            wait_seconds,
            visibility_timeout,
        }
    }

    pub async fn poll_once(&self) -> Result<PollReport, AwsError> {
        let messages = self
            .consumer
            .receive(self.batch_size, self.wait_seconds, self.visibility_timeout)
            .await?;
        if messages.is_empty() {
            return Ok(PollReport::default());
        }
        let mut batch = SqsEvent::default();
        batch.records = messages.iter().map(to_lambda_record).collect();
        let (response, summary) = self.ingest.handle(batch).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let succeeded: Vec<&ReceivedMessage> = messages
            .iter()
            .filter(|m| !failed.contains(&m.message_id.as_str()))
            .collect();
        let deleted = self.consumer.delete(&succeeded).await?;
        Ok(PollReport {
            received: messages.len(),
            deleted,
            left_for_redelivery: messages.len() - succeeded.len(),
            summary,
        })
    }
}

fn to_lambda_record(message: &ReceivedMessage) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(message.message_id.clone());
    record.receipt_handle = Some(message.receipt_handle.clone());
    record.body = Some(message.body.clone());
    record.md5_of_body = message.md5_of_body.clone();
    record.attributes = message.attributes.clone();
    record.event_source = Some("aws:sqs".to_string());
    record
}
