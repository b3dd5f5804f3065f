//! Daily rollups per (org, day, pipeline): counters that reports add up instead of scanning events.
//!
//! Every stored item *contributes* a set of counters to one day's rollup. When an item changes, the
//! rollup receives the difference between its new and old contribution, in the same transaction, so
//! each execution is counted once, by its current outcome, however often and in whatever order its
//! events arrive. Counter names ([`Counter`]):
//! - `n#{STATUS}` executions by final status; `dn`, `ds` duration count and sum (ms);
//!   `d#{bucket}` the execution-duration histogram (see [`crate::histogram`]);
//!   `m#{HHMM}` executions by the UTC minute they started in (first/last execution of a range);
//! - `st#{stage}` / `sf#{stage}` stage attempts finished / failed; `sdn#{stage}`, `sds#{stage}`,
//!   `sd#{bucket}#{stage}` their duration count, sum and histogram (STARTED or RESUMED to outcome);
//! - `at#{stage}/{action}` / `af#{stage}/{action}` action attempts finished / failed; `adn#…`,
//!   `ads#…`, `ad#{bucket}#{stage}/{action}` their durations;
//! - `ec#{category}` failed actions by error category;
//! - per plugin version `{plugin}` = `{name}@{version}` an action attempt ran (attributed at
//!   ingest): `pt#`, `ps#`, `pf#{plugin}` attempts finished / succeeded / failed, `pdn#`, `pds#`,
//!   `pd#{bucket}#{plugin}` their durations, `pec#{category}#{plugin}` failures by category;
//! - production deployments (DORA, see [`crate::dora`]), filed on the UTC day the deployment
//!   ended: `dep#{SUCCEEDED|FAILED}` deployments by outcome; `ltn`, `lts`, `lt#{bucket}` the lead
//!   time of successful ones and `ltb#{commit|start}` what it was measured from; `rtn`, `rts`,
//!   `rt#{bucket}` the time to restore, filed on the day of the restoring deployment.
//!
//! Besides the counters (always `ADD`), a change `SET`s two kinds of notes, where the last write
//! wins: `es#{category}` a recent failure's scrubbed message, `ac#{stage}/{action}` the action's
//! CodePipeline category.
//!
//! The counters of one (org, day, pipeline) are stored in a few items, one per [`Facet`]: counts
//! apart from durations, each level of the pipeline apart from the others, so a report reads only
//! what it needs and an update rewrites, and is billed for, only small items.

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike};
use serde::{Deserialize, Serialize};

pub type Counters = BTreeMap<String, i64>;

/// Item attribute holding the error sample of a category.
pub const SAMPLE_PREFIX: &str = "es#";
/// Item attribute holding the CodePipeline category of an action (`ac#{stage}/{action}`).
pub const ACTION_CATEGORY_PREFIX: &str = "ac#";

/// A group of counters stored together: one item per (org, day, pipeline, facet), sort key
/// `{sk_prefix}{pipelineId}`. Counts are kept apart from durations, and each level of the pipeline
/// apart from the others, because a report reads whole items: each reads one or two facets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Facet {
    /// `n#`: executions by final status.
    Executions,
    /// `dn`, `ds`, `d#`.
    ExecutionDurations,
    /// `m#`.
    StartMinutes,
    /// `st#`, `sf#`.
    Stages,
    /// `sdn#`, `sds#`, `sd#`.
    StageDurations,
    /// `at#`, `af#`, `ec#` and the notes (`es#`, `ac#`).
    Actions,
    /// `adn#`, `ads#`, `ad#`.
    ActionDurations,
    /// `pt#`, `ps#`, `pf#`, `pec#`.
    Plugins,
    /// `pdn#`, `pds#`, `pd#`.
    PluginDurations,
    /// `dep#`, `ltn`, `lts`, `lt#`, `ltb#`, `rtn`, `rts`, `rt#`.
    Deployments,
}

impl Facet {
    pub const ALL: [Facet; 10] = [
        Facet::Executions,
        Facet::ExecutionDurations,
        Facet::StartMinutes,
        Facet::Stages,
        Facet::StageDurations,
        Facet::Actions,
        Facet::ActionDurations,
        Facet::Plugins,
        Facet::PluginDurations,
        Facet::Deployments,
    ];

