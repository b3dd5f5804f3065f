//! The execution state machine.
//!
//! Each stored item (an execution, a stage attempt, an action attempt) is the *merge* of every event
//! that concerns it. The merge is commutative and idempotent: a later attempt beats an earlier one,
//! within an attempt an outcome beats a start, and equal events change nothing. Duplicated and
//! reordered deliveries therefore end in the same state as one in-order delivery.

use std::cmp::Reverse;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dora::{
    deployment_contribution, mark_production, timeline_change, DeploymentTimeline, ProductionMark,
};
use crate::errors::{categorize, ErrorCategory};
use crate::event::{ExecutionEvent, Scope, Trigger};
use crate::histogram::bucket_of;
use crate::rollup::{
    difference, utc_day, utc_minute, Contribution, Counter, Counters, ErrorSample, RollupChange,
};
use crate::scrub::scrub_message;

mod attribution;
mod group;

pub use attribution::{attribute, PluginRef};
pub use group::{plan_group, GroupItems, GroupPlan};

const OUTCOMES: [&str; 6] = [
    "SUCCEEDED",
    "FAILED",
    "CANCELED",
    "SUPERSEDED",
    "STOPPED",
    "ABANDONED",
];

/// Whether a state ends its execution, stage or action. Unknown states never do.
pub fn is_outcome(state: &str) -> bool {
    OUTCOMES.contains(&state)
}

/// Position of a state within one attempt: starts, then anything in between, then outcomes.
fn rank(state: &str) -> u8 {
    match state {
        "STARTED" | "RESUMED" => 1,
        s if is_outcome(s) => 3,
        _ => 2,
    }
}

/// Sortable key of an event's place in its item's history: attempt, rank, time, then the state
/// name so that two different states at the same instant still order deterministically.
pub fn order_key(event: &ExecutionEvent) -> String {
    format!(
        "{:05}|{}|{:015}|{}",
        event.attempt,
        rank(&event.state),
        event.time_ms.max(0),
        event.state
    )
}

/// Who owns the items an event writes; the org always comes from the registry.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub org_id: &'a str,
    pub pipeline_id: &'a str,
    /// How long raw execution items are kept (DynamoDB TTL); rollups are kept forever.
    pub retention_days: i64,
    /// For an action event: the plugin version its step is pinned to in the stored pipeline
    /// definition, when known (see [`attribute`]).
    pub plugin: Option<&'a PluginRef>,
    /// For a stage event: whether the stage deploys to one of the org's production
    /// environments (see [`crate::dora`]).
    pub production_stage: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionError {
    pub category: ErrorCategory,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_url: Option<String>,
}

/// The stage (and, when known, the action) that failed an execution attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub attempt: u32,
    pub time_ms: i64,
    pub stage: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<ActionError>,
}

impl Failure {
    /// Latest attempt first; within it an action failure (more precise) beats a stage failure,
    /// then the earliest one, then names, so the choice never depends on arrival order.
    fn precedence(&self) -> impl Ord + '_ {
        (
            self.attempt,
            self.action.is_some(),
            Reverse(self.time_ms),
            Reverse(&self.stage),
            Reverse(&self.action),
        )
    }
}

/// The commit an execution built, as reported by its Source action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevision {
    pub action: String,
    pub revision: String,
}

/// A stored execution, stage-attempt or action-attempt item.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemState {
    pub org_id: String,
    pub pipeline_id: String,
    pub execution_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub order: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub execution_started_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub started_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub completed_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trigger: Option<Trigger>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_revision: Option<SourceRevision>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failure: Option<Failure>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<ActionError>,
    /// The plugin version an action attempt ran; the first attribution sticks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub plugin: Option<PluginRef>,
    /// [`Completion::fingerprint`] of the last completion that reached the event bus.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub published: Option<String>,
    /// On an execution: its production stages' latest states, by stage.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub production: BTreeMap<String, ProductionMark>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires_at: Option<i64>,
    /// Optimistic-concurrency revision: every write is conditioned on the revision it read.
    #[serde(default)]
    pub rev: u64,
}

