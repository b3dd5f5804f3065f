//! `pb reports REPORT`: any report, as tables with a sparkline per series; `--json` for the
//! answer as the API sent it.

use serde_json::Value;

use super::Context;
use crate::args::{Interval, Report, ReportArgs};
use crate::error::CliError;
use crate::render::{cell, is_list_of_objects, object_table, sparkline};

/// What a series is drawn from: the first of these its buckets have.
const SERIES_METRICS: [&str; 6] = [
    "successRate",
    "failureRate",
    "total",
    "failures",
    "count",
    "succeeded",
];

/// The report's path under `/api/reports` and the options it takes.
fn route(report: Report) -> (&'static [&'static str], &'static [&'static str]) {
    const LIST: &[&str] = &["from", "to", "limit", "pipeline"];
    const SERIES: &[&str] = &["from", "to", "interval", "pipeline"];
    const SERIES_LIST: &[&str] = &["from", "to", "interval", "limit", "pipeline"];
    const PLUGIN_LIST: &[&str] = &["from", "to", "limit"];
    const PLUGIN_SERIES: &[&str] = &["from", "to", "interval", "limit"];
    match report {
        Report::ExecutionCount => (&["execution", "count"], LIST),
        Report::SuccessRate => (&["execution", "success-rate"], SERIES),
        Report::Timeline => (&["execution", "timeline"], SERIES),
        Report::Duration => (&["execution", "duration"], LIST),
        Report::StageFailures => (&["execution", "stage-failures"], SERIES_LIST),
        Report::StageBottlenecks => (&["execution", "stage-bottlenecks"], LIST),
        Report::ActionFailures => (&["execution", "action-failures"], LIST),
        Report::Errors => (&["execution", "errors"], LIST),
        Report::PluginsSummary => (&["plugins", "summary"], &[]),
        Report::PluginsDistribution => (&["plugins", "distribution"], &[]),
        Report::PluginsVersions => (&["plugins", "versions"], &["limit"]),
        Report::PluginsBuildSuccessRate => (&["plugins", "build-success-rate"], PLUGIN_SERIES),
        Report::PluginsBuildDuration => (&["plugins", "build-duration"], PLUGIN_LIST),
        Report::PluginsBuildFailures => (&["plugins", "build-failures"], PLUGIN_LIST),
        Report::Dora => (
            &["dora"],
            &["from", "to", "interval", "pipeline", "project"],
        ),
    }
}

