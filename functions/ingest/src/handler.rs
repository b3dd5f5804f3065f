//! One SQS batch → per-record outcomes → the partial-batch response Lambda expects.
//!
//! Lambda bills wall time, and wall time is round trips, so a batch is processed in steps that
//! each do their AWS calls at once: the pipelines' lookups (one per distinct ARN), then every
//! pipeline's executions, pipelines side by side. Within a pipeline, executions go one after the
//! other, because they add to the same rollup items (and the same deployment timeline), which
//! concurrent transactions would fight over. The events of one execution are planned together:
//! one read of every item they touch, one conditional write of what changed. Completions are
//! published together at the end, and only then marked as published.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
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
use pb_domain::execution::{level_item, plan_group, Completion, Context, ItemState};
use pb_domain::scrub::scrub_message;
use thiserror::Error;
use tracing::Instrument;

use crate::attribution::{Attribution, StepPlugins};
use crate::outcome::Outcome;
use crate::summary::BatchSummary;

/// Concurrent writers on one execution are rare; after this many re-reads the records are
/// retried by SQS instead.
const MAX_CONFLICT_RETRIES: usize = 5;
/// Events of one execution planned and written together at most: their read (≤ 100 keys) and
/// transaction (≤ 100 items, with the rollup facets) stay within DynamoDB's limits.
const MAX_GROUP_EVENTS: usize = 25;
/// Pipelines of one batch processed at once.
const CONCURRENT_PIPELINES: usize = 8;

#[derive(Debug, Clone, Error)]
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
            RecordError::Transient(_) | RecordError::Contention => None,
        }
    }
}

type RecordResult = Result<Outcome, RecordError>;

/// What the lookups found for one CodePipeline.
#[derive(Debug, Clone)]
enum Lookup {
    Untagged,
    Unregistered,
    Registered {
        pipeline_id: String,
        registration: Registration,
    },
}

/// The execution events of one registered pipeline in a batch, by record index.
struct PipelineWork {
    pipeline_id: String,
    org_id: String,
    events: Vec<(usize, ExecutionEvent)>,
}