/// Which item, besides the execution, an event updates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LevelItem {
    Stage {
        stage: String,
        attempt: u32,
    },
    Action {
        stage: String,
        action: String,
        attempt: u32,
    },
}

pub fn level_item(event: &ExecutionEvent) -> Option<LevelItem> {
    match &event.scope {
        Scope::Pipeline => None,
        Scope::Stage { stage } => Some(LevelItem::Stage {
            stage: stage.clone(),
            attempt: event.attempt,
        }),
        Scope::Action { stage, action, .. } => Some(LevelItem::Action {
            stage: stage.clone(),
            action: action.clone(),
            attempt: event.attempt,
        }),
    }
}

/// The normalized `Execution Completed` event: opaque ids only, never an ARN or account id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub pipeline_id: String,
    pub org_id: String,
    pub execution_id: String,
    pub status: String,
    pub attempt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_category: Option<ErrorCategory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_id: Option<String>,
    /// The order key of the outcome this event reports. The same outcome is published again
    /// only when it has learned more (a failing action or commit that arrived late).
    pub outcome_key: String,
}

impl Completion {
    /// What was published: the outcome and the details known about it.
    pub fn fingerprint(&self) -> String {
        let part = |v: &Option<String>| v.clone().unwrap_or_default();
        format!(
            "{}|{}|{}|{}|{}",
            self.outcome_key,
            part(&self.failed_stage),
            part(&self.failed_action),
            self.error_category.map(|c| c.as_str()).unwrap_or_default(),
            part(&self.commit_id)
        )
    }
}

/// A manual approval that started waiting, for the platform bus (`Approval Waiting`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalWaiting {
    pub org_id: String,
    pub pipeline_id: String,
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    pub attempt: u32,
    /// The same approval always has the same id: receivers dedupe on it.
    pub approval_id: String,
}

/// The approval an event shows starting to wait: an Approval action's STARTED that changed its
/// stored item, which still says STARTED (an approval already decided is not waiting, whatever
/// order its events came in).
pub fn approval_waiting(
    ctx: Context<'_>,
    event: &ExecutionEvent,
    plan: &Plan,
) -> Option<ApprovalWaiting> {
    let Scope::Action {
        stage,
        action,
        action_type,
        ..
    } = &event.scope
    else {
        return None;
    };
    let is_approval = action_type
        .as_ref()
        .and_then(|t| t.category.as_deref())
        .is_some_and(|c| c.eq_ignore_ascii_case("approval"));
    let waiting = plan
        .level
        .as_ref()
        .is_some_and(|item| item.status.as_deref() == Some("STARTED"));
    (is_approval && event.state == "STARTED" && waiting).then(|| ApprovalWaiting {
        org_id: ctx.org_id.to_string(),
        pipeline_id: ctx.pipeline_id.to_string(),
        execution_id: event.execution_id.clone(),
        stage: stage.clone(),
        action: action.clone(),
        attempt: event.attempt,
        approval_id: format!("{}/{stage}/{action}/{}", event.execution_id, event.attempt),
    })
}

/// Everything one event changes: the new items (only those that changed), the rollup deltas that
/// go in the same transaction, and the completion to publish once they are stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub execution: Option<ItemState>,
    pub level: Option<ItemState>,
    pub rollups: Vec<RollupChange>,
    pub completion: Option<Completion>,
    /// The pipeline's deployment timeline, when a production deployment changed it.
    pub timeline: Option<DeploymentTimeline>,
}

impl Plan {
    pub fn writes_anything(&self) -> bool {
        self.execution.is_some()
            || self.level.is_some()
            || !self.rollups.is_empty()
            || self.timeline.is_some()
    }
}

