//! One SQS batch of platform events and retried deliveries → deliveries to each subscribed
//! channel → the partial-batch response Lambda expects. A failed delivery never holds up the
//! others: it is sent back to the queue with a delay, or dead-lettered, on its own.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use pb_aws::config::NotifyConfig;
use pb_aws::notifications::SubscriptionStore;
use pb_aws::pipelines::PipelineStore;
use pb_aws::queue::{DeadLetters, QueueSender};
use pb_aws::secrets::Secrets;
use pb_aws::topics::TopicPublisher;
use pb_aws::{AwsError, Clients};
use pb_domain::notify::{
    delivery_id, is_allowed_host, json_payload, notices_of, slack_payload, Channel, Delivery,
    Format, Notice, Subscription,
};
use pb_domain::scrub::scrub_message;
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::outcome::{retry_delay_seconds, DeliveryOutcome, MAX_ATTEMPTS};
use crate::secrets::SecretCache;
use crate::summary::BatchSummary;
use crate::webhook::{SendError, WebhookSender, REQUEST_TIMEOUT};

pub const DELIVERY_ID_ATTRIBUTE: &str = "deliveryId";
pub const SUBSCRIPTION_ID_ATTRIBUTE: &str = "subscriptionId";
pub const OUTCOME_ATTRIBUTE: &str = "outcome";
/// What one delivery may take, its queue writes included: a delivery that cannot finish
/// before the batch's deadline is put back on the queue instead of being cut off by Lambda.
const DELIVERY_RESERVE: Duration = REQUEST_TIMEOUT.saturating_add(Duration::from_secs(5));

/// An EventBridge event as the rule puts it on the queue.
#[derive(Debug, Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    time: String,
    detail: Value,
}

enum Message {
    Event(Envelope),
    Retry(Delivery),
}

fn parse_message(body: &str) -> Result<Message, serde_json::Error> {
    let value: Value = serde_json::from_str(body)?;
    if value.get("detail-type").is_some() {
        serde_json::from_value(value).map(Message::Event)
    } else {
        serde_json::from_value(value).map(Message::Retry)
    }
}

/// Why a whole record could not be handled.
#[derive(Debug, Error)]
enum RecordError {
    /// Neither an event nor a delivery: it goes to the dead-letter queue.
    #[error("not a platform event or a delivery: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Reading subscriptions or writing to a queue failed: SQS redelivers the record.
    #[error("{0}")]
    Aws(#[from] AwsError),
}

/// Why one delivery did not land.
#[derive(Debug, Error)]
enum DeliveryError {
    #[error("{0}")]
    Webhook(#[from] SendError),
    #[error("the webhook's secret could not be read: {0}")]
    Secret(AwsError),
    #[error("{0}")]
    Topic(AwsError),
    #[error("the webhook's host is not on the platform's allowlist")]
    NotAllowed,
}

impl DeliveryError {
    fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Webhook(error) => error.is_retryable(),
            DeliveryError::Secret(error) | DeliveryError::Topic(error) => is_transient(error),
            DeliveryError::NotAllowed => false,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            DeliveryError::Webhook(SendError::Forbidden(_)) => "forbidden-address",
            DeliveryError::Webhook(SendError::InvalidUrl) => "invalid-url",
            DeliveryError::Webhook(SendError::Status(_)) => "rejected",
            DeliveryError::Webhook(_) => "unreachable",
            DeliveryError::Secret(error) if error.code() == Some("ResourceNotFoundException") => {
                "missing-secret"
            }
            DeliveryError::Secret(_) => "secret-unreadable",
            DeliveryError::Topic(_) => "topic-rejected",
            DeliveryError::NotAllowed => "host-not-allowed",
        }
    }
}

fn is_transient(error: &AwsError) -> bool {
    matches!(
        error,
        AwsError::Throttled { .. }
            | AwsError::Unavailable { .. }
            | AwsError::TimedOut { .. }
            | AwsError::Network { .. }
    )
}