    /// No prefix starts another, so `begins_with(SK, prefix)` selects exactly one facet. The
    /// executions facet keeps the original `PIPE#` key.
    pub fn sk_prefix(self) -> &'static str {
        match self {
            Facet::Executions => "PIPE#",
            Facet::ExecutionDurations => "DUR#",
            Facet::StartMinutes => "MIN#",
            Facet::Stages => "STAGE#",
            Facet::StageDurations => "SDUR#",
            Facet::Actions => "ACTION#",
            Facet::ActionDurations => "ADUR#",
            Facet::Plugins => "PLUGIN#",
            Facet::PluginDurations => "PDUR#",
            Facet::Deployments => "DORA#",
        }
    }

    /// The facet of a stored counter name; names of no known counter stay with the executions.
    pub fn of(name: &str) -> Facet {
        Counter::parse(name).map_or(Facet::Executions, |counter| counter.facet())
    }
}

/// One rollup counter, by meaning. `name` and `parse` are inverses, so writers and readers cannot
/// disagree on the spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter<'a> {
    Executions {
        status: &'a str,
    },
    DurationCount,
    DurationSum,
    DurationBucket {
        bucket: u32,
    },
    /// Minute of the UTC day (0‥1439) in which executions started.
    StartMinute {
        minute: u32,
    },
    StageFinished {
        stage: &'a str,
    },
    StageFailed {
        stage: &'a str,
    },
    StageDurationCount {
        stage: &'a str,
    },
    StageDurationSum {
        stage: &'a str,
    },
    StageDurationBucket {
        bucket: u32,
        stage: &'a str,
    },
    /// `action` is `{stage}/{action}`.
    ActionFinished {
        action: &'a str,
    },
    ActionFailed {
        action: &'a str,
    },
    ActionDurationCount {
        action: &'a str,
    },
    ActionDurationSum {
        action: &'a str,
    },
    ActionDurationBucket {
        bucket: u32,
        action: &'a str,
    },
    ErrorCategory {
        category: &'a str,
    },
    /// `plugin` is `{name}@{version}`.
    PluginFinished {
        plugin: &'a str,
    },
    PluginSucceeded {
        plugin: &'a str,
    },
    PluginFailed {
        plugin: &'a str,
    },
    PluginDurationCount {
        plugin: &'a str,
    },
    PluginDurationSum {
        plugin: &'a str,
    },
    PluginDurationBucket {
        bucket: u32,
        plugin: &'a str,
    },
    PluginErrorCategory {
        category: &'a str,
        plugin: &'a str,
    },
    /// Production deployments by outcome (`SUCCEEDED` or `FAILED`).
    Deployments {
        outcome: &'a str,
    },
    LeadTimeCount,
    LeadTimeSum,
    LeadTimeBucket {
        bucket: u32,
    },
    /// What a lead time was measured from: `commit` (author time) or `start` (execution start).
    LeadTimeBasis {
        basis: &'a str,
    },
    RestoreCount,
    RestoreSum,
    RestoreBucket {
        bucket: u32,
    },
}

impl<'a> Counter<'a> {
    pub fn name(&self) -> String {
        match self {
            Counter::Executions { status } => format!("n#{status}"),
            Counter::DurationCount => "dn".to_string(),
            Counter::DurationSum => "ds".to_string(),
            Counter::DurationBucket { bucket } => format!("d#{bucket}"),
            Counter::StartMinute { minute } => format!("m#{:02}{:02}", minute / 60, minute % 60),
            Counter::StageFinished { stage } => format!("st#{stage}"),
            Counter::StageFailed { stage } => format!("sf#{stage}"),
            Counter::StageDurationCount { stage } => format!("sdn#{stage}"),
            Counter::StageDurationSum { stage } => format!("sds#{stage}"),
            Counter::StageDurationBucket { bucket, stage } => format!("sd#{bucket}#{stage}"),
            Counter::ActionFinished { action } => format!("at#{action}"),
            Counter::ActionFailed { action } => format!("af#{action}"),
            Counter::ActionDurationCount { action } => format!("adn#{action}"),
            Counter::ActionDurationSum { action } => format!("ads#{action}"),
            Counter::ActionDurationBucket { bucket, action } => format!("ad#{bucket}#{action}"),
            Counter::ErrorCategory { category } => format!("ec#{category}"),
            Counter::PluginFinished { plugin } => format!("pt#{plugin}"),
            Counter::PluginSucceeded { plugin } => format!("ps#{plugin}"),
            Counter::PluginFailed { plugin } => format!("pf#{plugin}"),
            Counter::PluginDurationCount { plugin } => format!("pdn#{plugin}"),
            Counter::PluginDurationSum { plugin } => format!("pds#{plugin}"),
            Counter::PluginDurationBucket { bucket, plugin } => format!("pd#{bucket}#{plugin}"),
            Counter::PluginErrorCategory { category, plugin } => {
                format!("pec#{category}#{plugin}")
            }
            Counter::Deployments { outcome } => format!("dep#{outcome}"),
            Counter::LeadTimeCount => "ltn".to_string(),
            Counter::LeadTimeSum => "lts".to_string(),
            Counter::LeadTimeBucket { bucket } => format!("lt#{bucket}"),
            Counter::LeadTimeBasis { basis } => format!("ltb#{basis}"),
            Counter::RestoreCount => "rtn".to_string(),
            Counter::RestoreSum => "rts".to_string(),
            Counter::RestoreBucket { bucket } => format!("rt#{bucket}"),
        }
    }