/// Decides what an event changes, given the items as currently stored (`timeline`: the
/// pipeline's deployment timeline, read for production stage events only).
pub fn plan(
    ctx: Context<'_>,
    event: &ExecutionEvent,
    execution: Option<&ItemState>,
    level: Option<&ItemState>,
    timeline: Option<&DeploymentTimeline>,
) -> Plan {
    let old_execution = execution
        .cloned()
        .unwrap_or_else(|| new_item(ctx, event, None));
    let new_execution = merge_into_execution(old_execution.clone(), event, ctx.production_stage);
    let mut rollups = difference(
        &contributions(&old_execution),
        &contributions(&new_execution),
    );
    let timeline =
        timeline_change(timeline, &old_execution, &new_execution).map(|(timeline, restores)| {
            rollups.extend(restores);
            timeline
        });
    let mut changed_level = None;
    if let Some(item) = level_item(event) {
        let old_level = level
            .cloned()
            .unwrap_or_else(|| new_item(ctx, event, Some(&item)));
        let new_level = merge_into_level(old_level.clone(), event, ctx.plugin);
        let mut level_rollups = difference(&contributions(&old_level), &contributions(&new_level));
        annotate(&mut level_rollups, &new_level);
        rollups.extend(level_rollups);
        changed_level = finish_if_changed(ctx, &old_level, new_level, event);
    }
    let completion = completion_due(&new_execution);
    Plan {
        execution: finish_if_changed(ctx, &old_execution, new_execution, event),
        level: changed_level,
        rollups: combine_by_day(rollups),
        completion,
        timeline,
    }
}

fn new_item(ctx: Context<'_>, event: &ExecutionEvent, level: Option<&LevelItem>) -> ItemState {
    let (stage, action, attempt) = match level {
        None => (None, None, None),
        Some(LevelItem::Stage { stage, attempt }) => (Some(stage.clone()), None, Some(*attempt)),
        Some(LevelItem::Action {
            stage,
            action,
            attempt,
        }) => (Some(stage.clone()), Some(action.clone()), Some(*attempt)),
    };
    ItemState {
        org_id: ctx.org_id.to_string(),
        pipeline_id: ctx.pipeline_id.to_string(),
        execution_id: event.execution_id.clone(),
        stage,
        action,
        attempt,
        ..ItemState::default()
    }
}

/// Bumps the revision and extends the TTL of an item that really changed; `None` if it did not.
fn finish_if_changed(
    ctx: Context<'_>,
    old: &ItemState,
    mut new: ItemState,
    event: &ExecutionEvent,
) -> Option<ItemState> {
    if &new == old {
        return None;
    }
    new.rev = old.rev + 1;
    let expiry = event.time_ms / 1000 + ctx.retention_days * 86_400;
    new.expires_at = Some(old.expires_at.map_or(expiry, |e| e.max(expiry)));
    Some(new)
}

/// Takes the event's state if it is newer than the stored one.
fn apply_state(item: &mut ItemState, event: &ExecutionEvent) -> bool {
    let key = order_key(event);
    if item.order.as_ref().is_some_and(|current| *current >= key) {
        return false;
    }
    item.order = Some(key);
    item.status = Some(event.state.clone());
    item.attempt = Some(event.attempt);
    item.completed_at = is_outcome(&event.state).then_some(event.time_ms);
    true
}

fn merge_into_execution(
    mut item: ItemState,
    event: &ExecutionEvent,
    production_stage: bool,
) -> ItemState {
    item.execution_started_at = earliest(item.execution_started_at, event.execution_start_ms);
    if production_stage {
        mark_production(&mut item.production, event);
    }
    match &event.scope {
        Scope::Pipeline => {
            apply_state(&mut item, event);
            if item.trigger.is_none() {
                item.trigger.clone_from(&event.trigger);
            }
        }
        Scope::Stage { stage } if event.state == "FAILED" => {
            item.failure = preferred_failure(item.failure.take(), stage_failure(event, stage));
        }
        Scope::Action { stage, action, .. } if event.state == "FAILED" => {
            let failure = Failure {
                action: Some(action.clone()),
                error: Some(action_error(event)),
                ..stage_failure(event, stage)
            };
            item.failure = preferred_failure(item.failure.take(), failure);
        }
        Scope::Action { action, .. } if event.state == "SUCCEEDED" => {
            item.source_revision = preferred_revision(item.source_revision.take(), event, action);
        }
        _ => {}
    }
    item.duration_ms = match (&item.status, item.execution_started_at, item.completed_at) {
        (Some(status), Some(start), Some(end)) if is_outcome(status) => Some((end - start).max(0)),
        _ => None,
    };
    item
}

