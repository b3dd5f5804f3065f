//! DORA's four keys, counted at ingest into the daily rollups.
//!
//! - A *production stage* is a stage whose `environment` (in the stored pipeline definition) is
//!   one of the org's production environments ([`ProductionEnvironments`]).
//! - A *deployment* is an execution whose production stage reached `SUCCEEDED` or `FAILED`; with
//!   several production stages, it failed if any failed, and succeeded once every one seen has
//!   succeeded. Its end is that outcome's time, and it is filed on that UTC day. The latest attempt
//!   wins: a production stage retried to success is one successful deployment.
//! - Lead time of a successful deployment: its end − the commit's author time when the event
//!   carries one, else − the execution's start.
//! - Time to restore: a run of failed deployments of one pipeline (ordered by end) is one
//!   incident, from the first failure's end to the next successful deployment's end; it is filed
//!   on the day of that success. The incidents come from the pipeline's [`DeploymentTimeline`],
//!   stored beside its executions and written in the same transaction as the counters, so a late
//!   or repeated event moves the incidents it changes and nothing else.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::event::{is_codepipeline_name, ExecutionEvent, Scope};
use crate::execution::{is_outcome, order_key, ItemState};
use crate::histogram::bucket_of;
use crate::rollup::{utc_day, Contribution, Counter, Counters, RollupChange};

/// What an org counts as production until it says otherwise.
pub const DEFAULT_PRODUCTION_ENVIRONMENTS: [&str; 2] = ["production", "prod"];
pub const MAX_PRODUCTION_ENVIRONMENTS: usize = 20;
pub const MAX_ENVIRONMENT_LENGTH: usize = 64;
/// What a stage's `environment` may be in a definition.
pub const ENVIRONMENT_PATTERN: &str = "^[A-Za-z0-9.@_-]{1,64}$";
/// How many deployments a pipeline's timeline keeps: time to restore is exact while the events
/// of a deployment arrive before this many later deployments of the same pipeline have ended.
pub const MAX_TIMELINE_DEPLOYMENTS: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvironmentsError {
    #[error("productionEnvironments needs 1 to {MAX_PRODUCTION_ENVIRONMENTS} entries, not {0}")]
    Count(usize),
    #[error(
        "productionEnvironments[{index}] must be 1-{MAX_ENVIRONMENT_LENGTH} of A-Z a-z 0-9 . @ _ -"
    )]
    Name { index: usize },
}

/// An org's production environment names, compared without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductionEnvironments(Vec<String>);

impl Default for ProductionEnvironments {
    fn default() -> Self {
        ProductionEnvironments(
            DEFAULT_PRODUCTION_ENVIRONMENTS
                .iter()
                .map(|e| e.to_string())
                .collect(),
        )
    }
}

impl ProductionEnvironments {
    /// Checks the count before looking at any name; names are kept lower-cased and once.
    pub fn new(names: Vec<String>) -> Result<Self, EnvironmentsError> {
        if names.is_empty() || names.len() > MAX_PRODUCTION_ENVIRONMENTS {
            return Err(EnvironmentsError::Count(names.len()));
        }
        if let Some(index) = names.iter().position(|n| !is_environment_name(n)) {
            return Err(EnvironmentsError::Name { index });
        }
        let mut lowered: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        lowered.sort();
        lowered.dedup();
        Ok(ProductionEnvironments(lowered))
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }

    pub fn contains(&self, environment: &str) -> bool {
        self.0.iter().any(|e| e.eq_ignore_ascii_case(environment))
    }

    /// The production stages among `(stage, environment)` pairs of a definition.
    pub fn production_stages<'a>(
        &self,
        stages: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Vec<String> {
        stages
            .into_iter()
            .filter(|(_, environment)| environment.is_some_and(|e| self.contains(e)))
            .map(|(stage, _)| stage.to_string())
            .collect()
    }
}

fn is_environment_name(name: &str) -> bool {
    name.len() <= MAX_ENVIRONMENT_LENGTH && is_codepipeline_name(name)
}

/// A production stage's latest state within one execution, merged like the stage items: the
/// newest by [`order_key`] wins, whatever order the events came in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductionMark {
    pub order: String,
    pub status: String,
    pub at: i64,
}

