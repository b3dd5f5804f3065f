//! Execution reports: outcomes, durations, stage and action failures, error categories.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::query::{Buckets, Interval, ReportRange, Span};
use super::stats::{count, percent, success_rate, DurationStats, DurationTotals};
use super::{counters_of, day_of, epoch_ms_to_rfc3339};
use crate::rollup::{Counter, Rollup};

/// Executions by final status. `total` counts every outcome, including those without a field
/// of their own.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeCounts {
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub canceled: u64,
    pub superseded: u64,
    pub stopped: u64,
    /// succeeded ÷ (succeeded + failed), percent; absent when both are 0.
    pub success_rate: Option<f64>,
}

impl OutcomeCounts {
    fn add(&mut self, status: &str, value: i64) {
        let n = count(value);
        self.total += n;
        match status {
            "SUCCEEDED" => self.succeeded += n,
            "FAILED" => self.failed += n,
            "CANCELED" => self.canceled += n,
            "SUPERSEDED" => self.superseded += n,
            "STOPPED" => self.stopped += n,
            _ => {}
        }
        self.success_rate = success_rate(self.succeeded, self.failed);
    }
}

/// `GET /api/reports/execution/count`, one row per pipeline.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionCountReport {
    pub range: Span,
    /// Most executions first.
    pub pipelines: Vec<PipelineCounts>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineCounts {
    pub pipeline_id: String,
    #[serde(flatten)]
    pub executions: OutcomeCounts,
    /// The UTC minute the range's first counted execution started in (truncated to the minute).
    pub first_execution: Option<String>,
    /// The UTC minute the range's last counted execution started in.
    pub last_execution: Option<String>,
}

pub fn execution_counts(
    rollups: &[Rollup],
    range: &ReportRange,
    limit: usize,
) -> ExecutionCountReport {
    #[derive(Default)]
    struct Row {
        executions: OutcomeCounts,
        first: Option<(NaiveDate, u32)>,
        last: Option<(NaiveDate, u32)>,
    }
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    for (rollup, day) in in_range(rollups, range) {
        let row = rows.entry(&rollup.pipeline_id).or_default();
        for (counter, value) in counters_of(rollup) {
            match counter {
                Counter::Executions { status } => row.executions.add(status, value),
                Counter::StartMinute { minute } if value > 0 => {
                    let at = (day, minute);
                    row.first = Some(row.first.map_or(at, |first| first.min(at)));
                    row.last = Some(row.last.map_or(at, |last| last.max(at)));
                }
                _ => {}
            }
        }
    }
    let mut pipelines: Vec<PipelineCounts> = rows
        .into_iter()
        .filter(|(_, row)| row.executions.total > 0)
        .map(|(pipeline_id, row)| PipelineCounts {
            pipeline_id: pipeline_id.to_string(),
            executions: row.executions,
            first_execution: row.first.map(minute_of_day),
            last_execution: row.last.map(minute_of_day),
        })
        .collect();
    pipelines.sort_by(|a, b| {
        b.executions
            .total
            .cmp(&a.executions.total)
            .then_with(|| a.pipeline_id.cmp(&b.pipeline_id))
    });
    pipelines.truncate(limit);
    ExecutionCountReport {
        range: range.span(),
        pipelines,
    }
}

fn minute_of_day((day, minute): (NaiveDate, u32)) -> String {
    format!(
        "{}T{:02}:{:02}:00Z",
        day.format("%Y-%m-%d"),
        minute / 60,
        minute % 60
    )
}

/// `GET /api/reports/execution/success-rate` (and `/timeline`): the outcome series.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuccessRateReport {
    pub range: Span,
    pub interval: Interval,
    /// The whole range.
    pub overall: OutcomeCounts,
    /// One per interval, in order, clipped to the range; empty for an empty range.
    pub buckets: Vec<SuccessBucket>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuccessBucket {
    #[serde(flatten)]
    pub span: Span,
    #[serde(flatten)]
    pub executions: OutcomeCounts,
}