/// The query the report takes; an option it does not take is a usage error, not a 400.
fn query(args: &ReportArgs, accepted: &[&str]) -> Result<Vec<(&'static str, String)>, CliError> {
    let interval = args.interval.map(|i| {
        match i {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
        .to_string()
    });
    let given = [
        ("from", "from", args.from.clone()),
        ("to", "to", args.to.clone()),
        ("interval", "interval", interval),
        ("limit", "limit", args.limit.map(|l| l.to_string())),
        ("pipeline", "pipelineId", args.pipeline.clone()),
        ("project", "project", args.project.clone()),
    ];
    let mut query = Vec::new();
    for (option, parameter, value) in given {
        let Some(value) = value else { continue };
        if !accepted.contains(&option) {
            return Err(CliError::Usage(format!(
                "this report takes no --{option} (it takes: {})",
                if accepted.is_empty() {
                    "no options".to_string()
                } else {
                    accepted
                        .iter()
                        .map(|a| format!("--{a}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
        query.push((parameter, value));
    }
    Ok(query)
}

pub async fn run(context: &Context, args: ReportArgs) -> Result<u8, CliError> {
    let (path, accepted) = route(args.report);
    let query = query(&args, accepted)?;
    let segments: Vec<&str> = ["api", "reports"].iter().chain(path).copied().collect();
    let report: Value = context.api()?.get(&segments, &query).await?;
    if context.json {
        context.print_json(&report)?;
    } else {
        print!("{}", render(&report));
    }
    Ok(0)
}

/// Scalars and small objects as `key: value` lines, then each list as a table; a list of
/// buckets gets a sparkline, and so does each row that holds a series of its own.
pub fn render(report: &Value) -> String {
    let Some(fields) = report.as_object() else {
        return format!("{}\n", cell(report));
    };
    let mut out = String::new();
    for (key, value) in fields.iter().filter(|(_, v)| !is_list_of_objects(v)) {
        out.push_str(&format!("{key}: {}\n", summary(value)));
    }
    for (key, value) in fields.iter().filter(|(_, v)| is_list_of_objects(v)) {
        let rows = value.as_array().cloned().unwrap_or_default();
        out.push_str(&format!("\n{key}:\n"));
        out.push_str(&object_table(&with_trends(&rows)));
        if let Some((metric, line)) = series_line(&rows) {
            out.push_str(&format!("{metric}: {line}\n"));
        }
    }
    out
}

/// An object's scalar members on one line.
fn summary(value: &Value) -> String {
    match value.as_object() {
        Some(members) => members
            .iter()
            .filter(|(_, v)| !v.is_object() && !v.is_array())
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(" "),
        None => cell(value),
    }
}

/// Rows that hold a series of their own get it as a `trend` sparkline column.
fn with_trends(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .map(|row| {
            let mut row = row.clone();
            let trend = row.as_object().and_then(|members| {
                members
                    .values()
                    .filter_map(Value::as_array)
                    .find_map(|series| series_line(series))
            });
            if let (Some((_, line)), Some(members)) = (trend, row.as_object_mut()) {
                members.insert("trend".into(), Value::String(line));
            }
            row
        })
        .collect()
}

/// The sparkline of a list of buckets, and the metric it draws.
fn series_line(rows: &[Value]) -> Option<(&'static str, String)> {
    let first = rows.first()?.as_object()?;
    let metric = SERIES_METRICS.iter().find(|m| first.contains_key(**m))?;
    let values: Vec<Option<f64>> = rows.iter().map(|r| r[*metric].as_f64()).collect();
    (values.len() > 1).then(|| (*metric, sparkline(&values)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_series_report_reads_as_its_totals_a_table_and_a_sparkline() {
        let report = json!({
            "interval": "week",
            "overall": {"total": 4, "succeeded": 2, "failed": 2, "successRate": 50.0},
            "buckets": [
                {"start": "2026-11-02T00:00:00Z", "total": 2, "successRate": 100.0},
                {"start": "2026-11-09T00:00:00Z", "total": 0, "successRate": null},
                {"start": "2026-11-16T00:00:00Z", "total": 2, "successRate": 0.0}
            ]
        });
        assert_eq!(
            render(&report),
            "interval: week\n\
             overall: failed=2 succeeded=2 successRate=50.0 total=4\n\
             \n\
             buckets:\n\
             START                 SUCCESSRATE  TOTAL\n\
             2026-11-02T00:00:00Z  100.0        2\n\
             2026-11-09T00:00:00Z  -            0\n\
             2026-11-16T00:00:00Z  0.0          2\n\
             successRate: █ ▁\n"
        );
    }

    #[test]
    fn rows_with_their_own_series_get_a_trend() {
        let rows = [json!({"stage": "Build", "cells": [
            {"failureRate": 0.0}, {"failureRate": 50.0}, {"failureRate": 100.0}
        ]})];
        assert_eq!(with_trends(&rows)[0]["trend"], "▁▅█");
    }

    #[test]
    fn an_option_the_report_does_not_take_is_a_usage_error() {
        let args = ReportArgs {
            report: Report::PluginsSummary,
            from: Some("2026-11-01".into()),
            to: None,
            interval: None,
            limit: None,
            pipeline: None,
            project: None,
        };
        let (_, accepted) = route(args.report);
        let error = query(&args, accepted).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("takes no --from"), "{error}");
    }

    #[test]
    fn the_dora_report_takes_a_project_and_draws_its_deployments() {
        let args = ReportArgs {
            report: Report::Dora,
            from: Some("2026-11-01".into()),
            to: None,
            interval: Some(Interval::Week),
            limit: None,
            pipeline: None,
            project: Some("payments".into()),
        };
        let (path, accepted) = route(args.report);
        assert_eq!(path, ["dora"]);
        let sent = query(&args, accepted).unwrap();
        assert!(sent.contains(&("project", "payments".to_string())));
        let limited = ReportArgs {
            limit: Some(5),
            ..args
        };
        assert!(query(&limited, accepted).is_err(), "dora takes no --limit");
        let report = json!({
            "deploymentFrequency": {"deployments": 3, "perDay": 0.5, "tier": "high"},
            "buckets": [
                {"start": "2026-11-02T00:00:00Z", "succeeded": 1, "failed": 0},
                {"start": "2026-11-09T00:00:00Z", "succeeded": 2, "failed": 1}
            ]
        });
        let text = render(&report);
        assert!(
            text.contains("deploymentFrequency: deployments=3 perDay=0.5 tier=high"),
            "{text}"
        );
        assert!(text.contains("succeeded: ▁█"), "{text}");
    }
}