/// Records a production stage's event on its execution.
pub fn mark_production(marks: &mut BTreeMap<String, ProductionMark>, event: &ExecutionEvent) {
    let Scope::Stage { stage } = &event.scope else {
        return;
    };
    let order = order_key(event);
    if marks.get(stage).is_some_and(|mark| mark.order >= order) {
        return;
    }
    marks.insert(
        stage.clone(),
        ProductionMark {
            order,
            status: event.state.clone(),
            at: event.time_ms,
        },
    );
}

/// One deployment: how it ended and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    pub succeeded: bool,
    pub end_ms: i64,
}

impl Deployment {
    fn outcome(self) -> &'static str {
        if self.succeeded {
            "SUCCEEDED"
        } else {
            "FAILED"
        }
    }
}

/// The deployment an execution's production stages add up to, if it is one yet.
pub fn deployment_of(marks: &BTreeMap<String, ProductionMark>) -> Option<Deployment> {
    let latest = |status: &str| {
        marks
            .values()
            .filter(|m| m.status == status)
            .map(|m| m.at)
            .max()
    };
    if let Some(end_ms) = latest("FAILED") {
        return Some(Deployment {
            succeeded: false,
            end_ms,
        });
    }
    if marks.values().any(|m| !is_outcome(&m.status)) {
        return None;
    }
    latest("SUCCEEDED").map(|end_ms| Deployment {
        succeeded: true,
        end_ms,
    })
}

/// What a lead time was measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadBasis {
    Commit,
    Start,
}

impl LeadBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadBasis::Commit => "commit",
            LeadBasis::Start => "start",
        }
    }
}

/// A successful deployment's lead time: from the commit's author time when known (and not after
/// the deployment), else from the execution's start; `None` when neither is known yet.
pub fn lead_time(item: &ItemState, deployment: Deployment) -> Option<(LeadBasis, i64)> {
    if !deployment.succeeded {
        return None;
    }
    let authored = item
        .trigger
        .as_ref()
        .and_then(|t| t.author_time_ms)
        .filter(|t| *t <= deployment.end_ms);
    let (basis, from) = match authored {
        Some(t) => (LeadBasis::Commit, t),
        None => (LeadBasis::Start, item.execution_started_at?),
    };
    Some((basis, (deployment.end_ms - from).max(0)))
}

/// What an execution item adds to the deployments facet, on the day its deployment ended.
pub fn deployment_contribution(item: &ItemState) -> Option<Contribution> {
    let deployment = deployment_of(&item.production)?;
    let mut counters = Counters::new();
    let mut add = |counter: Counter<'_>, value: i64| {
        counters.insert(counter.name(), value);
    };
    add(
        Counter::Deployments {
            outcome: deployment.outcome(),
        },
        1,
    );
    if let Some((basis, lead_ms)) = lead_time(item, deployment) {
        add(Counter::LeadTimeCount, 1);
        add(Counter::LeadTimeSum, lead_ms);
        add(
            Counter::LeadTimeBucket {
                bucket: bucket_of(lead_ms),
            },
            1,
        );
        add(
            Counter::LeadTimeBasis {
                basis: basis.as_str(),
            },
            1,
        );
    }
    Some(Contribution {
        day: utc_day(deployment.end_ms),
        counters,
    })
}

/// A pipeline's deployments ordered by end, for time to restore. Entries are
/// `{endMs:015}#{executionId}#{S|F}`, sorted, at most [`MAX_TIMELINE_DEPLOYMENTS`]; once older
/// ones were dropped, `floor` is the oldest kept, and a change at or before it is not applied
/// (it would need the dropped history).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTimeline {
    #[serde(default)]
    pub entries: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub floor: Option<String>,
    /// Optimistic-concurrency revision, like the execution items'.
    #[serde(default)]
    pub rev: u64,
}

struct Entry<'a> {
    position: &'a str,
    execution_id: &'a str,
    end_ms: i64,
    succeeded: bool,
}

fn parse_entry(entry: &str) -> Option<Entry<'_>> {
    let (position, outcome) = entry.rsplit_once('#')?;
    let (end, execution_id) = position.split_once('#')?;
    Some(Entry {
        position,
        execution_id,
        end_ms: end.parse().ok()?,
        succeeded: outcome == "S",
    })
}

fn position(execution_id: &str, end_ms: i64) -> String {
    format!("{:015}#{execution_id}", end_ms.max(0))
}

