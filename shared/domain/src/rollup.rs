//! Daily rollups per (org, day, pipeline): counters that reports add up instead of scanning events.
//!
//! Every stored item *contributes* a set of counters to one day's rollup. When an item changes, the
//! rollup receives the difference between its new and old contribution, in the same transaction, so
//! each execution is counted once, by its current outcome, however often and in whatever order its
//! events arrive. Counter names:
//! - `n#{STATUS}` executions by final status; `dn`, `ds` duration count and sum (ms);
//!   `d#{bucket}` the execution-duration histogram (see [`crate::histogram`]);
//! - `st#{stage}` / `sf#{stage}` stage attempts finished / failed; `sdn#{stage}`, `sds#{stage}`,
//!   `sd#{bucket}#{stage}` their duration count, sum and histogram (STARTED or RESUMED to outcome);
//! - `at#{stage}/{action}` / `af#{stage}/{action}` action attempts finished / failed; `adn#…`,
//!   `ads#…`, `ad#{bucket}#{stage}/{action}` their durations;
//! - `ec#{category}` failed actions by error category.

use std::collections::BTreeMap;

use chrono::DateTime;

pub type Counters = BTreeMap<String, i64>;

/// What one item adds to the rollup of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub day: String,
    pub counters: Counters,
}

/// A change to apply to one day's rollup item with an atomic `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupChange {
    pub day: String,
    pub counters: Counters,
}

/// `yyyy-mm-dd` in UTC of an epoch-millisecond instant.
pub fn utc_day(epoch_ms: i64) -> String {
    DateTime::from_timestamp_millis(epoch_ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".to_string())
}

/// The rollup changes that turn `old` into `new`; unchanged counters and days are left out.
pub fn difference(old: Option<&Contribution>, new: Option<&Contribution>) -> Vec<RollupChange> {
    let mut by_day: BTreeMap<&str, Counters> = BTreeMap::new();
    for (contribution, sign) in [(new, 1), (old, -1)] {
        if let Some(c) = contribution {
            let counters = by_day.entry(c.day.as_str()).or_default();
            for (name, value) in &c.counters {
                *counters.entry(name.clone()).or_default() += sign * value;
            }
        }
    }
    by_day
        .into_iter()
        .map(|(day, mut counters)| {
            counters.retain(|_, v| *v != 0);
            RollupChange {
                day: day.to_string(),
                counters,
            }
        })
        .filter(|change| !change.counters.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contribution(day: &str, counters: &[(&str, i64)]) -> Contribution {
        Contribution {
            day: day.into(),
            counters: counters.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn moving_an_outcome_within_a_day_is_one_change() {
        let failed = contribution("2026-11-20", &[("n#FAILED", 1), ("dn", 1), ("ds", 100)]);
        let succeeded = contribution("2026-11-20", &[("n#SUCCEEDED", 1), ("dn", 1), ("ds", 250)]);
        assert_eq!(
            difference(Some(&failed), Some(&succeeded)),
            vec![RollupChange {
                day: "2026-11-20".into(),
                counters: [
                    ("ds".to_string(), 150),
                    ("n#FAILED".into(), -1),
                    ("n#SUCCEEDED".into(), 1)
                ]
                .into_iter()
                .collect(),
            }]
        );
    }

    #[test]
    fn identical_contributions_change_nothing_and_days_move_separately() {
        let a = contribution("2026-11-20", &[("n#FAILED", 1)]);
        assert!(difference(Some(&a), Some(&a)).is_empty());
        let b = contribution("2026-11-21", &[("n#FAILED", 1)]);
        let changes = difference(Some(&a), Some(&b));
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].counters["n#FAILED"], -1);
        assert_eq!(changes[1].counters["n#FAILED"], 1);
    }

    #[test]
    fn days_are_utc() {
        assert_eq!(utc_day(1_763_683_199_999), "2025-11-20");
        assert_eq!(utc_day(1_763_683_200_000), "2025-11-21");
    }
}