    pub fn facet(&self) -> Facet {
        match self {
            Counter::Executions { .. } => Facet::Executions,
            Counter::DurationCount | Counter::DurationSum | Counter::DurationBucket { .. } => {
                Facet::ExecutionDurations
            }
            Counter::StartMinute { .. } => Facet::StartMinutes,
            Counter::StageFinished { .. } | Counter::StageFailed { .. } => Facet::Stages,
            Counter::StageDurationCount { .. }
            | Counter::StageDurationSum { .. }
            | Counter::StageDurationBucket { .. } => Facet::StageDurations,
            Counter::ActionFinished { .. }
            | Counter::ActionFailed { .. }
            | Counter::ErrorCategory { .. } => Facet::Actions,
            Counter::ActionDurationCount { .. }
            | Counter::ActionDurationSum { .. }
            | Counter::ActionDurationBucket { .. } => Facet::ActionDurations,
            Counter::PluginFinished { .. }
            | Counter::PluginSucceeded { .. }
            | Counter::PluginFailed { .. }
            | Counter::PluginErrorCategory { .. } => Facet::Plugins,
            Counter::PluginDurationCount { .. }
            | Counter::PluginDurationSum { .. }
            | Counter::PluginDurationBucket { .. } => Facet::PluginDurations,
            Counter::Deployments { .. }
            | Counter::LeadTimeCount
            | Counter::LeadTimeSum
            | Counter::LeadTimeBucket { .. }
            | Counter::LeadTimeBasis { .. }
            | Counter::RestoreCount
            | Counter::RestoreSum
            | Counter::RestoreBucket { .. } => Facet::Deployments,
        }
    }

    /// The counter a stored attribute name stands for; `None` for anything else (item keys,
    /// notes, counters of a later version).
    pub fn parse(name: &'a str) -> Option<Self> {
        match name {
            "dn" => return Some(Counter::DurationCount),
            "ds" => return Some(Counter::DurationSum),
            "ltn" => return Some(Counter::LeadTimeCount),
            "lts" => return Some(Counter::LeadTimeSum),
            "rtn" => return Some(Counter::RestoreCount),
            "rts" => return Some(Counter::RestoreSum),
            _ => {}
        }
        let (kind, rest) = name.split_once('#')?;
        let bucketed = || {
            let (bucket, subject) = rest.split_once('#')?;
            Some((bucket.parse::<u32>().ok()?, subject))
        };
        let counter = match kind {
            "n" => Counter::Executions { status: rest },
            "d" => Counter::DurationBucket {
                bucket: rest.parse().ok()?,
            },
            "m" => Counter::StartMinute {
                minute: parse_minute(rest)?,
            },
            "st" => Counter::StageFinished { stage: rest },
            "sf" => Counter::StageFailed { stage: rest },
            "sdn" => Counter::StageDurationCount { stage: rest },
            "sds" => Counter::StageDurationSum { stage: rest },
            "sd" => {
                let (bucket, stage) = bucketed()?;
                Counter::StageDurationBucket { bucket, stage }
            }
            "at" => Counter::ActionFinished { action: rest },
            "af" => Counter::ActionFailed { action: rest },
            "adn" => Counter::ActionDurationCount { action: rest },
            "ads" => Counter::ActionDurationSum { action: rest },
            "ad" => {
                let (bucket, action) = bucketed()?;
                Counter::ActionDurationBucket { bucket, action }
            }
            "ec" => Counter::ErrorCategory { category: rest },
            "pt" => Counter::PluginFinished { plugin: rest },
            "ps" => Counter::PluginSucceeded { plugin: rest },
            "pf" => Counter::PluginFailed { plugin: rest },
            "pdn" => Counter::PluginDurationCount { plugin: rest },
            "pds" => Counter::PluginDurationSum { plugin: rest },
            "pd" => {
                let (bucket, plugin) = bucketed()?;
                Counter::PluginDurationBucket { bucket, plugin }
            }
            "pec" => {
                let (category, plugin) = rest.split_once('#')?;
                Counter::PluginErrorCategory { category, plugin }
            }
            "dep" => Counter::Deployments { outcome: rest },
            "lt" => Counter::LeadTimeBucket {
                bucket: rest.parse().ok()?,
            },
            "ltb" => Counter::LeadTimeBasis { basis: rest },
            "rt" => Counter::RestoreBucket {
                bucket: rest.parse().ok()?,
            },
            _ => return None,
        };
        Some(counter)
    }
}

