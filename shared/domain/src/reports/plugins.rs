//! Plugin reports: the org's catalog (inventory, distribution, versions) and how the plugin
//! versions its pipelines' steps were pinned to fared (from the per-plugin rollup counters).

use std::collections::BTreeMap;

use semver::Version;
use serde::Serialize;

use super::counters_of;
use super::executions::in_range;
use super::query::{Interval, ReportRange, Span};
use super::stats::{count, percent, success_rate, DurationTotals};
use crate::execution::PluginRef;
use crate::plugin::{AccessModifier, PluginSpec};
use crate::rollup::{Counter, Rollup};

/// `GET /api/reports/plugins/summary`: the org's own plugins, each judged by its latest version.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSummaryReport {
    /// Distinct plugin names.
    pub plugins: u64,
    /// Published versions of all of them.
    pub versions: u64,
    /// Plugins with at least one active version (lookup can resolve them).
    pub active: u64,
    pub inactive: u64,
    /// By the latest version's access modifier.
    pub public: u64,
    pub private: u64,
    /// Plugins by the latest version's category.
    pub by_category: BTreeMap<String, u64>,
}

/// `GET /api/reports/plugins/distribution`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginDistributionReport {
    pub plugins: u64,
    /// Plugins by the latest version's type.
    pub by_plugin_type: BTreeMap<String, u64>,
    /// Plugins that run a build, by the latest version's compute type (approval steps run none).
    pub by_compute_type: BTreeMap<String, u64>,
}

/// `GET /api/reports/plugins/versions`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginVersionsReport {
    /// Distinct plugin names, before `limit`.
    pub total: u64,
    /// By name.
    pub plugins: Vec<PluginVersionsRow>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginVersionsRow {
    pub name: String,
    /// What `latest` resolves to: the highest active release, else the highest version.
    pub latest: String,
    pub active_versions: u64,
    /// Highest first, by semver precedence.
    pub versions: Vec<String>,
}

/// Every version of each plugin name, highest first; a version that does not parse sorts last.
fn by_name(specs: &[PluginSpec]) -> BTreeMap<&str, Vec<&PluginSpec>> {
    let mut names: BTreeMap<&str, Vec<&PluginSpec>> = BTreeMap::new();
    for spec in specs {
        names.entry(&spec.name).or_default().push(spec);
    }
    for versions in names.values_mut() {
        versions.sort_by_key(|spec| std::cmp::Reverse(parsed(spec)));
    }
    names
}

fn parsed(spec: &PluginSpec) -> Option<Version> {
    Version::parse(&spec.version).ok()
}

/// The version `latest` resolves to: the highest active release, else the highest of all.
fn latest<'a>(versions: &[&'a PluginSpec]) -> Option<&'a PluginSpec> {
    versions
        .iter()
        .find(|spec| spec.active && parsed(spec).is_some_and(|v| v.pre.is_empty()))
        .or_else(|| versions.first())
        .copied()
}

/// How an enum serializes (`CodeBuildStep`, `MEDIUM`), for counting by it.
fn label<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn plugin_summary(specs: &[PluginSpec]) -> PluginSummaryReport {
    let names = by_name(specs);
    let mut report = PluginSummaryReport {
        plugins: names.len() as u64,
        versions: specs.len() as u64,
        active: 0,
        inactive: 0,
        public: 0,
        private: 0,
        by_category: BTreeMap::new(),
    };
    for versions in names.values() {
        if versions.iter().any(|spec| spec.active) {
            report.active += 1;
        } else {
            report.inactive += 1;
        }
        let Some(latest) = latest(versions) else {
            continue;
        };
        match latest.access_modifier {
            AccessModifier::Public => report.public += 1,
            AccessModifier::Private => report.private += 1,
        }
        *report
            .by_category
            .entry(latest.category.clone())
            .or_default() += 1;
    }
    report
}

pub fn plugin_distribution(specs: &[PluginSpec]) -> PluginDistributionReport {
    let names = by_name(specs);
    let mut report = PluginDistributionReport {
        plugins: names.len() as u64,
        by_plugin_type: BTreeMap::new(),
        by_compute_type: BTreeMap::new(),
    };
    for latest in names.values().filter_map(|versions| latest(versions)) {
        *report
            .by_plugin_type
            .entry(label(&latest.plugin_type))
            .or_default() += 1;
        if latest.plugin_type.runs_commands() {
            *report
                .by_compute_type
                .entry(label(&latest.compute_type))
                .or_default() += 1;
        }
    }
    report
}

pub fn plugin_versions(specs: &[PluginSpec], limit: usize) -> PluginVersionsReport {
    let names = by_name(specs);
    let total = names.len() as u64;
    let plugins = names
        .into_iter()
        .take(limit)
        .filter_map(|(name, versions)| {
            let latest = latest(&versions)?;
            Some(PluginVersionsRow {
                name: name.to_string(),
                latest: latest.version.clone(),
                active_versions: versions.iter().filter(|spec| spec.active).count() as u64,
                versions: versions.iter().map(|spec| spec.version.clone()).collect(),
            })
        })
        .collect();
    PluginVersionsReport { total, plugins }
}