pub fn success_series(
    rollups: &[Rollup],
    range: &ReportRange,
    interval: Interval,
) -> SuccessRateReport {
    let buckets = range.buckets(interval);
    let mut overall = OutcomeCounts::default();
    let mut series = vec![OutcomeCounts::default(); buckets.len()];
    for (rollup, day) in in_range(rollups, range) {
        let Some(index) = buckets.index_of(day) else {
            continue;
        };
        for (counter, value) in counters_of(rollup) {
            if let Counter::Executions { status } = counter {
                overall.add(status, value);
                series[index].add(status, value);
            }
        }
    }
    SuccessRateReport {
        range: range.span(),
        interval,
        overall,
        buckets: buckets
            .spans()
            .into_iter()
            .zip(series)
            .map(|(span, executions)| SuccessBucket { span, executions })
            .collect(),
    }
}

/// `GET /api/reports/execution/duration`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationReport {
    pub range: Span,
    /// Slowest p95 first; executions whose start was never seen have no duration.
    pub pipelines: Vec<PipelineDuration>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineDuration {
    pub pipeline_id: String,
    #[serde(flatten)]
    pub duration: DurationStats,
}

pub fn execution_durations(
    rollups: &[Rollup],
    range: &ReportRange,
    limit: usize,
) -> DurationReport {
    let mut totals: BTreeMap<&str, DurationTotals> = BTreeMap::new();
    for (rollup, _) in in_range(rollups, range) {
        let pipeline = totals.entry(&rollup.pipeline_id).or_default();
        for (counter, value) in counters_of(rollup) {
            match counter {
                Counter::DurationCount => pipeline.add_count(value),
                Counter::DurationSum => pipeline.add_sum(value),
                Counter::DurationBucket { bucket } => pipeline.add_bucket(bucket, value),
                _ => {}
            }
        }
    }
    let mut pipelines: Vec<PipelineDuration> = totals
        .into_iter()
        .filter_map(|(id, totals)| {
            totals.stats().map(|duration| PipelineDuration {
                pipeline_id: id.to_string(),
                duration,
            })
        })
        .collect();
    pipelines.sort_by(|a, b| {
        b.duration
            .p95_ms
            .cmp(&a.duration.p95_ms)
            .then_with(|| a.pipeline_id.cmp(&b.pipeline_id))
    });
    pipelines.truncate(limit);
    DurationReport {
        range: range.span(),
        pipelines,
    }
}

/// `GET /api/reports/execution/stage-failures`: stage × interval heatmap. Stages of the same
/// name in different pipelines are one row (filter by pipeline for a single pipeline's map).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageFailureReport {
    pub range: Span,
    pub interval: Interval,
    /// The columns: every row's `cells` follow this order.
    pub buckets: Vec<Span>,
    /// Most failures first.
    pub stages: Vec<StageFailureRow>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageFailureRow {
    pub stage: String,
    #[serde(flatten)]
    pub total: FailureCell,
    pub cells: Vec<FailureCell>,
}

/// Failed attempts of everything that finished; a retried stage counts each attempt.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureCell {
    pub failures: u64,
    pub attempts: u64,
    /// failures ÷ attempts, percent; absent when nothing finished.
    pub failure_rate: Option<f64>,
}

impl FailureCell {
    fn add(&mut self, failures: u64, attempts: u64) {
        self.failures += failures;
        self.attempts += attempts;
        self.failure_rate = percent(self.failures, self.attempts);
    }
}

pub fn stage_failures(
    rollups: &[Rollup],
    range: &ReportRange,
    interval: Interval,
    limit: usize,
) -> StageFailureReport {
    let buckets: Buckets = range.buckets(interval);
    let mut rows: BTreeMap<&str, (FailureCell, Vec<FailureCell>)> = BTreeMap::new();
    for (rollup, day) in in_range(rollups, range) {
        let Some(index) = buckets.index_of(day) else {
            continue;
        };
        for (counter, value) in counters_of(rollup) {
            let (stage, failures, attempts) = match counter {
                Counter::StageFinished { stage } => (stage, 0, count(value)),
                Counter::StageFailed { stage } => (stage, count(value), 0),
                _ => continue,
            };
            let (total, cells) = rows.entry(stage).or_insert_with(|| {
                (
                    FailureCell::default(),
                    vec![FailureCell::default(); buckets.len()],
                )
            });
            total.add(failures, attempts);
            cells[index].add(failures, attempts);
        }
    }
    let mut stages: Vec<StageFailureRow> = rows
        .into_iter()
        .map(|(stage, (total, cells))| StageFailureRow {
            stage: stage.to_string(),
            total,
            cells,
        })
        .collect();
    stages.sort_by(|a, b| {
        b.total
            .failures
            .cmp(&a.total.failures)
            .then_with(|| a.stage.cmp(&b.stage))
    });
    stages.truncate(limit);
    StageFailureReport {
        range: range.span(),
        interval,
        buckets: buckets.spans(),
        stages,
    }
}