/// `HHMM` → minute of the day.
fn parse_minute(text: &str) -> Option<u32> {
    if text.len() != 4 {
        return None;
    }
    let hours: u32 = text.get(..2)?.parse().ok()?;
    let minutes: u32 = text.get(2..)?.parse().ok()?;
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

/// A recent failure of one error category, kept on the rollup item for the errors report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorSample {
    /// When the failure happened (epoch ms).
    pub at: i64,
    /// The failed action, `{stage}/{action}`.
    pub action: String,
    /// Scrubbed and capped like every stored message.
    pub message: String,
}

/// What one item adds to the rollup of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub day: String,
    pub counters: Counters,
}

/// A change to one day's rollup item: counters applied with an atomic `ADD`, notes with `SET`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RollupChange {
    pub day: String,
    pub counters: Counters,
    /// By error category; the last write wins, so this is *a* recent sample, not the latest by time.
    pub samples: BTreeMap<String, ErrorSample>,
    /// `{stage}/{action}` → the action's CodePipeline category (`Build`, `Test`, …).
    pub action_categories: BTreeMap<String, String>,
}

/// One stored rollup item, as reports read it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rollup {
    /// `yyyy-mm-dd` (UTC).
    pub day: String,
    pub pipeline_id: String,
    pub counters: Counters,
    pub samples: BTreeMap<String, ErrorSample>,
    pub action_categories: BTreeMap<String, String>,
}

