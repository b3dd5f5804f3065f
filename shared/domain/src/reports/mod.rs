//! Reports computed from the daily rollups, never from raw execution items: a report
//! over N days reads N × (pipelines) small items, whatever the number of executions.
//!
//! - Ranges are whole UTC days; series buckets are UTC days, ISO weeks (Monday to Sunday) or
//!   calendar months, clipped to the range, and every response states its range and buckets.
//! - Success % = succeeded ÷ (succeeded + failed); canceled, superseded and stopped executions
//!   are reported beside it, never in the denominator.
//! - Percentiles, minima and maxima come from merged duration histograms (bucket `i` holds
//!   `[1.04^i, 1.04^(i+1))` ms and reports `2·1.04^(i+1)/2.04`): at most 1.96 % from the exact
//!   value. Averages are exact (sum ÷ count).
//! - A rollup counts an execution on the UTC day it started (else the day of its outcome).

mod dora;
mod executions;
mod plugins;
mod query;
mod stats;

#[cfg(test)]
mod tests;

use chrono::{DateTime, NaiveDate, SecondsFormat};

pub use dora::{
    dora, ChangeFailureRate, DeploymentFrequency, DoraBucket, DoraReport, LeadTime, Tier,
    TimeToRestore,
};
pub use executions::{
    action_failures, error_categories, execution_counts, execution_durations, stage_bottlenecks,
    stage_failures, success_series, ActionFailureReport, ActionFailureRow, DurationReport,
    ErrorCategoryRow, ErrorReport, ErrorSampleView, ExecutionCountReport, FailureCell,
    OutcomeCounts, PipelineBottlenecks, PipelineCounts, PipelineDuration, StageBottleneckReport,
    StageDuration, StageFailureReport, StageFailureRow, SuccessBucket, SuccessRateReport,
};
pub use plugins::{
    build_durations, build_failures, build_success, plugin_distribution, plugin_summary,
    plugin_versions, BuildDurationReport, BuildFailureReport, BuildSuccessReport, CategoryCount,
    PluginDistributionReport, PluginDurationRow, PluginFailureRow, PluginSuccessRow,
    PluginSummaryReport, PluginVersionsReport, PluginVersionsRow, RunCounts, StepDuration,
    VersionDuration, VersionRuns,
};
pub use query::{
    midnight, parse_limit, parse_window, Buckets, Interval, ParamError, ReportRange, Span,
    DATE_OR_INSTANT_PATTERN, DEFAULT_LIMIT, DEFAULT_RANGE_DAYS, INSTANT_PATTERN, MAX_LIMIT,
    MAX_RANGE_DAYS,
};
pub use stats::{percent, success_rate, DurationStats};

use crate::rollup::{Counter, Rollup};

/// A rollup's counters by meaning; attributes of other kinds are skipped.
fn counters_of(rollup: &Rollup) -> impl Iterator<Item = (Counter<'_>, i64)> {
    rollup
        .counters
        .iter()
        .filter_map(|(name, value)| Counter::parse(name).map(|counter| (counter, *value)))
}

/// The UTC day a rollup item counts; `None` only for a corrupt item.
fn day_of(rollup: &Rollup) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&rollup.day, "%Y-%m-%d").ok()
}

fn epoch_ms_to_rfc3339(epoch_ms: i64) -> String {
    DateTime::from_timestamp_millis(epoch_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}
