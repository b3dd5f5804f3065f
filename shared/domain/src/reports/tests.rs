use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::histogram::bucket_of;
use crate::plugin::{ComputeType, PluginType};
use crate::rollup::ErrorSample;

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn range(from: &str, to: &str) -> ReportRange {
    ReportRange {
        from: day(from),
        to: day(to),
    }
}

fn rollup(day: &str, pipeline: &str, counters: &[(&str, i64)]) -> Rollup {
    Rollup {
        day: day.into(),
        pipeline_id: pipeline.into(),
        counters: counters.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        ..Rollup::default()
    }
}

fn span(start: &str, end: &str) -> Span {
    Span {
        start: format!("{start}T00:00:00Z"),
        end: format!("{end}T00:00:00Z"),
    }
}

mod parameters {
    use super::*;

    const NOW: &str = "2026-11-20T15:00:00Z";

    fn parse(from: Option<&str>, to: Option<&str>) -> Result<ReportRange, ParamError> {
        ReportRange::parse(from, to, at(NOW))
    }

    #[test]
    fn the_default_is_the_last_thirty_days_including_today() {
        let default = parse(None, None).unwrap();
        assert_eq!(default, range("2026-10-22", "2026-11-21"));
        assert_eq!(default.days().len(), 30);
        assert_eq!(
            parse(None, Some("2026-11-10")).unwrap(),
            range("2026-10-12", "2026-11-11")
        );
    }

    #[test]
    fn dates_are_inclusive_and_instants_widen_to_whole_utc_days() {
        assert_eq!(
            parse(Some("2026-11-01"), Some("2026-11-30")).unwrap(),
            range("2026-11-01", "2026-12-01")
        );
        assert_eq!(
            parse(Some("2026-11-01T23:59:59Z"), Some("2026-12-01T00:00:00Z")).unwrap(),
            range("2026-11-01", "2026-12-01"),
            "an instant at midnight ends the range there"
        );
        assert_eq!(
            parse(
                Some("2026-11-01T01:00:00+02:00"),
                Some("2026-11-30T23:30:00-02:00")
            )
            .unwrap(),
            range("2026-10-31", "2026-12-02"),
            "offsets are converted to UTC first"
        );
    }

    #[test]
    fn an_empty_range_is_not_an_error_and_has_no_days_or_buckets() {
        let empty = parse(Some("2026-11-20T00:00:00Z"), Some("2026-11-20T00:00:00Z")).unwrap();
        assert!(empty.days().is_empty());
        assert!(empty.buckets(Interval::Week).is_empty());
        let report = success_series(&[], &empty, Interval::Day);
        assert!(report.buckets.is_empty());
        assert_eq!(report.overall, OutcomeCounts::default());
    }

    #[test]
    fn bad_ranges_name_the_parameter() {
        let error = parse(Some("2026-11-21"), Some("2026-11-19")).unwrap_err();
        assert_eq!(error.parameter, "from");
        assert!(error.message.contains("after"), "{}", error.message);
        assert_eq!(
            parse(Some("yesterday"), None).unwrap_err().parameter,
            "from"
        );
        assert_eq!(parse(None, Some("2026-13-01")).unwrap_err().parameter, "to");
        let too_long = parse(Some("2025-01-01"), Some("2026-01-02")).unwrap_err();
        assert_eq!(too_long.parameter, "from");
        assert!(
            too_long.message.contains("367 days"),
            "{}",
            too_long.message
        );
        assert_eq!(
            parse(Some("2025-01-01"), Some("2026-01-01"))
                .unwrap()
                .len_days(),
            366
        );
    }