/// `yyyy-mm-dd` in UTC of an epoch-millisecond instant.
pub fn utc_day(epoch_ms: i64) -> String {
    DateTime::from_timestamp_millis(epoch_ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".to_string())
}

/// Minute of the UTC day (0‥1439) of an epoch-millisecond instant, consistent with [`utc_day`].
pub fn utc_minute(epoch_ms: i64) -> u32 {
    DateTime::from_timestamp_millis(epoch_ms)
        .map(|t| t.hour() * 60 + t.minute())
        .unwrap_or_default()
}

/// The rollup changes that turn `old` into `new`; unchanged counters and days are left out.
pub fn difference(old: &[Contribution], new: &[Contribution]) -> Vec<RollupChange> {
    let mut by_day: BTreeMap<&str, Counters> = BTreeMap::new();
    for (contributions, sign) in [(new, 1), (old, -1)] {
        for c in contributions {
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
                ..RollupChange::default()
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
            difference(
                std::slice::from_ref(&failed),
                std::slice::from_ref(&succeeded)
            ),
            vec![RollupChange {
                day: "2026-11-20".into(),
                counters: [
                    ("ds".to_string(), 150),
                    ("n#FAILED".into(), -1),
                    ("n#SUCCEEDED".into(), 1)
                ]
                .into_iter()
                .collect(),
                ..RollupChange::default()
            }]
        );
    }

    #[test]
    fn identical_contributions_change_nothing_and_days_move_separately() {
        let a = contribution("2026-11-20", &[("n#FAILED", 1)]);
        assert!(difference(std::slice::from_ref(&a), std::slice::from_ref(&a)).is_empty());
        let b = contribution("2026-11-21", &[("n#FAILED", 1)]);
        let changes = difference(std::slice::from_ref(&a), std::slice::from_ref(&b));
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].counters["n#FAILED"], -1);
        assert_eq!(changes[1].counters["n#FAILED"], 1);
    }

    #[test]
    fn days_and_minutes_are_utc() {
        assert_eq!(utc_day(1_763_683_199_999), "2025-11-20");
        assert_eq!(utc_minute(1_763_683_199_999), 1439);
        assert_eq!(utc_day(1_763_683_200_000), "2025-11-21");
        assert_eq!(utc_minute(1_763_683_200_000), 0);
    }

    #[test]
    fn counter_names_parse_back_to_the_same_counter() {
        let counters = [
            Counter::Executions { status: "FAILED" },
            Counter::DurationCount,
            Counter::DurationSum,
            Counter::DurationBucket { bucket: 312 },
            Counter::StartMinute { minute: 876 },
            Counter::StageFinished { stage: "Build" },
            Counter::StageFailed { stage: "Build" },
            Counter::StageDurationCount { stage: "Build" },
            Counter::StageDurationSum { stage: "Build" },
            Counter::StageDurationBucket {
                bucket: 7,
                stage: "Build",
            },
            Counter::ActionFinished {
                action: "Build/Unit-Tests",
            },
            Counter::ActionFailed { action: "Build/X" },
            Counter::ActionDurationCount { action: "Build/X" },
            Counter::ActionDurationSum { action: "Build/X" },
            Counter::ActionDurationBucket {
                bucket: 300,
                action: "Build/X",
            },
            Counter::ErrorCategory { category: "test" },
            Counter::PluginFinished {
                plugin: "node-build@2.0.1",
            },
            Counter::PluginSucceeded {
                plugin: "node-build@2.0.1",
            },
            Counter::PluginFailed {
                plugin: "node-build@2.0.1-rc.1+b7",
            },
            Counter::PluginDurationCount { plugin: "a@1.0.0" },
            Counter::PluginDurationSum { plugin: "a@1.0.0" },
            Counter::PluginDurationBucket {
                bucket: 290,
                plugin: "a@1.0.0",
            },
            Counter::PluginErrorCategory {
                category: "build",
                plugin: "a@1.0.0",
            },
            Counter::Deployments {
                outcome: "SUCCEEDED",
            },
            Counter::LeadTimeCount,
            Counter::LeadTimeSum,
            Counter::LeadTimeBucket { bucket: 401 },
            Counter::LeadTimeBasis { basis: "commit" },
            Counter::RestoreCount,
            Counter::RestoreSum,
            Counter::RestoreBucket { bucket: 350 },
        ];
        for counter in counters {
            let name = counter.name();
            assert_eq!(Counter::parse(&name), Some(counter), "{name}");
        }
        assert_eq!(Counter::StartMinute { minute: 876 }.name(), "m#1436");
    }

    #[test]
    fn facets_keep_counts_durations_and_levels_apart() {
        assert_eq!(Facet::of("n#FAILED"), Facet::Executions);
        assert_eq!(Facet::of("dn"), Facet::ExecutionDurations);
        assert_eq!(Facet::of("d#280"), Facet::ExecutionDurations);
        assert_eq!(Facet::of("m#0000"), Facet::StartMinutes);
        assert_eq!(Facet::of("sf#Build"), Facet::Stages);
        assert_eq!(Facet::of("sds#Build"), Facet::StageDurations);
        assert_eq!(Facet::of("ec#test"), Facet::Actions);
        assert_eq!(Facet::of("ad#3#Build/X"), Facet::ActionDurations);
        assert_eq!(Facet::of("pec#test#a@1.0.0"), Facet::Plugins);
        assert_eq!(Facet::of("pdn#a@1.0.0"), Facet::PluginDurations);
        assert_eq!(Facet::of("dep#FAILED"), Facet::Deployments);
        assert_eq!(Facet::of("rt#350"), Facet::Deployments);
        assert_eq!(Facet::of("ltb#start"), Facet::Deployments);
        assert_eq!(Facet::of("future#x"), Facet::Executions);
        for a in Facet::ALL {
            for b in Facet::ALL.into_iter().filter(|b| *b != a) {
                assert!(!b.sk_prefix().starts_with(a.sk_prefix()), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn other_attribute_names_are_not_counters() {
        for name in [
            "PK",
            "day",
            "es#test",
            "ac#Build/X",
            "m#2400",
            "m#123",
            "d#x",
            "sd#Build",
        ] {
            assert_eq!(Counter::parse(name), None, "{name}");
        }
    }
}
