//! One SQS batch → per-record outcomes → the partial-batch response Lambda expects.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use pb_aws::config::IngestConfig;
use pb_aws::deploy_tracking::DeploymentTracker;
use pb_aws::deployments::DeploymentStore;
use pb_aws::dora_settings::DoraSettingsStore;
use pb_aws::executions::{CommitError, ExecutionStore};
use pb_aws::pipelines::PipelineStore;
use pb_aws::publisher::Publisher;
use pb_aws::queue::DeadLetters;
use pb_aws::registry::{Registration, Registry};
use pb_aws::tags::TagResolver;
use pb_aws::{AwsError, Clients};
use pb_domain::deployment::{is_stack_event, parse_stack_event, StackEventError};
use pb_domain::event::{parse_event, ExecutionEvent, ParseError};
use pb_domain::execution::{approval_waiting, plan, Context};
use pb_domain::scrub::scrub_message;
use thiserror::Error;
use tracing::Instrument;

use crate::attribution::{Attribution, StepPlugins};
use crate::outcome::Outcome;
use crate::summary::BatchSummary;

/// Concurrent writers on one execution are rare; after this many re-reads the record is retried
/// by SQS instead.
const MAX_CONFLICT_RETRIES: usize = 5;

#[derive(Debug, Error)]
enum RecordError {
    /// The record can never succeed: it goes to the dead-letter queue.
    #[error("{0}")]
    Permanent(#[from] ParseError),
    #[error("pipeline is not in the registry")]
    UnregisteredQuarantined,
    #[error("pipeline {event_pipeline} carries the id of {registered}")]
    MismatchedQuarantined {
        event_pipeline: String,
        registered: String,
    },
    /// SQS redelivers the record after the visibility timeout.
    #[error("{0}")]
    Transient(#[from] AwsError),
    #[error("execution items kept changing during {MAX_CONFLICT_RETRIES} attempts")]
    Contention,
    #[error("the pipeline's tag lookup already failed in this batch")]
    LookupFailedEarlierInBatch,
    #[error("{0}")]
    StackEvent(#[from] StackEventError),
}

impl RecordError {
    fn quarantine_reason(&self) -> Option<&'static str> {
        match self {
            RecordError::Permanent(e) => Some(e.reason()),
            RecordError::StackEvent(_) => Some("malformed-stack-event"),
            RecordError::UnregisteredQuarantined => Some("unregistered"),
            RecordError::MismatchedQuarantined { .. } => Some("mismatched"),
            RecordError::Transient(e) if e.is_permanent() => Some("rejected"),
            RecordError::Transient(_)
            | RecordError::Contention
            | RecordError::LookupFailedEarlierInBatch => None,
        }
    }
}

pub struct Ingest {
    tags: TagResolver,
    registry: Registry,
    steps: StepPlugins,
    store: ExecutionStore,
    publisher: Publisher,
    dead_letters: DeadLetters,
    quarantine_unregistered: bool,
    retention_days: i64,
    deployments: DeploymentStore,
    cloudformation: aws_sdk_cloudformation::Client,
    eventbridge: aws_sdk_eventbridge::Client,
    event_bus_name: String,
}

impl Ingest {
    pub fn new(clients: &Clients, config: &IngestConfig) -> Self {
        Ingest {
            tags: TagResolver::new(
                clients.codepipeline.clone(),
                config.tag_cache_ttl,
                config.negative_cache_ttl,
            ),
            registry: Registry::new(
                clients.dynamodb.clone(),
                &config.catalog_table,
                config.tag_cache_ttl,
                config.negative_cache_ttl,
            ),
            steps: StepPlugins::new(
                PipelineStore::new(clients.dynamodb.clone(), &config.catalog_table),
                DoraSettingsStore::new(clients.dynamodb.clone(), &config.catalog_table),
                config.tag_cache_ttl,
                config.negative_cache_ttl,
            ),
            store: ExecutionStore::new(clients.dynamodb.clone(), &config.executions_table),
            publisher: Publisher::new(clients.eventbridge.clone(), &config.event_bus_name),
            dead_letters: DeadLetters::new(clients.sqs.clone(), &config.dead_letter_queue_url),
            quarantine_unregistered: config.quarantine_unregistered,
            retention_days: config.retention_days,
            deployments: DeploymentStore::new(clients.dynamodb.clone(), &config.catalog_table),
            cloudformation: clients.cloudformation.clone(),
            eventbridge: clients.eventbridge.clone(),
            event_bus_name: config.event_bus_name.clone(),
        }
    }

    /// Handles one batch. Records are processed in order, so several events of one execution in
    /// a batch read each other's writes; only the records that must be redelivered are reported.
    pub async fn handle(&self, event: SqsEvent) -> (SqsBatchResponse, BatchSummary) {
        let mut response = SqsBatchResponse::default();
        let mut batch = BatchState::default();
        for record in &event.records {
            let outcome = self.handle_record(record, &mut batch).await;
            if let Outcome::Retry { .. } = outcome {
                response.add_failure(record.message_id.clone().unwrap_or_default());
            }
            batch.summary.count(&outcome);
        }
        (response, batch.summary)
    }

    async fn handle_record(&self, record: &SqsMessage, batch: &mut BatchState) -> Outcome {
        let message_id = record.message_id.as_deref().unwrap_or_default();
        let body = record.body.as_deref().unwrap_or_default();
        match self.process(body, batch).await {
            Ok(outcome) => outcome,
            Err(error) => match error.quarantine_reason() {
                Some(reason) => self.quarantine(body, reason, &error, message_id).await,
                None => {
                    tracing::warn!(message_id, error = %error, "record will be redelivered");
                    Outcome::Retry {
                        reason: error.to_string(),
                    }
                }
            },
        }
    }

    async fn quarantine(
        &self,
        body: &str,
        reason: &'static str,
        error: &RecordError,
        message_id: &str,
    ) -> Outcome {
        let detail = scrub_message(&error.to_string());
        match self
            .dead_letters
            .quarantine(body, reason, &detail, message_id)
            .await
        {
            Ok(()) => {
                tracing::warn!(message_id, reason, detail, "record quarantined to the DLQ");
                Outcome::Quarantined { reason }
            }
            Err(e) => {
                tracing::error!(message_id, reason, error = %e, "could not quarantine; will be redelivered");
                Outcome::Retry {
                    reason: e.to_string(),
                }
            }
        }
    }

    async fn process(&self, body: &str, batch: &mut BatchState) -> Result<Outcome, RecordError> {
        if is_stack_event(body) {
            // Boxed: inlined, the two event paths make the handler's future too deep to lay out.
            return Box::pin(self.stack_event(body)).await;
        }
        let event = parse_event(body)?;
        if batch.failed_lookups.contains(&event.pipeline_arn) {
            return Err(RecordError::LookupFailedEarlierInBatch);
        }
        let lookup = self.tags.pipeline_id(&event.pipeline_arn).await;
        if lookup.is_err() {
            batch.failed_lookups.insert(event.pipeline_arn.clone());
        }
        let Some(pipeline_id) = lookup? else {
            return Ok(Outcome::Untagged);
        };
        let Some(registration) = self.registry.registration(&pipeline_id).await? else {
            if self.quarantine_unregistered {
                return Err(RecordError::UnregisteredQuarantined);
            }
            return Ok(Outcome::Unregistered);
        };
        if !is_registered_pipeline(&event, &registration) {
            return self.mismatched(&event, &registration, &pipeline_id);
        }
        let org_id = registration.org_id;
        let attribution = self.steps.attribute(&org_id, &pipeline_id, &event).await?;
        let production_stage = self
            .steps
            .is_production_stage(&org_id, &pipeline_id, &event)
            .await?;
        let ctx = Context {
            org_id: &org_id,
            pipeline_id: &pipeline_id,
            retention_days: self.retention_days,
            plugin: attribution.plugin(),
            production_stage,
        };
        let span = tracing::info_span!("record", org = %org_id, pipeline_id = %pipeline_id);
        let outcome = self.apply(ctx, &event).instrument(span).await?;
        if attribution == Attribution::NoDefinition {
            batch.summary.unattributed += 1;
        }
        Ok(outcome)
    }

    /// A platform stack's status: the deployment that started it moves on (or ends). Stacks no
    /// deployment started (a `pb-` stack deployed by hand) are acknowledged and left alone, as
    /// is an event of an older stack of the same name.
    async fn stack_event(&self, body: &str) -> Result<Outcome, RecordError> {
        let event = parse_stack_event(body)?;
        let Some(owner) = self
            .deployments
            .stack_owner(&event.region, &event.stack_name)
            .await?
        else {
            return Ok(Outcome::Unregistered);
        };
        let Some(record) = self
            .deployments
            .get(&owner.org, &owner.pipeline_id, &owner.deployment_id)
            .await?
        else {
            return Ok(Outcome::Unregistered);
        };
        if record
            .stack_id
            .as_deref()
            .is_some_and(|id| id != event.stack_id)
        {
            return Ok(Outcome::Duplicate);
        }
        let tracker = DeploymentTracker {
            deployments: &self.deployments,
            registry: &self.registry,
            cloudformation: &self.cloudformation,
            events: &self.eventbridge,
            bus_name: &self.event_bus_name,
        };
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        tracker
            .observe(record, &event.stack_id, &event.status, &now)
            .await?;
        Ok(Outcome::Stored)
    }

    fn mismatched(
        &self,
        event: &ExecutionEvent,
        registration: &Registration,
        pipeline_id: &str,
    ) -> Result<Outcome, RecordError> {
        tracing::warn!(
            pipeline_id,
            event_pipeline = %event.pipeline_name,
            event_region = pipeline_region(&event.pipeline_arn).unwrap_or_default(),
            registered_pipeline = %registration.pipeline_name,
            registered_region = %registration.region,
            "a pipeline carries a registered id it was not registered with; not recorded"
        );
        if self.quarantine_unregistered {
            return Err(RecordError::MismatchedQuarantined {
                event_pipeline: event.pipeline_name.clone(),
                registered: format!("{} in {}", registration.pipeline_name, registration.region),
            });
        }
        Ok(Outcome::Mismatched)
    }

    /// Read, plan, conditionally write; on a concurrent change, read again.
    async fn apply(
        &self,
        ctx: Context<'_>,
        event: &ExecutionEvent,
    ) -> Result<Outcome, RecordError> {
        for attempt in 0..MAX_CONFLICT_RETRIES {
            if attempt > 0 {
                tokio::time::sleep(conflict_backoff(attempt)).await;
            }
            let snapshot = self
                .store
                .load(ctx.pipeline_id, event, ctx.production_stage)
                .await?;
            let plan = plan(
                ctx,
                event,
                snapshot.execution.as_ref(),
                snapshot.level.as_ref(),
                snapshot.timeline.as_ref(),
            );
            // Announced before the write: a failed announcement leaves the change unstored, so
            // the redelivered event announces it again (receivers dedupe on the approval id).
            if let Some(approval) = approval_waiting(ctx, event, &plan) {
                self.publisher.approval_waiting(&approval).await?;
            }
            match self.store.commit(&plan, &snapshot).await {
                Err(CommitError::Conflict) => continue,
                Err(CommitError::Aws(e)) => return Err(e.into()),
                Ok(()) => {}
            }
            if let Some(completion) = &plan.completion {
                self.publisher.execution_completed(completion).await?;
                let execution = plan
                    .execution
                    .as_ref()
                    .or(snapshot.execution.as_ref())
                    .ok_or(RecordError::Contention)?;
                self.store.mark_published(execution, completion).await?;
            }
            if !plan.writes_anything() {
                tracing::debug!(
                    execution_id = %event.execution_id,
                    state = %event.state,
                    "no change: a duplicate, or older than what is stored"
                );
                return Ok(Outcome::Duplicate);
            }
            return Ok(Outcome::Stored);
        }
        Err(RecordError::Contention)
    }
}

/// What one batch has learned so far.
#[derive(Default)]
struct BatchState {
    summary: BatchSummary,
    /// Pipelines whose tag lookup failed earlier in this batch: their other records are given
    /// back without calling AWS again.
    failed_lookups: HashSet<String>,
}

/// The registry entry is the authority on which CodePipeline a pipeline id stands for: the
/// `PIPELINE_EVENT_ID` tag can be set by whoever controls a pipeline, but only one pipeline of a
/// name exists per account and region, and the rule only sees this account's pipelines.
fn is_registered_pipeline(event: &ExecutionEvent, registration: &Registration) -> bool {
    event.pipeline_name == registration.pipeline_name
        && pipeline_region(&event.pipeline_arn) == Some(registration.region.as_str())
}

/// `arn:aws:codepipeline:us-east-1:123456789012:payments` → `us-east-1`.
fn pipeline_region(pipeline_arn: &str) -> Option<&str> {
    pipeline_arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// Grows with each attempt, jittered so that concurrent writers of one execution spread out.
fn conflict_backoff(attempt: usize) -> Duration {
    let jitter = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos() % 20))
        .unwrap_or_default();
    Duration::from_millis(10 * attempt as u64 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> ExecutionEvent {
        parse_event(include_str!(
            "../../../events/eventbridge/pipeline-started.json"
        ))
        .unwrap()
    }

    fn registered(pipeline_name: &str, region: &str) -> Registration {
        Registration {
            org_id: "acme".into(),
            pipeline_name: pipeline_name.into(),
            region: region.into(),
        }
    }

    #[test]
    fn only_the_registered_pipeline_in_the_registered_region_counts_for_the_id() {
        let event = started();
        assert_eq!(event.pipeline_name, "payments-service");
        assert!(is_registered_pipeline(
            &event,
            &registered("payments-service", "us-east-1")
        ));
        assert!(!is_registered_pipeline(
            &event,
            &registered("ledger", "us-east-1")
        ));
        assert!(!is_registered_pipeline(
            &event,
            &registered("payments-service", "eu-west-1")
        ));
    }

    #[test]
    fn the_region_is_the_arns_fourth_field() {
        assert_eq!(
            pipeline_region("arn:aws-cn:codepipeline:cn-north-1:123456789012:pay"),
            Some("cn-north-1")
        );
        assert_eq!(pipeline_region("arn:aws:codepipeline::123:pay"), None);
        assert_eq!(pipeline_region("not-an-arn"), None);
    }
}