/// `GET /api/reports/execution/stage-bottlenecks`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageBottleneckReport {
    pub range: Span,
    /// The pipeline whose slowest stage is slowest first.
    pub pipelines: Vec<PipelineBottlenecks>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineBottlenecks {
    pub pipeline_id: String,
    /// Slowest average first.
    pub stages: Vec<StageDuration>,
}

/// One stage's attempt durations (STARTED or RESUMED to the outcome).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageDuration {
    pub stage: String,
    pub count: u64,
    pub avg_ms: u64,
    pub p95_ms: u64,
    pub max_ms: u64,
}

pub fn stage_bottlenecks(
    rollups: &[Rollup],
    range: &ReportRange,
    limit: usize,
) -> StageBottleneckReport {
    let mut totals: BTreeMap<(&str, &str), DurationTotals> = BTreeMap::new();
    for (rollup, _) in in_range(rollups, range) {
        for (counter, value) in counters_of(rollup) {
            let key = |stage| (rollup.pipeline_id.as_str(), stage);
            match counter {
                Counter::StageDurationCount { stage } => {
                    totals.entry(key(stage)).or_default().add_count(value)
                }
                Counter::StageDurationSum { stage } => {
                    totals.entry(key(stage)).or_default().add_sum(value)
                }
                Counter::StageDurationBucket { bucket, stage } => totals
                    .entry(key(stage))
                    .or_default()
                    .add_bucket(bucket, value),
                _ => {}
            }
        }
    }
    let mut by_pipeline: BTreeMap<&str, Vec<StageDuration>> = BTreeMap::new();
    for ((pipeline, stage), totals) in &totals {
        if let Some(stats) = totals.stats() {
            by_pipeline
                .entry(pipeline)
                .or_default()
                .push(StageDuration {
                    stage: stage.to_string(),
                    count: stats.count,
                    avg_ms: stats.avg_ms,
                    p95_ms: stats.p95_ms,
                    max_ms: stats.max_ms,
                });
        }
    }
    let mut pipelines: Vec<PipelineBottlenecks> = by_pipeline
        .into_iter()
        .map(|(pipeline_id, mut stages)| {
            stages.sort_by(|a, b| b.avg_ms.cmp(&a.avg_ms).then_with(|| a.stage.cmp(&b.stage)));
            PipelineBottlenecks {
                pipeline_id: pipeline_id.to_string(),
                stages,
            }
        })
        .collect();
    let slowest = |p: &PipelineBottlenecks| p.stages.first().map_or(0, |s| s.avg_ms);
    pipelines.sort_by(|a, b| {
        slowest(b)
            .cmp(&slowest(a))
            .then_with(|| a.pipeline_id.cmp(&b.pipeline_id))
    });
    pipelines.truncate(limit);
    StageBottleneckReport {
        range: range.span(),
        pipelines,
    }
}

/// `GET /api/reports/execution/action-failures`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionFailureReport {
    pub range: Span,
    /// Most failures first, then the highest failure rate.
    pub actions: Vec<ActionFailureRow>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionFailureRow {
    pub pipeline_id: String,
    pub stage: String,
    pub action: String,
    /// The action's CodePipeline category (`Build`, `Test`, `Deploy`, …), when events named it.
    pub category: Option<String>,
    pub failures: u64,
    /// Attempts that finished, whatever their outcome.
    pub total: u64,
    pub failure_rate: Option<f64>,
}