fn merge_into_level(
    mut item: ItemState,
    event: &ExecutionEvent,
    plugin: Option<&PluginRef>,
) -> ItemState {
    item.execution_started_at = earliest(item.execution_started_at, event.execution_start_ms);
    if rank(&event.state) == 1 {
        item.started_at = earliest(item.started_at, Some(event.time_ms));
    }
    if let Scope::Action {
        action_type,
        region,
        ..
    } = &event.scope
    {
        let action_type = action_type.as_ref();
        item.action_category = item
            .action_category
            .take()
            .or_else(|| action_type.and_then(|t| t.category.clone()));
        item.action_provider = item
            .action_provider
            .take()
            .or_else(|| action_type.and_then(|t| t.provider.clone()));
        item.action_region = item.action_region.take().or_else(|| region.clone());
        item.plugin = item.plugin.take().or_else(|| plugin.cloned());
    }
    if apply_state(&mut item, event) {
        let failed_action = event.state == "FAILED" && matches!(event.scope, Scope::Action { .. });
        item.error = failed_action.then(|| action_error(event));
    }
    item.duration_ms = match (item.started_at, item.completed_at) {
        (Some(start), Some(end)) => Some((end - start).max(0)),
        _ => None,
    };
    item
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn stage_failure(event: &ExecutionEvent, stage: &str) -> Failure {
    Failure {
        attempt: event.attempt,
        time_ms: event.time_ms,
        stage: stage.to_string(),
        action: None,
        error: None,
    }
}

fn preferred_failure(current: Option<Failure>, candidate: Failure) -> Option<Failure> {
    match current {
        Some(current) if current.precedence() >= candidate.precedence() => Some(current),
        _ => Some(candidate),
    }
}

/// The commit comes from the Source action's result; with several sources the first by name wins.
fn preferred_revision(
    current: Option<SourceRevision>,
    event: &ExecutionEvent,
    action: &str,
) -> Option<SourceRevision> {
    let is_source = match &event.scope {
        Scope::Action { action_type, .. } => action_type
            .as_ref()
            .and_then(|t| t.category.as_deref())
            .is_some_and(|c| c.eq_ignore_ascii_case("source")),
        _ => false,
    };
    let revision = event
        .result
        .as_ref()
        .and_then(|r| r.external_id.clone())
        .filter(|_| is_source);
    match (current, revision) {
        (Some(current), Some(revision)) if action < current.action.as_str() => {
            Some(SourceRevision {
                action: action.to_string(),
                revision,
            })
        }
        (None, Some(revision)) => Some(SourceRevision {
            action: action.to_string(),
            revision,
        }),
        (current, _) => current,
    }
}

fn action_error(event: &ExecutionEvent) -> ActionError {
    let category = match &event.scope {
        Scope::Action { action_type, .. } => {
            action_type.as_ref().and_then(|t| t.category.as_deref())
        }
        _ => None,
    };
    let result = event.result.clone().unwrap_or_default();
    ActionError {
        category: categorize(
            category,
            result.error_code.as_deref(),
            result.summary.as_deref(),
        ),
        code: result.error_code,
        message: result.summary.as_deref().map(scrub_message),
        external_id: result.external_id.as_deref().map(scrub_message),
        external_url: result.external_url.as_deref().map(scrub_message),
    }
}

/// The instant an item's contribution is filed under: the execution's start, else its outcome.
/// The execution history orders by the same instant, so a listing and the reports agree.
pub fn filed_at(item: &ItemState) -> Option<i64> {
    item.execution_started_at.or(item.completed_at)
}

/// Everything an item adds to the rollups in its current state: an execution also counts its
/// production deployment, on the day that deployment ended.
fn contributions(item: &ItemState) -> Vec<Contribution> {
    contribution(item)
        .into_iter()
        .chain(deployment_contribution(item))
        .collect()
}

/// What an item adds to the rollups in its current state, on the day it is filed under.
fn contribution(item: &ItemState) -> Option<Contribution> {
    let status = item.status.as_deref().filter(|s| is_outcome(s))?;
    let filed_at = filed_at(item)?;
    let mut counters = Counters::new();
    match (&item.stage, &item.action) {
        (None, _) => count_execution(&mut counters, item, status, filed_at),
        (Some(stage), None) => count_stage(&mut counters, item, status, stage),
        (Some(stage), Some(action)) => {
            count_action(&mut counters, item, status, &format!("{stage}/{action}"))
        }
    }
    Some(Contribution {
        day: utc_day(filed_at),
        counters,
    })
}

fn add(counters: &mut Counters, counter: Counter<'_>, value: i64) {
    counters.insert(counter.name(), value);
}

/// A duration's count, sum and histogram bucket, when the item has a duration.
fn add_duration<'a>(
    counters: &mut Counters,
    duration_ms: Option<i64>,
    [count, sum]: [Counter<'a>; 2],
    bucket: impl FnOnce(u32) -> Counter<'a>,
) {
    if let Some(duration) = duration_ms {
        add(counters, count, 1);
        add(counters, sum, duration);
        add(counters, bucket(bucket_of(duration)), 1);
    }
}

fn count_execution(counters: &mut Counters, item: &ItemState, status: &str, filed_at: i64) {
    add(counters, Counter::Executions { status }, 1);
    let minute = utc_minute(filed_at);
    add(counters, Counter::StartMinute { minute }, 1);
    add_duration(
        counters,
        item.duration_ms,
        [Counter::DurationCount, Counter::DurationSum],
        |bucket| Counter::DurationBucket { bucket },
    );
}

fn count_stage(counters: &mut Counters, item: &ItemState, status: &str, stage: &str) {
    add(counters, Counter::StageFinished { stage }, 1);
    if status == "FAILED" {
        add(counters, Counter::StageFailed { stage }, 1);
    }
    add_duration(
        counters,
        item.duration_ms,
        [
            Counter::StageDurationCount { stage },
            Counter::StageDurationSum { stage },
        ],
        |bucket| Counter::StageDurationBucket { bucket, stage },
    );
}

/// `action` is `{stage}/{action}`; an attributed attempt also counts for its plugin version.
fn count_action(counters: &mut Counters, item: &ItemState, status: &str, action: &str) {
    let category = failure_category(item).map(ErrorCategory::as_str);
    add(counters, Counter::ActionFinished { action }, 1);
    if let Some(category) = category {
        add(counters, Counter::ActionFailed { action }, 1);
        add(counters, Counter::ErrorCategory { category }, 1);
    }
    add_duration(
        counters,
        item.duration_ms,
        [
            Counter::ActionDurationCount { action },
            Counter::ActionDurationSum { action },
        ],
        |bucket| Counter::ActionDurationBucket { bucket, action },
    );
    let Some(plugin) = item.plugin.as_ref().map(PluginRef::key) else {
        return;
    };
    let plugin = plugin.as_str();
    add(counters, Counter::PluginFinished { plugin }, 1);
    if status == "SUCCEEDED" {
        add(counters, Counter::PluginSucceeded { plugin }, 1);
    }
    if let Some(category) = category {
        add(counters, Counter::PluginFailed { plugin }, 1);
        add(
            counters,
            Counter::PluginErrorCategory { category, plugin },
            1,
        );
    }
    add_duration(
        counters,
        item.duration_ms,
        [
            Counter::PluginDurationCount { plugin },
            Counter::PluginDurationSum { plugin },
        ],
        |bucket| Counter::PluginDurationBucket { bucket, plugin },
    );
}

/// The error category of a failed action attempt; `None` unless it failed.
fn failure_category(item: &ItemState) -> Option<ErrorCategory> {
    (item.status.as_deref() == Some("FAILED")).then(|| {
        item.error
            .as_ref()
            .map_or(ErrorCategory::Other, |e| e.category)
    })
}

/// Adds an action's notes to the change of the day it is counted in, when that change is real:
/// its CodePipeline category and, for a newly counted failure, its message as a recent sample.
/// Duplicates change no counter and therefore set nothing either.
fn annotate(changes: &mut [RollupChange], item: &ItemState) {
    let (Some(stage), Some(action)) = (&item.stage, &item.action) else {
        return;
    };
    let Some(day) = filed_at(item).map(utc_day) else {
        return;
    };
    let Some(change) = changes.iter_mut().find(|c| c.day == day) else {
        return;
    };
    let action = format!("{stage}/{action}");
    if let Some(category) = &item.action_category {
        change
            .action_categories
            .insert(action.clone(), category.clone());
    }
    let newly_failed = change
        .counters
        .get(&Counter::ActionFailed { action: &action }.name())
        .is_some_and(|added| *added > 0);
    let message = item.error.as_ref().and_then(|e| e.message.clone());
    if let (true, Some(category), Some(message)) = (newly_failed, failure_category(item), message) {
        let sample = ErrorSample {
            at: item.completed_at.unwrap_or_default(),
            action,
            message,
        };
        change.samples.insert(category.as_str().to_string(), sample);
    }
}

/// A transaction may touch each rollup item once, so changes for the same day are added up.
fn combine_by_day(changes: Vec<RollupChange>) -> Vec<RollupChange> {
    let mut combined: Vec<RollupChange> = Vec::new();
    for change in changes {
        match combined.iter_mut().find(|c| c.day == change.day) {
            Some(existing) => {
                for (name, value) in change.counters {
                    *existing.counters.entry(name).or_default() += value;
                }
                existing.counters.retain(|_, v| *v != 0);
                existing.samples.extend(change.samples);
                existing.action_categories.extend(change.action_categories);
            }
            None => combined.push(change),
        }
    }
    combined.retain(|c| !c.counters.is_empty());
    combined
}

/// A final execution state is published once it is stored, until that publish is recorded; and
/// again if a late event added a detail (failing stage/action, commit) to the same outcome.
fn completion_due(execution: &ItemState) -> Option<Completion> {
    let completion = completion_of(execution)?;
    (execution.published.as_ref() != Some(&completion.fingerprint())).then_some(completion)
}

fn completion_of(execution: &ItemState) -> Option<Completion> {
    let status = execution.status.as_deref().filter(|s| is_outcome(s))?;
    let outcome_key = execution.order.clone()?;
    let attempt = execution.attempt.unwrap_or(1);
    let failure = execution
        .failure
        .as_ref()
        .filter(|f| status == "FAILED" && f.attempt == attempt);
    Some(Completion {
        pipeline_id: execution.pipeline_id.clone(),
        org_id: execution.org_id.clone(),
        execution_id: execution.execution_id.clone(),
        status: status.to_string(),
        attempt,
        duration_ms: execution.duration_ms,
        failed_stage: failure.map(|f| f.stage.clone()),
        failed_action: failure.and_then(|f| f.action.clone()),
        error_category: failure.and_then(|f| f.error.as_ref().map(|e| e.category)),
        commit_id: execution
            .trigger
            .as_ref()
            .and_then(|t| t.commit_id.clone())
            .or_else(|| {
                execution
                    .source_revision
                    .as_ref()
                    .map(|s| s.revision.clone())
            }),
        outcome_key,
    })
}

#[cfg(test)]
mod tests;
