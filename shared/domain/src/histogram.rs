//! Mergeable duration histogram with a bounded relative error.
//!
//! Bucket `i` holds durations in `[γ^i, γ^(i+1))` milliseconds with γ = 1.04; bucket 0 also holds 0 ms.
//! A bucket is reported as `2·γ^(i+1)/(1+γ)`, whose distance from any value in the bucket is at most
//! `(γ−1)/(γ+1)` ≈ 1.96 % of that value. Histograms merge by adding counts, so a report over many
//! days and pipelines is exact up to that bound; 1 s…24 h spans about 290 buckets.

use std::collections::BTreeMap;

pub const GAMMA: f64 = 1.04;

/// Index of the bucket holding `duration_ms`.
pub fn bucket_of(duration_ms: i64) -> u32 {
    if duration_ms <= 1 {
        return 0;
    }
    ((duration_ms as f64).ln() / GAMMA.ln()).floor() as u32
}

/// The value a bucket stands for in percentiles.
pub fn bucket_value(bucket: u32) -> f64 {
    2.0 * GAMMA.powi(bucket as i32 + 1) / (1.0 + GAMMA)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: BTreeMap<u32, u64>,
}

impl Histogram {
    pub fn record(&mut self, duration_ms: i64) {
        self.add_bucket(bucket_of(duration_ms), 1);
    }

    pub fn add_bucket(&mut self, bucket: u32, count: u64) {
        if count > 0 {
            *self.counts.entry(bucket).or_default() += count;
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (bucket, count) in &other.counts {
            self.add_bucket(*bucket, *count);
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The `q`-quantile (0 < q ≤ 1) by nearest rank, or `None` for an empty histogram.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        self.counts.iter().find_map(|(bucket, count)| {
            seen += count;
            (seen >= rank).then(|| bucket_value(*bucket))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact_quantile(sorted: &[i64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1] as f64
    }

    proptest! {
        #[test]
        fn percentiles_are_within_two_percent_from_one_second_to_a_day(
            samples in proptest::collection::vec(1_000i64..=86_400_000, 1..400),
            q in prop::sample::select(vec![0.5, 0.9, 0.95, 0.99, 1.0]),
        ) {
            let mut histogram = Histogram::default();
            samples.iter().for_each(|s| histogram.record(*s));
            let mut sorted = samples.clone();
            sorted.sort_unstable();
            let exact = exact_quantile(&sorted, q);
            let estimate = histogram.quantile(q).unwrap();
            prop_assert!((estimate - exact).abs() / exact <= 0.02, "q={q} exact={exact} estimate={estimate}");
        }

        #[test]
        fn merging_equals_recording_everything_in_one(
            a in proptest::collection::vec(0i64..100_000_000, 0..50),
            b in proptest::collection::vec(0i64..100_000_000, 0..50),
        ) {
            let mut left = Histogram::default();
            a.iter().for_each(|s| left.record(*s));
            let mut right = Histogram::default();
            b.iter().for_each(|s| right.record(*s));
            let mut all = Histogram::default();
            a.iter().chain(&b).for_each(|s| all.record(*s));
            left.merge(&right);
            prop_assert_eq!(left, all);
        }
    }

    #[test]
    fn empty_histogram_has_no_percentiles() {
        assert_eq!(Histogram::default().quantile(0.5), None);
    }
}