pub fn action_failures(
    rollups: &[Rollup],
    range: &ReportRange,
    limit: usize,
) -> ActionFailureReport {
    #[derive(Default)]
    struct Row<'a> {
        cell: FailureCell,
        category: Option<&'a str>,
    }
    let mut rows: BTreeMap<(&str, &str), Row> = BTreeMap::new();
    let mut ordered: Vec<(&Rollup, NaiveDate)> = in_range(rollups, range).collect();
    // Later days' notes win, so a category that changed shows its current value.
    ordered.sort_by_key(|(_, day)| *day);
    for (rollup, _) in ordered {
        for (counter, value) in counters_of(rollup) {
            let (action, failures, attempts) = match counter {
                Counter::ActionFinished { action } => (action, 0, count(value)),
                Counter::ActionFailed { action } => (action, count(value), 0),
                _ => continue,
            };
            let row = rows.entry((&rollup.pipeline_id, action)).or_default();
            row.cell.add(failures, attempts);
            if let Some(category) = rollup.action_categories.get(action) {
                row.category = Some(category);
            }
        }
    }
    let mut actions: Vec<ActionFailureRow> = rows
        .into_iter()
        .map(|((pipeline_id, action), row)| {
            let (stage, name) = action.split_once('/').unwrap_or(("", action));
            ActionFailureRow {
                pipeline_id: pipeline_id.to_string(),
                stage: stage.to_string(),
                action: name.to_string(),
                category: row.category.map(str::to_string),
                failures: row.cell.failures,
                total: row.cell.attempts,
                failure_rate: row.cell.failure_rate,
            }
        })
        .collect();
    actions.sort_by(|a, b| {
        b.failures
            .cmp(&a.failures)
            .then_with(|| {
                b.failure_rate
                    .unwrap_or(0.0)
                    .total_cmp(&a.failure_rate.unwrap_or(0.0))
            })
            .then_with(|| {
                (&a.pipeline_id, &a.stage, &a.action).cmp(&(&b.pipeline_id, &b.stage, &b.action))
            })
    });
    actions.truncate(limit);
    ActionFailureReport {
        range: range.span(),
        actions,
    }
}

/// `GET /api/reports/execution/errors`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    pub range: Span,
    /// Failed action attempts in the range, all categories.
    pub failures: u64,
    /// Most frequent first.
    pub categories: Vec<ErrorCategoryRow>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorCategoryRow {
    pub category: String,
    pub count: u64,
    /// Pipelines with at least one failure of this category in the range.
    pub pipelines: u64,
    pub sample: Option<ErrorSampleView>,
}

/// A recent failure's message, scrubbed of ARNs, account ids and secrets at ingest.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorSampleView {
    pub message: String,
    pub pipeline_id: String,
    pub stage: String,
    pub action: String,
    pub at: String,
}

pub fn error_categories(rollups: &[Rollup], range: &ReportRange, limit: usize) -> ErrorReport {
    #[derive(Default)]
    struct Row<'a> {
        count: u64,
        pipelines: std::collections::BTreeSet<&'a str>,
        sample: Option<(&'a crate::rollup::ErrorSample, &'a str)>,
    }
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    for (rollup, _) in in_range(rollups, range) {
        for (counter, value) in counters_of(rollup) {
            let Counter::ErrorCategory { category } = counter else {
                continue;
            };
            if value <= 0 {
                continue;
            }
            let row = rows.entry(category).or_default();
            row.count += count(value);
            row.pipelines.insert(&rollup.pipeline_id);
            if let Some(sample) = rollup.samples.get(category) {
                let newer = row.sample.is_none_or(|(kept, _)| sample.at > kept.at);
                if newer {
                    row.sample = Some((sample, &rollup.pipeline_id));
                }
            }
        }
    }
    let failures = rows.values().map(|row| row.count).sum();
    let mut categories: Vec<ErrorCategoryRow> = rows
        .into_iter()
        .map(|(category, row)| ErrorCategoryRow {
            category: category.to_string(),
            count: row.count,
            pipelines: row.pipelines.len() as u64,
            sample: row.sample.map(|(sample, pipeline_id)| {
                let (stage, action) = sample
                    .action
                    .split_once('/')
                    .unwrap_or(("", &sample.action));
                ErrorSampleView {
                    message: sample.message.clone(),
                    pipeline_id: pipeline_id.to_string(),
                    stage: stage.to_string(),
                    action: action.to_string(),
                    at: epoch_ms_to_rfc3339(sample.at),
                }
            }),
        })
        .collect();
    categories.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.category.cmp(&b.category))
    });
    categories.truncate(limit);
    ErrorReport {
        range: range.span(),
        failures,
        categories,
    }
}

/// The rollups whose day lies in the range, with that day.
pub(super) fn in_range<'a>(
    rollups: &'a [Rollup],
    range: &'a ReportRange,
) -> impl Iterator<Item = (&'a Rollup, NaiveDate)> + 'a {
    rollups
        .iter()
        .filter_map(|rollup| day_of(rollup).map(|day| (rollup, day)))
        .filter(|(_, day)| range.contains(*day))
}