/// Step runs of a plugin: every finished action attempt its steps made.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCounts {
    pub runs: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Canceled, abandoned or stopped runs: neither a success nor a failure.
    pub other: u64,
    /// succeeded ÷ (succeeded + failed), percent.
    pub success_rate: Option<f64>,
}

impl RunCounts {
    fn add(&mut self, other: &RunCounts) {
        self.runs += other.runs;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.settle();
    }

    fn settle(&mut self) {
        self.other = self.runs.saturating_sub(self.succeeded + self.failed);
        self.success_rate = success_rate(self.succeeded, self.failed);
    }
}

/// `GET /api/reports/plugins/build-success-rate`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildSuccessReport {
    pub range: Span,
    pub interval: Interval,
    /// The columns of every plugin's `buckets`.
    pub buckets: Vec<Span>,
    /// Most runs first.
    pub plugins: Vec<PluginSuccessRow>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSuccessRow {
    pub plugin: String,
    #[serde(flatten)]
    pub total: RunCounts,
    /// One per interval bucket.
    pub buckets: Vec<RunCounts>,
    /// The whole range per pinned version, highest first.
    pub versions: Vec<VersionRuns>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionRuns {
    pub version: String,
    #[serde(flatten)]
    pub runs: RunCounts,
}

pub fn build_success(
    rollups: &[Rollup],
    range: &ReportRange,
    interval: Interval,
    limit: usize,
) -> BuildSuccessReport {
    let buckets = range.buckets(interval);
    // Per plugin version, per bucket.
    let mut cells: BTreeMap<&str, Vec<RunCounts>> = BTreeMap::new();
    for (rollup, day) in in_range(rollups, range) {
        let Some(index) = buckets.index_of(day) else {
            continue;
        };
        for (counter, value) in counters_of(rollup) {
            let n = count(value);
            let (plugin, runs, succeeded, failed) = match counter {
                Counter::PluginFinished { plugin } => (plugin, n, 0, 0),
                Counter::PluginSucceeded { plugin } => (plugin, 0, n, 0),
                Counter::PluginFailed { plugin } => (plugin, 0, 0, n),
                _ => continue,
            };
            let series = cells
                .entry(plugin)
                .or_insert_with(|| vec![RunCounts::default(); buckets.len()]);
            let cell = &mut series[index];
            cell.runs += runs;
            cell.succeeded += succeeded;
            cell.failed += failed;
        }
    }
    let mut plugins: BTreeMap<String, PluginSuccessRow> = BTreeMap::new();
    for (key, mut series) in cells {
        series.iter_mut().for_each(RunCounts::settle);
        let Some(plugin) = PluginRef::from_key(key) else {
            continue;
        };
        let mut version_total = RunCounts::default();
        series.iter().for_each(|cell| version_total.add(cell));
        let row = plugins
            .entry(plugin.name.clone())
            .or_insert_with(|| PluginSuccessRow {
                plugin: plugin.name.clone(),
                total: RunCounts::default(),
                buckets: vec![RunCounts::default(); buckets.len()],
                versions: Vec::new(),
            });
        row.total.add(&version_total);
        row.buckets
            .iter_mut()
            .zip(&series)
            .for_each(|(cell, version_cell)| cell.add(version_cell));
        row.versions.push(VersionRuns {
            version: plugin.version,
            runs: version_total,
        });
    }
    let mut plugins: Vec<PluginSuccessRow> = plugins.into_values().collect();
    for row in &mut plugins {
        row.versions
            .sort_by_key(|v| std::cmp::Reverse(Version::parse(&v.version).ok()));
    }
    plugins.sort_by(|a, b| {
        b.total
            .runs
            .cmp(&a.total.runs)
            .then_with(|| a.plugin.cmp(&b.plugin))
    });
    plugins.truncate(limit);
    BuildSuccessReport {
        range: range.span(),
        interval,
        buckets: buckets.spans(),
        plugins,
    }
}

/// `GET /api/reports/plugins/build-duration`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDurationReport {
    pub range: Span,
    /// Slowest p95 first.
    pub plugins: Vec<PluginDurationRow>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginDurationRow {
    pub plugin: String,
    #[serde(flatten)]
    pub duration: StepDuration,
    /// Highest version first.
    pub versions: Vec<VersionDuration>,
}

/// Step (action attempt) durations, STARTED to outcome.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepDuration {
    pub count: u64,
    pub avg_ms: u64,
    pub p95_ms: u64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionDuration {
    pub version: String,
    #[serde(flatten)]
    pub duration: StepDuration,
}

pub fn build_durations(
    rollups: &[Rollup],
    range: &ReportRange,
    limit: usize,
) -> BuildDurationReport {
    let mut versions: BTreeMap<&str, DurationTotals> = BTreeMap::new();
    for (rollup, _) in in_range(rollups, range) {
        for (counter, value) in counters_of(rollup) {
            match counter {
                Counter::PluginDurationCount { plugin } => {
                    versions.entry(plugin).or_default().add_count(value)
                }
                Counter::PluginDurationSum { plugin } => {
                    versions.entry(plugin).or_default().add_sum(value)
                }
                Counter::PluginDurationBucket { bucket, plugin } => versions
                    .entry(plugin)
                    .or_default()
                    .add_bucket(bucket, value),
                _ => {}
            }
        }
    }
    let mut plugins: BTreeMap<String, (DurationTotals, Vec<VersionDuration>)> = BTreeMap::new();
    for (key, totals) in versions {
        let (Some(plugin), Some(stats)) = (PluginRef::from_key(key), totals.stats()) else {
            continue;
        };
        let (all, rows) = plugins.entry(plugin.name).or_default();
        all.merge(&totals);
        rows.push(VersionDuration {
            version: plugin.version,
            duration: step_duration(stats),
        });
    }
    let mut plugins: Vec<PluginDurationRow> = plugins
        .into_iter()
        .filter_map(|(plugin, (all, mut versions))| {
            versions.sort_by_key(|v| std::cmp::Reverse(Version::parse(&v.version).ok()));
            Some(PluginDurationRow {
                plugin,
                duration: step_duration(all.stats()?),
                versions,
            })
        })
        .collect();
    plugins.sort_by(|a, b| {
        b.duration
            .p95_ms
            .cmp(&a.duration.p95_ms)
            .then_with(|| a.plugin.cmp(&b.plugin))
    });
    plugins.truncate(limit);
    BuildDurationReport {
        range: range.span(),
        plugins,
    }
}

#[derive(Default)]
struct FailureTotals {
    failures: u64,
    runs: u64,
    categories: BTreeMap<String, u64>,
}

/// The row of the plugin a counter's `{name}@{version}` names; versions add up per name.
fn failure_row<'m>(
    rows: &'m mut BTreeMap<String, FailureTotals>,
    plugin_key: &str,
) -> Option<&'m mut FailureTotals> {
    let plugin = PluginRef::from_key(plugin_key)?;
    Some(rows.entry(plugin.name).or_default())
}