/// One incident: restored on `day` after `duration_ms`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Restore {
    pub day: String,
    pub duration_ms: i64,
}

impl DeploymentTimeline {
    fn is_frozen(&self, position: &str) -> bool {
        self.floor.as_deref().is_some_and(|floor| position <= floor)
    }

    /// The timeline with `execution_id`'s entry replaced by `deployment` (or removed); the same
    /// timeline when the change reaches into what was dropped.
    pub fn with(&self, execution_id: &str, deployment: Option<Deployment>) -> DeploymentTimeline {
        let existing = self
            .entries
            .iter()
            .position(|e| parse_entry(e).is_some_and(|e| e.execution_id == execution_id));
        let new_position = deployment.map(|d| position(execution_id, d.end_ms));
        let touches_dropped = existing
            .and_then(|i| parse_entry(&self.entries[i]))
            .is_some_and(|e| self.is_frozen(e.position))
            || new_position.as_deref().is_some_and(|p| self.is_frozen(p));
        if touches_dropped {
            return self.clone();
        }
        let mut updated = self.clone();
        if let Some(i) = existing {
            updated.entries.remove(i);
        }
        if let (Some(deployment), Some(position)) = (deployment, new_position) {
            let marker = if deployment.succeeded { "S" } else { "F" };
            updated.entries.push(format!("{position}#{marker}"));
            updated.entries.sort();
        }
        updated
    }

    /// Keeps the latest [`MAX_TIMELINE_DEPLOYMENTS`], starting at a success where one is in
    /// reach, so every incident that ends in what is kept still starts in it.
    pub fn trimmed(mut self) -> DeploymentTimeline {
        let Some(cut) = self.entries.len().checked_sub(MAX_TIMELINE_DEPLOYMENTS) else {
            return self;
        };
        if cut == 0 {
            return self;
        }
        let start = self.entries[..=cut]
            .iter()
            .rposition(|e| parse_entry(e).is_some_and(|e| e.succeeded))
            .unwrap_or(cut);
        self.entries.drain(..start);
        self.floor = self
            .entries
            .first()
            .and_then(|e| parse_entry(e))
            .map(|e| e.position.to_string());
        self
    }

    /// Every incident the timeline shows, in order.
    pub fn restores(&self) -> Vec<Restore> {
        let mut restores = Vec::new();
        let mut first_failure = None;
        for entry in self.entries.iter().filter_map(|e| parse_entry(e)) {
            match (entry.succeeded, first_failure) {
                (false, None) => first_failure = Some(entry.end_ms),
                (true, Some(failed_at)) => {
                    restores.push(Restore {
                        day: utc_day(entry.end_ms),
                        duration_ms: entry.end_ms - failed_at,
                    });
                    first_failure = None;
                }
                _ => {}
            }
        }
        restores
    }

    fn restore_contributions(&self) -> Vec<Contribution> {
        let mut by_day: BTreeMap<String, Counters> = BTreeMap::new();
        for restore in self.restores() {
            let counters = by_day.entry(restore.day).or_default();
            for (counter, value) in [
                (Counter::RestoreCount, 1),
                (Counter::RestoreSum, restore.duration_ms),
                (
                    Counter::RestoreBucket {
                        bucket: bucket_of(restore.duration_ms),
                    },
                    1,
                ),
            ] {
                *counters.entry(counter.name()).or_default() += value;
            }
        }
        by_day
            .into_iter()
            .map(|(day, counters)| Contribution { day, counters })
            .collect()
    }
}

/// What an execution's change does to its pipeline's timeline: the timeline to store and the
/// time-to-restore counters that move with it. `None` when the deployment did not change.
pub fn timeline_change(
    timeline: Option<&DeploymentTimeline>,
    old: &ItemState,
    new: &ItemState,
) -> Option<(DeploymentTimeline, Vec<RollupChange>)> {
    let deployment = deployment_of(&new.production);
    if deployment_of(&old.production) == deployment {
        return None;
    }
    let base = timeline.cloned().unwrap_or_default();
    let updated = base.with(&new.execution_id, deployment);
    if updated.entries == base.entries {
        return None;
    }
    let changes = crate::rollup::difference(
        &base.restore_contributions(),
        &updated.restore_contributions(),
    );
    let mut stored = updated.trimmed();
    stored.rev = base.rev + 1;
    Some((stored, changes))
}

#[cfg(test)]
mod tests;