impl PipelineWork {
    /// The events grouped by execution, in the order each execution first appears, each group
    /// in delivery order and at most [`MAX_GROUP_EVENTS`] long.
    fn groups(&self) -> Vec<Vec<&(usize, ExecutionEvent)>> {
        let mut order: Vec<&str> = Vec::new();
        let mut by_execution: HashMap<&str, Vec<&(usize, ExecutionEvent)>> = HashMap::new();
        for entry in &self.events {
            let id = entry.1.execution_id.as_str();
            if !by_execution.contains_key(id) {
                order.push(id);
            }
            by_execution.entry(id).or_default().push(entry);
        }
        order
            .into_iter()
            .flat_map(|id| {
                let events = by_execution.remove(id).unwrap_or_default();
                events
                    .chunks(MAX_GROUP_EVENTS)
                    .map(<[_]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// An execution's completions to publish once the batch's writes are done, with the records
/// that carried them.
struct Due {
    completions: Vec<Completion>,
    execution: ItemState,
    records: Vec<usize>,
}

/// What processing one pipeline's events produced.
#[derive(Default)]
struct PipelineDone {
    results: Vec<(usize, RecordResult)>,
    due: Vec<Due>,
    summary: BatchSummary,
}

/// What one execution's group of events did.
struct Applied {
    changed: Vec<bool>,
    due: Option<(Vec<Completion>, ItemState)>,
    unattributed: u64,
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

    /// Handles one batch; only the records that must be redelivered are reported.
    pub async fn handle(&self, event: SqsEvent) -> (SqsBatchResponse, BatchSummary) {
        let records = &event.records;
        let mut results: BTreeMap<usize, RecordResult> = BTreeMap::new();
        let mut summary = BatchSummary::default();
        let mut events = Vec::new();
        for (index, record) in records.iter().enumerate() {
            let body = body_of(record);
            if is_stack_event(body) {
                // Boxed: inlined, the two event paths make the handler's future too deep to lay out.
                results.insert(index, Box::pin(self.stack_event(body)).await);
                continue;
            }
            match parse_event(body) {
                Ok(event) => events.push((index, event)),
                Err(error) => {
                    results.insert(index, Err(error.into()));
                }
            }
        }
        let lookups = self
            .look_up(events.iter().map(|(_, e)| e.pipeline_arn.as_str()))
            .await;
        let mut work: BTreeMap<String, PipelineWork> = BTreeMap::new();
        for (index, event) in events {
            let lookup = lookups
                .get(&event.pipeline_arn)
                .cloned()
                .unwrap_or(Ok(Lookup::Untagged));
            match self.route(&event, lookup) {
                Ok((pipeline_id, org_id)) => work
                    .entry(pipeline_id.clone())
                    .or_insert_with(|| PipelineWork {
                        pipeline_id,
                        org_id,
                        events: Vec::new(),
                    })
                    .events
                    .push((index, event)),
                Err(result) => {
                    results.insert(index, result);
                }
            }
        }
        let done: Vec<PipelineDone> = stream::iter(work.values().map(|w| self.process_pipeline(w)))
            .buffer_unordered(CONCURRENT_PIPELINES)
            .collect()
            .await;
        let mut due = Vec::new();
        for pipeline in done {
            results.extend(pipeline.results);
            due.extend(pipeline.due);
            summary.add(&pipeline.summary);
        }
        self.publish(due, &mut results).await;
        let mut response = SqsBatchResponse::default();
        for (index, record) in records.iter().enumerate() {
            // Every record got its result above; were one missing, redelivery is the safe answer.
            let result = results
                .remove(&index)
                .unwrap_or(Err(RecordError::Contention));
            let outcome = self.settle(record, result).await;
            if let Outcome::Retry { .. } = outcome {
                response.add_failure(record.message_id.clone().unwrap_or_default());
            }
            summary.count(&outcome);
        }
        (response, summary)
    }

    /// Tag and registry lookups, once per distinct CodePipeline, all at once.
    async fn look_up<'a>(
        &self,
        arns: impl Iterator<Item = &'a str>,
    ) -> HashMap<String, Result<Lookup, AwsError>> {
        let mut distinct: Vec<&str> = arns.collect();
        distinct.sort_unstable();
        distinct.dedup();
        let found = join_all(distinct.iter().map(|arn| self.look_up_one(arn))).await;
        distinct
            .into_iter()
            .map(str::to_string)
            .zip(found)
            .collect()
    }

    async fn look_up_one(&self, pipeline_arn: &str) -> Result<Lookup, AwsError> {
        let Some(pipeline_id) = self.tags.pipeline_id(pipeline_arn).await? else {
            return Ok(Lookup::Untagged);
        };
        Ok(match self.registry.registration(&pipeline_id).await? {
            None => Lookup::Unregistered,
            Some(registration) => Lookup::Registered {
                pipeline_id,
                registration,
            },
        })
    }

    /// The pipeline and org an event is ingested for; `Err` carries the record's result when it
    /// is not ingested at all.
    fn route(
        &self,
        event: &ExecutionEvent,
        lookup: Result<Lookup, AwsError>,
    ) -> Result<(String, String), RecordResult> {
        match lookup.map_err(|e| Err(e.into()))? {
            Lookup::Untagged => Err(Ok(Outcome::Untagged)),
            Lookup::Unregistered if self.quarantine_unregistered => {
                Err(Err(RecordError::UnregisteredQuarantined))
            }
            Lookup::Unregistered => Err(Ok(Outcome::Unregistered)),
            Lookup::Registered {
                pipeline_id,
                registration,
            } => {
                if !is_registered_pipeline(event, &registration) {
                    return Err(self.mismatched(event, &registration, &pipeline_id));
                }
                Ok((pipeline_id, registration.org_id))
            }
        }
    }

    /// One pipeline's executions, one after the other (they share rollup items).
    async fn process_pipeline(&self, work: &PipelineWork) -> PipelineDone {
        let span =
            tracing::info_span!("pipeline", org = %work.org_id, pipeline_id = %work.pipeline_id);
        async {
            let mut done = PipelineDone::default();
            for group in work.groups() {
                let indexes: Vec<usize> = group.iter().map(|(i, _)| *i).collect();
                let mut conflicts = 0;
                let applied = self
                    .apply_group(&work.org_id, &work.pipeline_id, &group, &mut conflicts)
                    .await;
                done.summary.conflict_retries += conflicts;
                match applied {
                    Ok(applied) => {
                        for (index, changed) in indexes.iter().zip(&applied.changed) {
                            let outcome = if *changed {
                                Outcome::Stored
                            } else {
                                Outcome::Duplicate
                            };
                            done.results.push((*index, Ok(outcome)));
                        }
                        done.summary.unattributed += applied.unattributed;
                        if let Some((completions, execution)) = applied.due {
                            done.due.push(Due {
                                completions,
                                execution,
                                records: indexes,
                            });
                        }
                    }
                    Err(error) => {
                        for index in indexes {
                            done.results.push((index, Err(error.clone())));
                        }
                    }
                }
            }
            done
        }
        .instrument(span)
        .await
    }

    /// Read every item the group touches, plan its events in order, write what changed at once;
    /// on a concurrent change, read again.
    async fn apply_group(
        &self,
        org_id: &str,
        pipeline_id: &str,
        group: &[&(usize, ExecutionEvent)],
        conflicts: &mut u64,
    ) -> Result<Applied, RecordError> {
        let mut facts = Vec::with_capacity(group.len());
        for (_, event) in group {
            let attribution = self.steps.attribute(org_id, pipeline_id, event).await?;
            let production = self
                .steps
                .is_production_stage(org_id, pipeline_id, event)
                .await?;
            facts.push((attribution, production));
        }
        let steps: Vec<(Context<'_>, &ExecutionEvent)> = group
            .iter()
            .zip(&facts)
            .map(|((_, event), (attribution, production_stage))| {
                let ctx = Context {
                    org_id,
                    pipeline_id,
                    retention_days: self.retention_days,
                    plugin: attribution.plugin(),
                    production_stage: *production_stage,
                };
                (ctx, event)
            })
            .collect();
        let with_timeline = facts.iter().any(|(_, production)| *production);
        let execution_id = &group[0].1.execution_id;
        for attempt in 0..MAX_CONFLICT_RETRIES {
            if attempt > 0 {
                *conflicts += 1;
                tokio::time::sleep(conflict_backoff(attempt)).await;
            }
            let read = self
                .store
                .load(
                    pipeline_id,
                    execution_id,
                    group.iter().filter_map(|(_, e)| level_item(e)),
                    with_timeline,
                )
                .await?;
            let plan = plan_group(&steps, &read);
            // Announced before the write: a failed announcement leaves the change unstored, so
            // the redelivered events announce it again (receivers dedupe on the approval id).
            if !plan.approvals.is_empty() {
                self.publisher.approvals_waiting(&plan.approvals).await?;
            }
            match self.store.commit(&plan, &read).await {
                Err(CommitError::Conflict) => continue,
                Err(CommitError::Aws(e)) => return Err(e.into()),
                Ok(()) => {}
            }
            if !plan.writes_anything() {
                tracing::debug!(%execution_id, "no change: duplicates, or older than what is stored");
            }
            let execution = plan.execution.clone().or(read.execution);
            let due = Some(plan.completions).filter(|c| !c.is_empty());
            return Ok(Applied {
                changed: plan.changed,
                due: due.zip(execution),
                unattributed: facts
                    .iter()
                    .filter(|(a, _)| *a == Attribution::NoDefinition)
                    .count() as u64,
            });
        }
        Err(RecordError::Contention)
    }

    /// Publishes the batch's completions together, then marks each execution's last one
    /// published; the records behind one that did not reach the bus, or was not marked, are
    /// redelivered (at least once).
    async fn publish(&self, due: Vec<Due>, results: &mut BTreeMap<usize, RecordResult>) {
        if due.is_empty() {
            return;
        }
        let completions: Vec<Completion> = due.iter().flat_map(|d| d.completions.clone()).collect();
        let mut published = self
            .publisher
            .executions_completed(&completions)
            .await
            .into_iter();
        let outcomes: Vec<Result<(), AwsError>> = due
            .iter()
            .map(|d| published.by_ref().take(d.completions.len()).collect())
            .collect();
        let marks = join_all(due.iter().zip(outcomes).map(|(due, published)| async move {
            published?;
            match due.completions.last() {
                Some(last) => self.store.mark_published(&due.execution, last).await,
                None => Ok(()),
            }
        }))
        .await;
        for (due, marked) in due.iter().zip(marks) {
            if let Err(error) = marked {
                for index in &due.records {
                    results.insert(*index, Err(error.clone().into()));
                }
            }
        }
    }

    /// The record's outcome: acknowledged, quarantined, or given back for redelivery.
    async fn settle(&self, record: &SqsMessage, result: RecordResult) -> Outcome {
        let message_id = record.message_id.as_deref().unwrap_or_default();
        match result {
            Ok(outcome) => outcome,
            Err(error) => match error.quarantine_reason() {
                Some(reason) => {
                    self.quarantine(body_of(record), reason, &error, message_id)
                        .await
                }
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
    ) -> RecordResult {
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
}

fn body_of(record: &SqsMessage) -> &str {
    record.body.as_deref().unwrap_or_default()
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