fn step_duration(stats: super::stats::DurationStats) -> StepDuration {
    StepDuration {
        count: stats.count,
        avg_ms: stats.avg_ms,
        p95_ms: stats.p95_ms,
    }
}

/// `GET /api/reports/plugins/build-failures`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildFailureReport {
    pub range: Span,
    /// Most failures first; plugins that ran without failing are listed too.
    pub plugins: Vec<PluginFailureRow>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginFailureRow {
    pub plugin: String,
    pub failures: u64,
    pub runs: u64,
    pub failure_rate: Option<f64>,
    /// Most frequent first.
    pub categories: Vec<CategoryCount>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryCount {
    pub category: String,
    pub count: u64,
}

pub fn build_failures(rollups: &[Rollup], range: &ReportRange, limit: usize) -> BuildFailureReport {
    let mut rows: BTreeMap<String, FailureTotals> = BTreeMap::new();
    for (rollup, _) in in_range(rollups, range) {
        for (counter, value) in counters_of(rollup) {
            let n = count(value);
            match counter {
                Counter::PluginFinished { plugin } => {
                    if let Some(row) = failure_row(&mut rows, plugin) {
                        row.runs += n;
                    }
                }
                Counter::PluginFailed { plugin } => {
                    if let Some(row) = failure_row(&mut rows, plugin) {
                        row.failures += n;
                    }
                }
                Counter::PluginErrorCategory { category, plugin } => {
                    if let Some(row) = failure_row(&mut rows, plugin) {
                        *row.categories.entry(category.to_string()).or_default() += n;
                    }
                }
                _ => {}
            }
        }
    }
    let mut plugins: Vec<PluginFailureRow> = rows
        .into_iter()
        .map(|(plugin, row)| {
            let mut categories: Vec<CategoryCount> = row
                .categories
                .into_iter()
                .filter(|(_, count)| *count > 0)
                .map(|(category, count)| CategoryCount { category, count })
                .collect();
            categories.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then_with(|| a.category.cmp(&b.category))
            });
            PluginFailureRow {
                plugin,
                failures: row.failures,
                runs: row.runs,
                failure_rate: percent(row.failures, row.runs),
                categories,
            }
        })
        .collect();
    plugins.sort_by(|a, b| {
        b.failures
            .cmp(&a.failures)
            .then_with(|| a.plugin.cmp(&b.plugin))
    });
    plugins.truncate(limit);
    BuildFailureReport {
        range: range.span(),
        plugins,
    }
}