    /// The pattern the API document states for `from`/`to` accepts a date exactly when the
    /// parser does (leap years included), and every instant it accepts parses.
    #[test]
    fn the_documented_pattern_agrees_with_the_parser() {
        let pattern = regex::Regex::new(DATE_OR_INSTANT_PATTERN).unwrap();
        let parses = |text: &str| ReportRange::parse(Some(text), Some(text), at(NOW)).is_ok();
        let mut dates = 0;
        for year in [0, 1900, 2000, 2024, 2026, 2100, 9999] {
            for month in 1..=12 {
                for day in 1..=31 {
                    let date = format!("{year:04}-{month:02}-{day:02}");
                    assert_eq!(pattern.is_match(&date), parses(&date), "{date}");
                    dates += usize::from(parses(&date));
                }
            }
        }
        assert_eq!(
            dates,
            4 * 365 + 3 * 366,
            "0000, 2000 and 2024 are leap years"
        );
        for instant in [
            "2026-11-20T10:00:00Z",
            "2026-11-20T23:59:59.123456789+14:00",
            "0000-01-01T00:00:00-23:59",
            "9999-12-31T23:59:59+00:00",
        ] {
            assert!(pattern.is_match(instant) && parses(instant), "{instant}");
        }
        for refused in [
            "2026-11-20T10:00:00",
            "2026-11-20T24:00:00Z",
            "20261120",
            "",
        ] {
            assert!(!pattern.is_match(refused) && !parses(refused), "{refused}");
        }
        let instant = regex::Regex::new(INSTANT_PATTERN).unwrap();
        assert!(instant.is_match("2026-11-20T10:00:00.5-03:30"));
        assert!(DateTime::parse_from_rfc3339("2026-11-20T10:00:00.5-03:30").is_ok());
        assert!(!instant.is_match("2026-11-20"), "an instant has a time");
    }

    #[test]
    fn interval_and_limit_are_checked() {
        assert_eq!(Interval::parse(None), Ok(Interval::Week));
        assert_eq!(Interval::parse(Some("month")), Ok(Interval::Month));
        assert_eq!(
            Interval::parse(Some("hour")).unwrap_err().parameter,
            "interval"
        );
        assert_eq!(parse_limit(None), Ok(20));
        assert_eq!(parse_limit(Some("100")), Ok(100));
        for bad in ["0", "101", "-1", "ten"] {
            assert_eq!(
                parse_limit(Some(bad)).unwrap_err().parameter,
                "limit",
                "{bad}"
            );
        }
    }
}

mod buckets {
    use super::*;

    #[test]
    fn weeks_start_on_monday_and_are_clipped_to_the_range() {
        let buckets = range("2026-11-18", "2026-12-03").buckets(Interval::Week);
        assert_eq!(
            buckets.spans(),
            vec![
                span("2026-11-18", "2026-11-23"),
                span("2026-11-23", "2026-11-30"),
                span("2026-11-30", "2026-12-03"),
            ]
        );
        assert_eq!(buckets.index_of(day("2026-11-22")), Some(0), "Sunday");
        assert_eq!(buckets.index_of(day("2026-11-23")), Some(1), "Monday");
        assert_eq!(buckets.index_of(day("2026-11-29")), Some(1));
        assert_eq!(buckets.index_of(day("2026-11-30")), Some(2));
        assert_eq!(buckets.index_of(day("2026-12-03")), None);
        assert_eq!(buckets.index_of(day("2026-11-17")), None);
    }

    #[test]
    fn months_are_calendar_months_and_days_are_days() {
        assert_eq!(
            range("2026-01-30", "2026-03-02")
                .buckets(Interval::Month)
                .spans(),
            vec![
                span("2026-01-30", "2026-02-01"),
                span("2026-02-01", "2026-03-01"),
                span("2026-03-01", "2026-03-02"),
            ]
        );
        let days = range("2026-02-27", "2026-03-02").buckets(Interval::Day);
        assert_eq!(days.len(), 3);
        assert_eq!(days.index_of(day("2026-03-01")), Some(2));
    }
}

mod executions {
    use super::*;

    fn week_of_outcomes() -> Vec<Rollup> {
        vec![
            rollup(
                "2026-11-22",
                "pl-a",
                &[
                    ("n#SUCCEEDED", 3),
                    ("n#FAILED", 1),
                    ("n#CANCELED", 2),
                    ("m#0905", 2),
                    ("m#2359", 4),
                ],
            ),
            rollup(
                "2026-11-23",
                "pl-a",
                &[("n#SUCCEEDED", 1), ("n#SUPERSEDED", 1), ("m#0000", 2)],
            ),
            rollup(
                "2026-11-23",
                "pl-b",
                &[("n#FAILED", 2), ("n#STOPPED", 1), ("m#1200", 3)],
            ),
            rollup("2026-12-05", "pl-b", &[("n#SUCCEEDED", 9), ("m#0100", 9)]),
        ]
    }