pub struct Notify {
    subscriptions: SubscriptionStore,
    pipelines: PipelineStore,
    secrets: SecretCache,
    webhooks: WebhookSender,
    topics: TopicPublisher,
    retries: QueueSender,
    dead_letters: DeadLetters,
    allowed_hosts: Vec<String>,
}

impl Notify {
    pub fn new(clients: &Clients, config: &NotifyConfig, webhooks: WebhookSender) -> Self {
        Notify {
            subscriptions: SubscriptionStore::new(clients.dynamodb.clone(), &config.catalog_table),
            pipelines: PipelineStore::new(clients.dynamodb.clone(), &config.catalog_table),
            secrets: SecretCache::new(
                Secrets::new(clients.secretsmanager.clone()),
                config.secret_cache_ttl,
            ),
            webhooks,
            topics: TopicPublisher::new(clients.sns.clone()),
            retries: QueueSender::new(clients.sqs.clone(), &config.queue_url),
            dead_letters: DeadLetters::new(clients.sqs.clone(), &config.dead_letter_queue_url),
            allowed_hosts: config.webhook_allowed_hosts.clone(),
        }
    }

    /// Handles one batch, to be done by `deadline` (the invocation's); only the records whose
    /// own queue writes or lookups failed are reported, and SQS redelivers them (receivers
    /// dedupe on the delivery id).
    pub async fn handle(
        &self,
        event: SqsEvent,
        deadline: Instant,
    ) -> (SqsBatchResponse, BatchSummary) {
        let mut response = SqsBatchResponse::default();
        let mut summary = BatchSummary::default();
        for record in &event.records {
            summary.received += 1;
            match self.handle_record(record, deadline).await {
                Ok(outcomes) => outcomes.iter().for_each(|o| summary.count(o)),
                Err(error) => {
                    tracing::warn!(message_id = record.message_id.as_deref().unwrap_or_default(), error = %error, "record will be redelivered");
                    summary.failed += 1;
                    response.add_failure(record.message_id.clone().unwrap_or_default());
                }
            }
        }
        (response, summary)
    }

    async fn handle_record(
        &self,
        record: &SqsMessage,
        deadline: Instant,
    ) -> Result<Vec<DeliveryOutcome>, AwsError> {
        let message_id = record.message_id.as_deref().unwrap_or_default();
        let body = record.body.as_deref().unwrap_or_default();
        match self.process(body, deadline).await {
            Ok(outcomes) => Ok(outcomes),
            Err(RecordError::Aws(error)) if !error.is_permanent() => Err(error),
            Err(error) => {
                let reason = match error {
                    RecordError::Malformed(_) => "malformed",
                    RecordError::Aws(_) => "rejected",
                };
                let detail = scrub_message(&error.to_string());
                self.dead_letters
                    .quarantine(body, reason, &detail, message_id)
                    .await?;
                tracing::warn!(message_id, reason, detail, "record quarantined to the DLQ");
                Ok(Vec::new())
            }
        }
    }

    async fn process(
        &self,
        body: &str,
        deadline: Instant,
    ) -> Result<Vec<DeliveryOutcome>, RecordError> {
        // Boxed: inlined, the SDK and TLS client futures of both paths make the handler's
        // future too deep for the compiler to lay out.
        match parse_message(body)? {
            Message::Event(envelope) => Box::pin(self.event(&envelope, deadline)).await,
            Message::Retry(delivery) => Ok(vec![Box::pin(self.retry(delivery, deadline)).await?]),
        }
    }

