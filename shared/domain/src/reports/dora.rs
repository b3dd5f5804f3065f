//! `GET /api/reports/dora`: the four keys from the deployments facet (see [`crate::dora`] for
//! what counts), with each one's performance tier.
//!
//! Tiers follow the software delivery performance levels of the 2024 Accelerate State of DevOps
//! report (DORA): deployment frequency elite at least daily ("on demand"), high at least weekly,
//! medium at least monthly; lead time for changes elite under a day, high up to a week, medium up
//! to a month; failed deployment recovery time elite under an hour, high under a day, medium up
//! to a week. The report's change failure rates per level (5 %, 20 %, 10 %, 40 %) are not ordered,
//! so a rate takes the level whose rate is nearest, the better level on a tie.

use serde::Serialize;

use super::counters_of;
use super::executions::in_range;
use super::query::{Buckets, Interval, ReportRange, Span};
use super::stats::{count, percent, DurationTotals};
use crate::rollup::{Counter, Rollup};

const HOUR_MS: f64 = 3_600_000.0;
const DAY_MS: f64 = 24.0 * HOUR_MS;

/// A DORA performance level.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Elite,
    High,
    Medium,
    Low,
}

impl Tier {
    /// From successful deployments per day.
    pub fn of_frequency(per_day: f64) -> Tier {
        match per_day {
            f if f >= 1.0 => Tier::Elite,
            f if f >= 1.0 / 7.0 => Tier::High,
            f if f >= 1.0 / 30.0 => Tier::Medium,
            _ => Tier::Low,
        }
    }

    /// From the median lead time.
    pub fn of_lead_time(p50_ms: u64) -> Tier {
        match p50_ms as f64 {
            ms if ms < DAY_MS => Tier::Elite,
            ms if ms <= 7.0 * DAY_MS => Tier::High,
            ms if ms <= 30.0 * DAY_MS => Tier::Medium,
            _ => Tier::Low,
        }
    }

    /// From the change failure rate in percent: the level whose rate is nearest.
    pub fn of_failure_rate(percent: f64) -> Tier {
        [
            (Tier::Elite, 5.0),
            (Tier::Medium, 10.0),
            (Tier::High, 20.0),
            (Tier::Low, 40.0),
        ]
        .into_iter()
        .min_by(|(a, ra), (b, rb)| {
            let (da, db) = ((percent - ra).abs(), (percent - rb).abs());
            da.total_cmp(&db).then((*a as u8).cmp(&(*b as u8)))
        })
        .map_or(Tier::Low, |(tier, _)| tier)
    }

