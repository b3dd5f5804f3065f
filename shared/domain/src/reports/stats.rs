//! The arithmetic every report shares: rates, and duration statistics from merged histograms.

use serde::Serialize;

use crate::histogram::Histogram;

/// `part ÷ whole` in percent with two decimals; `None` when `whole` is 0 (no rate, not 0 %).
pub fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 10_000.0 / whole as f64).round() / 100.0)
}

/// Success % = succeeded ÷ (succeeded + failed): cancellations and supersessions say nothing
/// about whether the code works, so they are reported beside the rate, not inside it.
pub fn success_rate(succeeded: u64, failed: u64) -> Option<f64> {
    percent(succeeded, succeeded + failed)
}

/// A stored counter as a count; counters are never negative at rest, and a corrupt one must not
/// wrap around.
pub fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Durations of one subject (a pipeline, a stage, a plugin) added up across rollup items.
#[derive(Debug, Clone, Default)]
pub struct DurationTotals {
    count: u64,
    sum_ms: u64,
    histogram: Histogram,
}

impl DurationTotals {
    pub fn add_count(&mut self, value: i64) {
        self.count += count(value);
    }

    pub fn add_sum(&mut self, value: i64) {
        self.sum_ms += count(value);
    }

    pub fn add_bucket(&mut self, bucket: u32, value: i64) {
        self.histogram.add_bucket(bucket, count(value));
    }

    pub fn merge(&mut self, other: &DurationTotals) {
        self.count += other.count;
        self.sum_ms += other.sum_ms;
        self.histogram.merge(&other.histogram);
    }

    /// Exact count and mean; min, max and percentiles from the histogram (≤ 1.96 % off).
    pub fn stats(&self) -> Option<DurationStats> {
        if self.count == 0 {
            return None;
        }
        let at = |q: f64| self.histogram.quantile(q).map_or(0, |ms| ms.round() as u64);
        Some(DurationStats {
            count: self.count,
            avg_ms: (self.sum_ms as f64 / self.count as f64).round() as u64,
            min_ms: at(0.0),
            max_ms: at(1.0),
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
        })
    }
}

/// Duration statistics in milliseconds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationStats {
    pub count: u64,
    /// Exact: sum ÷ count.
    pub avg_ms: u64,
    /// This and the percentiles: the histogram bucket's representative value, at most 1.96 %
    /// from the true one.
    pub min_ms: u64,
    pub max_ms: u64,
    pub p50_ms: u64,
    pub p90_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
}