    /// Every notice of the event, to every subscription of its org that wants it.
    async fn event(
        &self,
        envelope: &Envelope,
        deadline: Instant,
    ) -> Result<Vec<DeliveryOutcome>, RecordError> {
        let notices = notices_of(
            &envelope.source,
            &envelope.detail_type,
            &envelope.time,
            &envelope.detail,
        );
        let mut outcomes = Vec::new();
        for notice in notices {
            let subscriptions = self.subscriptions.list(&notice.org).await?;
            let project = self.project_of(&notice, &subscriptions).await?;
            for subscription in subscriptions
                .iter()
                .filter(|s| s.wants(&notice, project.as_deref()))
            {
                let delivery = Delivery {
                    delivery_id: delivery_id(&notice.event_id, &subscription.id),
                    subscription_id: subscription.id.clone(),
                    notice: notice.clone(),
                    attempt: 1,
                    test: false,
                };
                outcomes.push(self.deliver(delivery, subscription, deadline).await?);
            }
        }
        Ok(outcomes)
    }

    /// The project of the notice's pipeline, read only when a subscription filters by project.
    async fn project_of(
        &self,
        notice: &Notice,
        subscriptions: &[Subscription],
    ) -> Result<Option<String>, AwsError> {
        let Some(pipeline_id) = &notice.pipeline_id else {
            return Ok(None);
        };
        if subscriptions.iter().all(|s| s.project.is_none()) {
            return Ok(None);
        }
        let record = self.pipelines.get(&notice.org, pipeline_id).await?;
        Ok(record.map(|r| r.spec.project))
    }

    /// A delivery tried again goes to the subscription as it is now, and only if it still wants
    /// it (its channel, outcomes or filter may have changed since); a deleted one is dropped.
    async fn retry(
        &self,
        delivery: Delivery,
        deadline: Instant,
    ) -> Result<DeliveryOutcome, AwsError> {
        match self
            .subscriptions
            .get(&delivery.notice.org, &delivery.subscription_id)
            .await?
        {
            Some(subscription) => {
                let project = self
                    .project_of(&delivery.notice, std::slice::from_ref(&subscription))
                    .await?;
                if !delivery.test && !subscription.wants(&delivery.notice, project.as_deref()) {
                    return Ok(DeliveryOutcome::Dropped);
                }
                self.deliver(delivery, &subscription, deadline).await
            }
            None => Ok(DeliveryOutcome::Dropped),
        }
    }

    /// Sends, then settles a failure on its own: later for what may recover, the dead-letter
    /// queue for the rest. Only a failed queue write is an error.
    async fn deliver(
        &self,
        delivery: Delivery,
        subscription: &Subscription,
        deadline: Instant,
    ) -> Result<DeliveryOutcome, AwsError> {
        if Instant::now() + DELIVERY_RESERVE > deadline {
            return self.defer(&delivery).await;
        }
        let Err(error) = self.send(&delivery, subscription).await else {
            tracing::info!(delivery_id = %delivery.delivery_id, subscription_id = %delivery.subscription_id, attempt = delivery.attempt, "delivered");
            return Ok(DeliveryOutcome::Delivered);
        };
        tracing::warn!(delivery_id = %delivery.delivery_id, subscription_id = %delivery.subscription_id, attempt = delivery.attempt, error = %error, "delivery failed");
        if !error.is_retryable() {
            return self.dead_letter(&delivery, error.reason(), &error).await;
        }
        if delivery.attempt >= MAX_ATTEMPTS {
            return self
                .dead_letter(&delivery, "attempts-exhausted", &error)
                .await;
        }
        self.retry_later(delivery).await
    }

    async fn send(
        &self,
        delivery: &Delivery,
        subscription: &Subscription,
    ) -> Result<(), DeliveryError> {
        match &subscription.channel {
            Channel::Sns { topic_arn } => {
                let message = json_payload(delivery).to_string();
                self.topics
                    .publish(
                        topic_arn,
                        &message,
                        &[
                            (OUTCOME_ATTRIBUTE, delivery.notice.outcome.as_str()),
                            (DELIVERY_ID_ATTRIBUTE, &delivery.delivery_id),
                        ],
                    )
                    .await
                    .map_err(DeliveryError::Topic)?;
            }
            Channel::Webhook {
                url,
                format,
                secret_id,
            } => {
                if !is_allowed_host(url, &self.allowed_hosts) {
                    return Err(DeliveryError::NotAllowed);
                }
                let secret = self
                    .secrets
                    .read(secret_id, &subscription.updated_at)
                    .await
                    .map_err(DeliveryError::Secret)?;
                let body = match format {
                    Format::Json => json_payload(delivery),
                    Format::Slack => slack_payload(delivery),
                };
                self.webhooks
                    .send(url, &secret, &delivery.delivery_id, body.to_string())
                    .await?;
            }
        }
        Ok(())
    }