    /// From the median time to restore.
    pub fn of_restore(p50_ms: u64) -> Tier {
        match p50_ms as f64 {
            ms if ms < HOUR_MS => Tier::Elite,
            ms if ms < DAY_MS => Tier::High,
            ms if ms <= 7.0 * DAY_MS => Tier::Medium,
            _ => Tier::Low,
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoraReport {
    pub range: Span,
    pub interval: Interval,
    pub deployment_frequency: DeploymentFrequency,
    pub change_failure_rate: ChangeFailureRate,
    pub lead_time: LeadTime,
    pub time_to_restore: TimeToRestore,
    /// One per interval, in order, clipped to the range.
    pub buckets: Vec<DoraBucket>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentFrequency {
    /// Successful production deployments in the range.
    pub deployments: u64,
    pub per_day: f64,
    pub per_week: f64,
    /// Absent when the range holds no deployment at all.
    pub tier: Option<Tier>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeFailureRate {
    /// Production deployments, successful and failed.
    pub deployments: u64,
    pub failed: u64,
    /// failed ÷ deployments, percent; absent without deployments.
    pub percent: Option<f64>,
    pub tier: Option<Tier>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadTime {
    /// Successful deployments with a lead time.
    pub count: u64,
    /// From the merged histogram: at most 1.96 % from the exact value.
    pub p50_ms: Option<u64>,
    pub p90_ms: Option<u64>,
    /// Measured from the commit's author time.
    pub from_commit: u64,
    /// Measured from the execution's start (no author time on the event).
    pub from_start: u64,
    pub tier: Option<Tier>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeToRestore {
    /// Incidents restored in the range.
    pub count: u64,
    pub p50_ms: Option<u64>,
    pub p90_ms: Option<u64>,
    pub tier: Option<Tier>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoraBucket {
    #[serde(flatten)]
    pub span: Span,
    pub succeeded: u64,
    pub failed: u64,
    pub change_failure_rate: Option<f64>,
    pub lead_time_p50_ms: Option<u64>,
    pub lead_time_p90_ms: Option<u64>,
    pub restore_p50_ms: Option<u64>,
    pub restore_p90_ms: Option<u64>,
}

/// The counters of some days added up.
#[derive(Debug, Clone, Default)]
struct Totals {
    succeeded: u64,
    failed: u64,
    lead: DurationTotals,
    from_commit: u64,
    from_start: u64,
    restore: DurationTotals,
}

impl Totals {
    fn add(&mut self, counter: Counter<'_>, value: i64) {
        match counter {
            Counter::Deployments {
                outcome: "SUCCEEDED",
            } => self.succeeded += count(value),
            Counter::Deployments { outcome: "FAILED" } => self.failed += count(value),
            Counter::LeadTimeCount => self.lead.add_count(value),
            Counter::LeadTimeSum => self.lead.add_sum(value),
            Counter::LeadTimeBucket { bucket } => self.lead.add_bucket(bucket, value),
            Counter::LeadTimeBasis { basis: "commit" } => self.from_commit += count(value),
            Counter::LeadTimeBasis { basis: "start" } => self.from_start += count(value),
            Counter::RestoreCount => self.restore.add_count(value),
            Counter::RestoreSum => self.restore.add_sum(value),
            Counter::RestoreBucket { bucket } => self.restore.add_bucket(bucket, value),
            _ => {}
        }
    }

    fn deployments(&self) -> u64 {
        self.succeeded + self.failed
    }

    fn failure_rate(&self) -> Option<f64> {
        percent(self.failed, self.deployments())
    }
}

fn percentiles(totals: &DurationTotals) -> (Option<u64>, Option<u64>) {
    let stats = totals.stats();
    (stats.map(|s| s.p50_ms), stats.map(|s| s.p90_ms))
}

pub fn dora(rollups: &[Rollup], range: &ReportRange, interval: Interval) -> DoraReport {
    let buckets = range.buckets(interval);
    let mut overall = Totals::default();
    let mut series = vec![Totals::default(); buckets.len()];
    for (rollup, day) in in_range(rollups, range) {
        let index = buckets.index_of(day);
        for (counter, value) in counters_of(rollup) {
            overall.add(counter, value);
            if let Some(i) = index {
                series[i].add(counter, value);
            }
        }
    }
    DoraReport {
        range: range.span(),
        interval,
        deployment_frequency: frequency(&overall, range),
        change_failure_rate: ChangeFailureRate {
            deployments: overall.deployments(),
            failed: overall.failed,
            percent: overall.failure_rate(),
            tier: overall.failure_rate().map(Tier::of_failure_rate),
        },
        lead_time: lead_time(&overall),
        time_to_restore: time_to_restore(&overall),
        buckets: bucket_rows(&buckets, series),
    }
}

fn frequency(totals: &Totals, range: &ReportRange) -> DeploymentFrequency {
    let days = range.len_days().max(1) as f64;
    let per_day = totals.succeeded as f64 / days;
    let round = |v: f64| (v * 1_000.0).round() / 1_000.0;
    DeploymentFrequency {
        deployments: totals.succeeded,
        per_day: round(per_day),
        per_week: round(per_day * 7.0),
        tier: (totals.deployments() > 0).then(|| Tier::of_frequency(per_day)),
    }
}

fn lead_time(totals: &Totals) -> LeadTime {
    let (p50_ms, p90_ms) = percentiles(&totals.lead);
    LeadTime {
        count: totals.from_commit + totals.from_start,
        p50_ms,
        p90_ms,
        from_commit: totals.from_commit,
        from_start: totals.from_start,
        tier: p50_ms.map(Tier::of_lead_time),
    }
}

fn time_to_restore(totals: &Totals) -> TimeToRestore {
    let (p50_ms, p90_ms) = percentiles(&totals.restore);
    TimeToRestore {
        count: totals.restore.stats().map_or(0, |s| s.count),
        p50_ms,
        p90_ms,
        tier: p50_ms.map(Tier::of_restore),
    }
}

fn bucket_rows(buckets: &Buckets, series: Vec<Totals>) -> Vec<DoraBucket> {
    buckets
        .spans()
        .into_iter()
        .zip(series)
        .map(|(span, totals)| {
            let (lead_time_p50_ms, lead_time_p90_ms) = percentiles(&totals.lead);
            let (restore_p50_ms, restore_p90_ms) = percentiles(&totals.restore);
            DoraBucket {
                span,
                succeeded: totals.succeeded,
                failed: totals.failed,
                change_failure_rate: totals.failure_rate(),
                lead_time_p50_ms,
                lead_time_p90_ms,
                restore_p50_ms,
                restore_p90_ms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::histogram::bucket_of;

    fn rollup(day: &str, pipeline: &str, counters: &[(Counter<'_>, i64)]) -> Rollup {
        Rollup {
            day: day.into(),
            pipeline_id: pipeline.into(),
            counters: counters.iter().map(|(c, v)| (c.name(), *v)).collect(),
            ..Rollup::default()
        }
    }

    fn november(from: u32, to: u32) -> ReportRange {
        ReportRange {
            from: NaiveDate::from_ymd_opt(2026, 11, from).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 11, to).unwrap(),
        }
    }

    fn lead(ms: i64, basis: &'static str) -> Vec<(Counter<'static>, i64)> {
        vec![
            (Counter::LeadTimeCount, 1),
            (Counter::LeadTimeSum, ms),
            (
                Counter::LeadTimeBucket {
                    bucket: bucket_of(ms),
                },
                1,
            ),
            (Counter::LeadTimeBasis { basis }, 1),
        ]
    }

    #[test]
    fn the_four_keys_add_up_across_pipelines_and_days_with_their_tiers() {
        let hour = 3_600_000;
        let mut day2 = vec![
            (
                Counter::Deployments {
                    outcome: "SUCCEEDED",
                },
                2,
            ),
            (Counter::Deployments { outcome: "FAILED" }, 1),
            (Counter::RestoreCount, 1),
            (Counter::RestoreSum, 30 * 60_000),
            (
                Counter::RestoreBucket {
                    bucket: bucket_of(30 * 60_000),
                },
                1,
            ),
        ];
        day2.extend(lead(2 * hour, "commit"));
        let mut day9 = vec![(
            Counter::Deployments {
                outcome: "SUCCEEDED",
            },
            1,
        )];
        day9.extend(lead(30 * hour, "start"));
        let rollups = [
            rollup("2026-11-02", "pl-a", &day2),
            rollup("2026-11-09", "pl-b", &day9),
            rollup(
                "2026-10-31",
                "pl-a",
                &[(Counter::Deployments { outcome: "FAILED" }, 5)],
            ),
        ];
        let report = dora(&rollups, &november(1, 15), Interval::Week);
        assert_eq!(report.deployment_frequency.deployments, 3);
        assert_eq!(report.deployment_frequency.per_week, 1.5);
        assert_eq!(report.deployment_frequency.tier, Some(Tier::High));
        assert_eq!(report.change_failure_rate.deployments, 4);
        assert_eq!(report.change_failure_rate.percent, Some(25.0));
        assert_eq!(report.change_failure_rate.tier, Some(Tier::High));
        assert_eq!(
            (report.lead_time.from_commit, report.lead_time.from_start),
            (1, 1)
        );
        let p90 = report.lead_time.p90_ms.unwrap() as f64;
        assert!((p90 - 30.0 * hour as f64).abs() <= 0.0196 * 30.0 * hour as f64);
        assert_eq!(report.lead_time.tier, Some(Tier::Elite));
        assert_eq!(report.time_to_restore.count, 1);
        assert_eq!(report.time_to_restore.tier, Some(Tier::Elite));
        let per_bucket: Vec<(u64, u64)> = report
            .buckets
            .iter()
            .map(|b| (b.succeeded, b.failed))
            .collect();
        // 2026-11-01 is a Sunday: the first ISO week is one day long.
        assert_eq!(per_bucket, [(0, 0), (2, 1), (1, 0)]);
        assert_eq!(report.buckets[1].span.start, "2026-11-02T00:00:00Z");
        assert_eq!(report.buckets[0].change_failure_rate, None);
        assert_eq!(report.buckets[2].change_failure_rate, Some(0.0));
    }

    #[test]
    fn a_range_without_deployments_has_no_tiers() {
        let report = dora(&[], &november(1, 8), Interval::Day);
        assert_eq!(report.deployment_frequency.tier, None);
        assert_eq!(report.change_failure_rate.percent, None);
        assert_eq!(report.lead_time.p50_ms, None);
        assert_eq!(report.time_to_restore.tier, None);
        assert_eq!(report.buckets.len(), 7);
    }

    #[test]
    fn tiers_follow_the_published_levels() {
        assert_eq!(Tier::of_frequency(1.0), Tier::Elite);
        assert_eq!(Tier::of_frequency(0.2), Tier::High);
        assert_eq!(Tier::of_frequency(0.05), Tier::Medium);
        assert_eq!(Tier::of_frequency(0.01), Tier::Low);
        let day = 86_400_000;
        assert_eq!(Tier::of_lead_time(day - 1), Tier::Elite);
        assert_eq!(Tier::of_lead_time(7 * day), Tier::High);
        assert_eq!(Tier::of_lead_time(30 * day), Tier::Medium);
        assert_eq!(Tier::of_lead_time(31 * day), Tier::Low);
        assert_eq!(Tier::of_failure_rate(0.0), Tier::Elite);
        assert_eq!(Tier::of_failure_rate(7.5), Tier::Elite);
        assert_eq!(Tier::of_failure_rate(12.0), Tier::Medium);
        assert_eq!(Tier::of_failure_rate(16.0), Tier::High);
        assert_eq!(Tier::of_failure_rate(31.0), Tier::Low);
        assert_eq!(Tier::of_restore(59 * 60_000), Tier::Elite);
        assert_eq!(Tier::of_restore(day - 1), Tier::High);
        assert_eq!(Tier::of_restore(7 * day), Tier::Medium);
        assert_eq!(Tier::of_restore(8 * day), Tier::Low);
    }
}
