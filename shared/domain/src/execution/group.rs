//! Several events of one execution planned together: one read of every item they touch, the
//! events merged in delivery order in memory, one write of what changed. The merge is commutative
//! and idempotent, so the result is the one event-by-event processing would store.

use std::collections::BTreeMap;

use super::{
    approval_waiting, combine_by_day, level_item, plan, ApprovalWaiting, Completion, Context,
    ItemState, LevelItem,
};
use crate::dora::DeploymentTimeline;
use crate::event::ExecutionEvent;
use crate::rollup::RollupChange;

/// The items a group starts from, as read (absent ones are simply missing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupItems {
    pub execution: Option<ItemState>,
    pub levels: BTreeMap<LevelItem, ItemState>,
    /// Read when one of the events is a production stage's.
    pub timeline: Option<DeploymentTimeline>,
}

/// Everything a group changes, to be written at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPlan {
    /// The items, as they end, that differ from what was read.
    pub execution: Option<ItemState>,
    pub levels: BTreeMap<LevelItem, ItemState>,
    pub timeline: Option<DeploymentTimeline>,
    /// Summed per day: a transaction may touch each rollup item once.
    pub rollups: Vec<RollupChange>,
    /// Announced before the write, like a single event's.
    pub approvals: Vec<ApprovalWaiting>,
    /// Due once the write is stored, in the order the events reached them: an execution that
    /// failed and was retried to success within one group announces both outcomes, as
    /// event-by-event processing would.
    pub completions: Vec<Completion>,
    /// Per event, in order: whether it changed anything (else it was a duplicate or older).
    pub changed: Vec<bool>,
}

impl GroupPlan {
    pub fn writes_anything(&self) -> bool {
        self.execution.is_some()
            || !self.levels.is_empty()
            || self.timeline.is_some()
            || !self.rollups.is_empty()
    }
}

/// Plans `events` (each with its context) of one execution against `read`.
pub fn plan_group(events: &[(Context<'_>, &ExecutionEvent)], read: &GroupItems) -> GroupPlan {
    let mut current = read.clone();
    let mut group = GroupPlan::default();
    let mut rollups = Vec::new();
    for (ctx, event) in events {
        let level = level_item(event);
        let step = plan(
            *ctx,
            event,
            current.execution.as_ref(),
            level.as_ref().and_then(|l| current.levels.get(l)),
            current.timeline.as_ref(),
        );
        group.approvals.extend(approval_waiting(*ctx, event, &step));
        let announced = group.completions.last().map(Completion::fingerprint);
        if let Some(completion) = step.completion.clone() {
            if announced != Some(completion.fingerprint()) {
                group.completions.push(completion);
            }
        }
        group.changed.push(step.writes_anything());
        rollups.extend(step.rollups);
        if let Some(execution) = step.execution {
            current.execution = Some(execution);
        }
        if let (Some(level), Some(item)) = (level, step.level) {
            current.levels.insert(level, item);
        }
        if let Some(timeline) = step.timeline {
            current.timeline = Some(timeline);
        }
    }
    group.rollups = combine_by_day(rollups);
    group.execution = current
        .execution
        .filter(|e| Some(e) != read.execution.as_ref());
    group.levels = current
        .levels
        .into_iter()
        .filter(|(key, item)| read.levels.get(key) != Some(item))
        .collect();
    group.timeline = current
        .timeline
        .filter(|t| Some(t) != read.timeline.as_ref());
    group
}