    /// Back on the queue as it is, for the next invocation: this one has no time left for it.
    async fn defer(&self, delivery: &Delivery) -> Result<DeliveryOutcome, AwsError> {
        self.retries.send_delayed(&to_body(delivery)?, 0).await?;
        Ok(DeliveryOutcome::Deferred)
    }

    async fn retry_later(&self, mut delivery: Delivery) -> Result<DeliveryOutcome, AwsError> {
        let delay_seconds = retry_delay_seconds(delivery.attempt);
        delivery.attempt += 1;
        self.retries
            .send_delayed(&to_body(&delivery)?, delay_seconds)
            .await?;
        Ok(DeliveryOutcome::Retrying {
            attempt: delivery.attempt,
            delay_seconds,
        })
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        reason: &'static str,
        error: &DeliveryError,
    ) -> Result<DeliveryOutcome, AwsError> {
        self.dead_letters
            .quarantine_with(
                &to_body(delivery)?,
                reason,
                &scrub_message(&error.to_string()),
                "",
                &[
                    (DELIVERY_ID_ATTRIBUTE, &delivery.delivery_id),
                    (SUBSCRIPTION_ID_ATTRIBUTE, &delivery.subscription_id),
                ],
            )
            .await?;
        tracing::warn!(delivery_id = %delivery.delivery_id, subscription_id = %delivery.subscription_id, reason, "delivery dead-lettered");
        Ok(DeliveryOutcome::DeadLettered { reason })
    }
}

fn to_body(delivery: &Delivery) -> Result<String, AwsError> {
    serde_json::to_string(delivery).map_err(|e| AwsError::local("SendMessage", "Serialization", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_deliveries_are_told_apart_and_anything_else_is_malformed() {
        let event = r#"{"source":"pipeline-builder.ingest","detail-type":"Execution Completed","time":"t","detail":{}}"#;
        assert!(matches!(parse_message(event), Ok(Message::Event(_))));
        let delivery = r#"{"deliveryId":"d","subscriptionId":"s","attempt":2,"notice":{"eventId":"e","org":"acme","outcome":"drift-found","occurredAt":"t","summary":"s","detail":{}}}"#;
        assert!(matches!(parse_message(delivery), Ok(Message::Retry(d)) if d.attempt == 2));
        assert!(parse_message(r#"{"hello":1}"#).is_err());
        assert!(parse_message("not json").is_err());
    }

    #[test]
    fn failures_are_named_for_the_dead_letter_queue() {
        let missing = AwsError::Rejected {
            operation: "GetSecretValue",
            code: "ResourceNotFoundException".into(),
            message: "m".into(),
        };
        assert_eq!(
            DeliveryError::Secret(missing.clone()).reason(),
            "missing-secret"
        );
        assert!(!DeliveryError::Secret(missing).is_retryable());
        let throttled = AwsError::Throttled {
            operation: "Publish",
            code: "Throttling".into(),
        };
        assert!(DeliveryError::Topic(throttled).is_retryable());
        let unavailable = AwsError::Unavailable {
            operation: "Publish",
            status: 503,
        };
        assert!(DeliveryError::Topic(unavailable).is_retryable());
        let not_found = AwsError::Rejected {
            operation: "Publish",
            code: "NotFound".into(),
            message: "m".into(),
        };
        assert!(!DeliveryError::Topic(not_found).is_retryable());
        assert_eq!(
            DeliveryError::Webhook(SendError::Status(404)).reason(),
            "rejected"
        );
    }
}