    #[test]
    fn counts_per_pipeline_with_first_and_last_minute() {
        let report = execution_counts(&week_of_outcomes(), &range("2026-11-16", "2026-11-30"), 20);
        assert_eq!(report.range, span("2026-11-16", "2026-11-30"));
        let rows: Vec<_> = report
            .pipelines
            .iter()
            .map(|p| {
                (
                    p.pipeline_id.as_str(),
                    p.executions.total,
                    p.executions.succeeded,
                    p.executions.failed,
                    p.executions.canceled,
                    p.executions.superseded,
                    p.executions.stopped,
                    p.first_execution.as_deref(),
                    p.last_execution.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (
                    "pl-a",
                    8,
                    4,
                    1,
                    2,
                    1,
                    0,
                    Some("2026-11-22T09:05:00Z"),
                    Some("2026-11-23T00:00:00Z")
                ),
                (
                    "pl-b",
                    3,
                    0,
                    2,
                    0,
                    0,
                    1,
                    Some("2026-11-23T12:00:00Z"),
                    Some("2026-11-23T12:00:00Z")
                ),
            ]
        );
        assert_eq!(report.pipelines[0].executions.success_rate, Some(80.0));
        assert_eq!(report.pipelines[1].executions.success_rate, Some(0.0));
        let top = execution_counts(&week_of_outcomes(), &range("2026-11-16", "2026-12-31"), 1);
        assert_eq!(top.pipelines.len(), 1);
        assert_eq!(top.pipelines[0].pipeline_id, "pl-b", "12 executions beat 8");
    }

    #[test]
    fn success_rate_leaves_cancellations_out_of_the_denominator_per_week() {
        let report = success_series(
            &week_of_outcomes(),
            &range("2026-11-16", "2026-12-07"),
            Interval::Week,
        );
        assert_eq!(report.interval, Interval::Week);
        let series: Vec<_> = report
            .buckets
            .iter()
            .map(|b| {
                (
                    b.span.start.as_str(),
                    b.executions.total,
                    b.executions.succeeded,
                    b.executions.failed,
                    b.executions.success_rate,
                )
            })
            .collect();
        assert_eq!(
            series,
            vec![
                ("2026-11-16T00:00:00Z", 6, 3, 1, Some(75.0)),
                ("2026-11-23T00:00:00Z", 5, 1, 2, Some(33.33)),
                ("2026-11-30T00:00:00Z", 9, 9, 0, Some(100.0)),
            ]
        );
        assert_eq!(report.overall.total, 20);
        assert_eq!(report.overall.success_rate, Some(81.25), "13 of 16");
        let quiet = success_series(&[], &range("2026-11-16", "2026-11-18"), Interval::Day);
        assert_eq!(quiet.buckets.len(), 2);
        assert_eq!(quiet.buckets[1].executions.success_rate, None);
    }

    #[test]
    fn durations_come_from_the_merged_histograms() {
        let bucket = |ms: i64| format!("d#{}", bucket_of(ms));
        let rollups = vec![
            rollup(
                "2026-11-20",
                "pl-a",
                &[("dn", 2), ("ds", 120_000), (&bucket(60_000), 2)],
            ),
            rollup(
                "2026-11-21",
                "pl-a",
                &[("dn", 1), ("ds", 120_000), (&bucket(120_000), 1)],
            ),
            rollup(
                "2026-11-21",
                "pl-b",
                &[("dn", 1), ("ds", 30_000), (&bucket(30_000), 1)],
            ),
        ];
        let report = execution_durations(&rollups, &range("2026-11-20", "2026-11-22"), 20);
        let a = &report.pipelines[0];
        assert_eq!(a.pipeline_id, "pl-a");
        assert_eq!(
            a.duration,
            DurationStats {
                count: 3,
                avg_ms: 80_000,
                min_ms: 59_947,
                max_ms: 121_442,
                p50_ms: 59_947,
                p90_ms: 121_442,
                p95_ms: 121_442,
                p99_ms: 121_442,
            }
        );
        assert_eq!(report.pipelines[1].duration.p50_ms, 29_592);
        let only_first_day = execution_durations(&rollups, &range("2026-11-20", "2026-11-21"), 20);
        assert_eq!(only_first_day.pipelines.len(), 1);
        assert_eq!(only_first_day.pipelines[0].duration.max_ms, 59_947);
    }

    #[test]
    fn stage_failures_form_a_heatmap_of_attempts() {
        let rollups = vec![
            rollup(
                "2026-11-29",
                "pl-a",
                &[("st#Build", 4), ("sf#Build", 1), ("st#Deploy", 2)],
            ),
            rollup(
                "2026-11-30",
                "pl-b",
                &[
                    ("st#Build", 1),
                    ("sf#Build", 1),
                    ("st#Deploy", 3),
                    ("sf#Deploy", 3),
                ],
            ),
        ];
        let report = stage_failures(
            &rollups,
            &range("2026-11-23", "2026-12-07"),
            Interval::Week,
            20,
        );
        assert_eq!(
            report.buckets,
            vec![
                span("2026-11-23", "2026-11-30"),
                span("2026-11-30", "2026-12-07")
            ]
        );
        let cell = |failures, attempts, failure_rate| FailureCell {
            failures,
            attempts,
            failure_rate,
        };
        assert_eq!(report.stages[0].stage, "Deploy");
        assert_eq!(report.stages[0].total, cell(3, 5, Some(60.0)));
        assert_eq!(
            report.stages[0].cells,
            vec![cell(0, 2, Some(0.0)), cell(3, 3, Some(100.0))]
        );
        assert_eq!(report.stages[1].stage, "Build");
        assert_eq!(
            report.stages[1].cells,
            vec![cell(1, 4, Some(25.0)), cell(1, 1, Some(100.0))]
        );
        let top = stage_failures(
            &rollups,
            &range("2026-11-23", "2026-12-07"),
            Interval::Week,
            1,
        );
        assert_eq!(top.stages.len(), 1);
    }

    #[test]
    fn bottlenecks_rank_stages_by_average() {
        let sd = |ms: i64, stage: &str| format!("sd#{}#{stage}", bucket_of(ms));
        let rollups = vec![rollup(
            "2026-11-20",
            "pl-a",
            &[
                ("sdn#Build", 2),
                ("sds#Build", 180_000),
                (&sd(90_000, "Build"), 2),
                ("sdn#Deploy", 1),
                ("sds#Deploy", 300_000),
                (&sd(300_000, "Deploy"), 1),
            ],
        )];
        let report = stage_bottlenecks(&rollups, &range("2026-11-20", "2026-11-21"), 20);
        let stages: Vec<_> = report.pipelines[0]
            .stages
            .iter()
            .map(|s| (s.stage.as_str(), s.count, s.avg_ms, s.p95_ms))
            .collect();
        assert_eq!(
            stages,
            vec![
                ("Deploy", 1, 300_000, 299_320),
                ("Build", 2, 90_000, 88_736)
            ]
        );
    }

    #[test]
    fn action_failures_carry_the_action_category() {
        let mut first = rollup(
            "2026-11-20",
            "pl-a",
            &[
                ("at#Build/UnitTests", 4),
                ("af#Build/UnitTests", 3),
                ("at#Deploy/Deploy", 5),
                ("af#Deploy/Deploy", 1),
                ("at#Source/Source", 9),
            ],
        );
        first.action_categories = [
            ("Build/UnitTests".to_string(), "Test".to_string()),
            ("Deploy/Deploy".to_string(), "Deploy".to_string()),
        ]
        .into_iter()
        .collect();
        let report = action_failures(&[first], &range("2026-11-20", "2026-11-21"), 2);
        let rows: Vec<_> = report
            .actions
            .iter()
            .map(|a| {
                (
                    a.stage.as_str(),
                    a.action.as_str(),
                    a.category.as_deref(),
                    a.failures,
                    a.total,
                    a.failure_rate,
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("Build", "UnitTests", Some("Test"), 3, 4, Some(75.0)),
                ("Deploy", "Deploy", Some("Deploy"), 1, 5, Some(20.0)),
            ]
        );
    }

    #[test]
    fn errors_rank_categories_with_affected_pipelines_and_the_latest_sample() {
        let sample = |at: i64, message: &str| ErrorSample {
            at,
            action: "Build/UnitTests".into(),
            message: message.into(),
        };
        let mut a = rollup(
            "2026-11-20",
            "pl-a",
            &[("ec#test", 2), ("ec#permissions", 1)],
        );
        a.samples = BTreeMap::from([("test".to_string(), sample(1_763_650_000_000, "older"))]);
        let mut b = rollup("2026-11-21", "pl-b", &[("ec#test", 1)]);
        b.samples = BTreeMap::from([("test".to_string(), sample(1_763_740_000_000, "newer"))]);
        let report = error_categories(&[a, b], &range("2026-11-20", "2026-11-22"), 20);
        assert_eq!(report.failures, 4);
        let test = &report.categories[0];
        assert_eq!(
            (test.category.as_str(), test.count, test.pipelines),
            ("test", 3, 2)
        );
        let shown = test.sample.as_ref().unwrap();
        assert_eq!(
            (
                shown.message.as_str(),
                shown.pipeline_id.as_str(),
                shown.stage.as_str(),
                shown.action.as_str(),
                shown.at.as_str()
            ),
            (
                "newer",
                "pl-b",
                "Build",
                "UnitTests",
                "2025-11-21T15:46:40Z"
            )
        );
        assert_eq!(report.categories[1].category, "permissions");
        assert_eq!(report.categories[1].sample, None);
    }
}

mod plugins {
    use super::*;

    fn spec(name: &str, version: &str, active: bool, public: bool) -> crate::plugin::PluginSpec {
        let yaml = format!(
            "{{\"name\": \"{name}\", \"version\": \"{version}\", \"category\": \"build\", \
             \"pluginType\": \"CodeBuildStep\", \"computeType\": \"LARGE\", \"active\": {active}, \
             \"accessModifier\": \"{}\"}}",
            if public { "public" } else { "private" }
        );
        serde_json::from_str(&yaml).unwrap()
    }

    fn catalog() -> Vec<crate::plugin::PluginSpec> {
        let mut approval = spec("approve", "1.0.0", true, false);
        approval.plugin_type = PluginType::ManualApprovalStep;
        approval.category = "approval".into();
        let mut old_node = spec("node-build", "1.9.0", true, false);
        old_node.compute_type = ComputeType::Small;
        vec![
            spec("node-build", "2.0.1", true, true),
            spec("node-build", "2.1.0-rc.1", true, true),
            old_node,
            spec("node-build", "10.0.0", false, true),
            spec("retired", "1.0.0", false, false),
            approval,
        ]
    }

    #[test]
    fn the_inventory_judges_each_plugin_by_its_latest_version() {
        let summary = plugin_summary(&catalog());
        assert_eq!(
            (
                summary.plugins,
                summary.versions,
                summary.active,
                summary.inactive,
                summary.public,
                summary.private
            ),
            (3, 6, 2, 1, 1, 2)
        );
        assert_eq!(
            summary.by_category,
            BTreeMap::from([("approval".to_string(), 1), ("build".to_string(), 2)])
        );
        let distribution = plugin_distribution(&catalog());
        assert_eq!(
            distribution.by_plugin_type,
            BTreeMap::from([
                ("CodeBuildStep".to_string(), 2),
                ("ManualApprovalStep".to_string(), 1)
            ])
        );
        assert_eq!(
            distribution.by_compute_type,
            BTreeMap::from([("LARGE".to_string(), 2)]),
            "approval steps run no build"
        );
    }

    #[test]
    fn versions_are_listed_by_semver_with_latest_as_lookup_resolves_it() {
        let report = plugin_versions(&catalog(), 20);
        assert_eq!(report.total, 3);
        let node = &report.plugins[1];
        assert_eq!(node.name, "node-build");
        assert_eq!(
            node.latest, "2.0.1",
            "10.0.0 is inactive, 2.1.0-rc.1 a prerelease"
        );
        assert_eq!(
            node.versions,
            vec!["10.0.0", "2.1.0-rc.1", "2.0.1", "1.9.0"]
        );
        assert_eq!(node.active_versions, 3);
        assert_eq!(
            report.plugins[2].latest, "1.0.0",
            "only inactive: the highest"
        );
        assert_eq!(plugin_versions(&catalog(), 1).plugins.len(), 1);
    }

    fn plugin_rollups() -> Vec<Rollup> {
        let pd = |ms: i64, plugin: &str| format!("pd#{}#{plugin}", bucket_of(ms));
        vec![
            rollup(
                "2026-11-29",
                "pl-a",
                &[
                    ("pt#node-build@2.0.1", 4),
                    ("ps#node-build@2.0.1", 3),
                    ("pf#node-build@2.0.1", 1),
                    ("pec#test#node-build@2.0.1", 1),
                    ("pdn#node-build@2.0.1", 2),
                    ("pds#node-build@2.0.1", 120_000),
                    (&pd(60_000, "node-build@2.0.1"), 2),
                ],
            ),
            rollup(
                "2026-11-30",
                "pl-b",
                &[
                    ("pt#node-build@1.9.0", 3),
                    ("pf#node-build@1.9.0", 2),
                    ("pec#permissions#node-build@1.9.0", 1),
                    ("pec#test#node-build@1.9.0", 1),
                    ("pdn#node-build@1.9.0", 1),
                    ("pds#node-build@1.9.0", 300_000),
                    (&pd(300_000, "node-build@1.9.0"), 1),
                    ("pt#cfn-deploy@1.4.0", 1),
                    ("ps#cfn-deploy@1.4.0", 1),
                ],
            ),
        ]
    }

    #[test]
    fn build_success_adds_versions_up_per_plugin_and_interval() {
        let report = build_success(
            &plugin_rollups(),
            &range("2026-11-23", "2026-12-07"),
            Interval::Week,
            20,
        );
        let node = &report.plugins[0];
        assert_eq!(node.plugin, "node-build");
        let counts = |r: &RunCounts| (r.runs, r.succeeded, r.failed, r.other, r.success_rate);
        assert_eq!(counts(&node.total), (7, 3, 3, 1, Some(50.0)));
        assert_eq!(
            node.buckets.iter().map(counts).collect::<Vec<_>>(),
            vec![(4, 3, 1, 0, Some(75.0)), (3, 0, 2, 1, Some(0.0))]
        );
        assert_eq!(
            node.versions
                .iter()
                .map(|v| (v.version.as_str(), v.runs.runs))
                .collect::<Vec<_>>(),
            vec![("2.0.1", 4), ("1.9.0", 3)]
        );
        assert_eq!(report.plugins[1].plugin, "cfn-deploy");
        assert_eq!(report.plugins[1].total.success_rate, Some(100.0));
    }

    #[test]
    fn build_duration_and_failures_per_plugin() {
        let window = range("2026-11-23", "2026-12-07");
        let durations = build_durations(&plugin_rollups(), &window, 20);
        assert_eq!(durations.plugins.len(), 1, "cfn-deploy has no duration");
        let node = &durations.plugins[0];
        assert_eq!(
            (
                node.duration.count,
                node.duration.avg_ms,
                node.duration.p95_ms
            ),
            (3, 140_000, 299_320)
        );
        assert_eq!(node.versions[0].version, "2.0.1");
        assert_eq!(node.versions[0].duration.p95_ms, 59_947);

        let failures = build_failures(&plugin_rollups(), &window, 20);
        let node = &failures.plugins[0];
        assert_eq!(
            (
                node.plugin.as_str(),
                node.failures,
                node.runs,
                node.failure_rate
            ),
            ("node-build", 3, 7, Some(42.86))
        );
        assert_eq!(
            node.categories,
            vec![
                CategoryCount {
                    category: "test".into(),
                    count: 2
                },
                CategoryCount {
                    category: "permissions".into(),
                    count: 1
                },
            ]
        );
        assert_eq!(failures.plugins[1].plugin, "cfn-deploy");
        assert_eq!(failures.plugins[1].failures, 0);
    }
}

#[test]
fn a_window_takes_instants_as_given_and_dates_as_whole_utc_days() {
    assert_eq!(parse_window(None, None), Ok((None, None)));
    let day = 1_795_132_800_000; // 2026-11-20T00:00:00Z
    assert_eq!(
        parse_window(Some("2026-11-20"), Some("2026-11-20")),
        Ok((Some(day), Some(day + 86_400_000 - 1)))
    );
    assert_eq!(
        parse_window(
            Some("2026-11-20T10:00:00.5Z"),
            Some("2026-11-20T13:00:00+02:00")
        ),
        Ok((Some(day + 36_000_500), Some(day + 39_600_000)))
    );
    assert_eq!(
        parse_window(Some("2026-11-21"), Some("2026-11-20")).map_err(|e| e.parameter),
        Err("from")
    );
    assert_eq!(
        parse_window(None, Some("yesterday")).map_err(|e| e.parameter),
        Err("to")
    );
}
