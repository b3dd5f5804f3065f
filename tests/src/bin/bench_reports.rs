//! Reports benchmark: the 30-day success-rate, duration, stage-failures and DORA reports after
//! 1,000 and after 100,000 executions. Figures, not assertions.
//!
//! The executions are synthetic (20 pipelines, three stages with one action each whose duration
//! varies ±20 % around a per-pipeline typical value, 85 % succeeded, 10 % failed, 3 % canceled,
//! 2 % superseded, at random instants of the 30 days; the Deploy stage deploys to production) and
//! go through the same
//! domain code the ingest runs: every event is planned with `pb_domain::execution::plan`, and
//! the rollup changes add up in memory instead of in 1.4 million `TransactWriteItems`. The summed
//! rollup items are then written with BatchWriteItem, and each report is timed twice: reading
//! and computing (what depends on the data) and end to end through the API router. Each case
//! gets a table of its own.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use axum::http::StatusCode;
use chrono::{NaiveDate, TimeZone, Utc};
use pb_aws::rollups::RollupStore;
use pb_aws::Clients;
use pb_domain::dora::DeploymentTimeline;
use pb_domain::event::{ActionType, ExecutionEvent, ExecutionResult, Scope};
use pb_domain::execution::{level_item, plan, Context, ItemState, PluginRef};
use pb_domain::reports::{self, Interval, ReportRange};
use pb_domain::rollup::{Facet, Rollup};
use pb_tests::api::ApiBed;
use pb_tests::request_counter::RequestCounter;
use pb_tests::rng::Rng;

const PIPELINES: usize = 20;
const DAYS: u32 = 30;
const FIRST_DAY: (i32, u32, u32) = (2026, 11, 1);
const RANGE: &str = "from=2026-11-01&to=2026-11-30";
const RUNS: usize = 5;
const CASES: [(&str, usize); 2] = [("bench-1k", 1_000), ("bench-100k", 100_000)];
const REPORTS: [&str; 4] = ["success-rate", "duration", "stage-failures", "dora"];
/// The stage whose `environment` is production in every synthetic pipeline.
const PRODUCTION_STAGE: &str = "Deploy";

/// One stage of every synthetic pipeline: its single action and the plugin version its step is
/// pinned to (the source action is the platform's own, attributed to no plugin).
struct StageShape {
    stage: &'static str,
    action: &'static str,
    category: &'static str,
    plugin: Option<(&'static str, &'static str)>,
}

const STAGES: [StageShape; 3] = [
    StageShape {
        stage: "Source",
        action: "Source",
        category: "Source",
        plugin: None,
    },
    StageShape {
        stage: "Build",
        action: "build",
        category: "Build",
        plugin: Some(("node-build", "2.0.1")),
    },
    StageShape {
        stage: "Deploy",
        action: "deploy",
        category: "Deploy",
        plugin: Some(("cfn-deploy", "1.1.0")),
    },
];

/// How long a pipeline's stage usually takes: 20 s for the source, 2 to 10 minutes otherwise.
fn typical_ms(pipeline: usize, stage: usize) -> i64 {
    match stage {
        0 => 20_000,
        _ => 120_000 + ((pipeline * 7 + stage * 3) % 9) as i64 * 60_000,
    }
}

/// One synthetic execution's events, in order: starts, stage/action outcomes, the outcome.
fn execution_events(rng: &mut Rng, index: usize, pipeline: &str) -> Vec<ExecutionEvent> {
    let day = rng.below(u64::from(DAYS)) as u32;
    let start = Utc
        .with_ymd_and_hms(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2 + day, 0, 0, 0)
        .single()
        .unwrap_or_default()
        .timestamp_millis()
        + rng.below(86_400_000) as i64;
    let roll = rng.below(100);
    let (outcome, failing_stage) = match roll {
        0..=84 => ("SUCCEEDED", None),
        85..=94 => ("FAILED", Some(1 + rng.below(2) as usize)),
        95..=97 => ("CANCELED", None),
        _ => ("SUPERSEDED", None),
    };
    let event =
        |state: &str, time_ms: i64, scope: Scope, result: Option<ExecutionResult>| ExecutionEvent {
            event_id: format!("{pipeline}-{index}-{state}-{time_ms}"),
            pipeline_arn: String::new(),
            pipeline_name: pipeline.to_string(),
            execution_id: format!("exec-{index}"),
            attempt: 1,
            state: state.to_string(),
            time_ms,
            execution_start_ms: Some(start),
            scope,
            trigger: None,
            result,
        };
    let mut events = vec![event("STARTED", start, Scope::Pipeline, None)];
    let mut clock = start + 1_000;
    for (i, shape) in STAGES.iter().enumerate() {
        let (stage, action, category) = (shape.stage, shape.action, shape.category);
        let stage_scope = Scope::Stage {
            stage: stage.to_string(),
        };
        let action_scope = Scope::Action {
            stage: stage.to_string(),
            action: action.to_string(),
            action_type: Some(ActionType {
                owner: Some("AWS".into()),
                provider: Some("CodeBuild".into()),
                category: Some(category.to_string()),
            }),
            region: None,
        };
        let fails = failing_stage == Some(i);
        let state = if fails { "FAILED" } else { "SUCCEEDED" };
        let took = typical_ms(index % PIPELINES, i) * (80 + rng.below(41) as i64) / 100;
        let result = fails.then(|| ExecutionResult {
            summary: Some(format!("{stage} failed: exit status {}", 1 + rng.below(3))),
            error_code: Some("JobFailed".into()),
            ..ExecutionResult::default()
        });
        events.push(event("STARTED", clock, stage_scope.clone(), None));
        events.push(event("STARTED", clock + 1_000, action_scope.clone(), None));
        events.push(event(state, clock + 1_000 + took, action_scope, result));
        events.push(event(state, clock + 2_000 + took, stage_scope, None));
        clock += 5_000 + took;
        if fails {
            break;
        }
    }
    events.push(event(outcome, clock, Scope::Pipeline, None));
    events
}

/// Runs every execution's events through `plan` against in-memory items, exactly as the ingest
/// would against the table, and adds up the rollup changes per (day, pipeline).
fn simulate(org: &str, executions: usize) -> Vec<Rollup> {
    let mut rng = Rng::new(0x5EED_0000 + executions as u64);
    let plugins: Vec<Option<PluginRef>> = STAGES
        .iter()
        .map(|shape| {
            shape.plugin.map(|(name, version)| PluginRef {
                name: name.into(),
                version: version.into(),
            })
        })
        .collect();
    let mut rollups: BTreeMap<(String, String), Rollup> = BTreeMap::new();
    let mut timelines: HashMap<String, DeploymentTimeline> = HashMap::new();
    for index in 0..executions {
        let pipeline = format!("pl-bench-{:02}", index % PIPELINES);
        let mut items: HashMap<String, ItemState> = HashMap::new();
        for event in execution_events(&mut rng, index, &pipeline) {
            let level_key = level_item(&event).map(|level| format!("{level:?}"));
            let plugin = match &event.scope {
                Scope::Action { stage, .. } => STAGES
                    .iter()
                    .position(|shape| shape.stage == stage)
                    .and_then(|i| plugins[i].as_ref()),
                _ => None,
            };
            let production_stage =
                matches!(&event.scope, Scope::Stage { stage } if stage == PRODUCTION_STAGE);
            let ctx = Context {
                org_id: org,
                pipeline_id: &pipeline,
                retention_days: 90,
                plugin,
                production_stage,
            };
            let execution = items.get("execution");
            let level = level_key.as_ref().and_then(|key| items.get(key));
            let timeline = timelines.get(&pipeline).filter(|_| production_stage);
            let planned = plan(ctx, &event, execution, level, timeline);
            if let Some(timeline) = planned.timeline {
                timelines.insert(pipeline.clone(), timeline);
            }
            for change in planned.rollups {
                let rollup = rollups
                    .entry((change.day.clone(), pipeline.clone()))
                    .or_insert_with(|| Rollup {
                        day: change.day.clone(),
                        pipeline_id: pipeline.clone(),
                        ..Rollup::default()
                    });
                for (name, value) in change.counters {
                    *rollup.counters.entry(name).or_default() += value;
                }
                rollup.counters.retain(|_, v| *v != 0);
                rollup.samples.extend(change.samples);
                rollup.action_categories.extend(change.action_categories);
            }
            if let Some(execution) = planned.execution {
                items.insert("execution".into(), execution);
            }
            if let (Some(level), Some(key)) = (planned.level, level_key) {
                items.insert(key, level);
            }
        }
    }
    rollups.into_values().collect()
}

/// What one report read: rollup items (pipeline-days) and counters.
struct Read {
    rollups: usize,
    counters: usize,
}

/// The read + compute part of a report, without HTTP and auth.
async fn compute(
    store: &RollupStore,
    org: &str,
    report: &str,
    range: &ReportRange,
) -> anyhow::Result<Read> {
    let days: Vec<String> = range
        .days()
        .iter()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect();
    let facet = match report {
        "success-rate" => Facet::Executions,
        "duration" => Facet::ExecutionDurations,
        "dora" => Facet::Deployments,
        _ => Facet::Stages,
    };
    let rollups = store.read(org, &days, &[facet]).await?;
    let json = match report {
        "success-rate" => {
            serde_json::to_string(&reports::success_series(&rollups, range, Interval::Week))?
        }
        "duration" => serde_json::to_string(&reports::execution_durations(&rollups, range, 20))?,
        "dora" => serde_json::to_string(&reports::dora(&rollups, range, Interval::Week))?,
        _ => serde_json::to_string(&reports::stage_failures(
            &rollups,
            range,
            Interval::Week,
            20,
        ))?,
    };
    ensure!(!json.is_empty());
    Ok(Read {
        rollups: rollups.len(),
        counters: rollups.iter().map(|r| r.counters.len()).sum(),
    })
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Figures {
    compute: Duration,
    http: Duration,
    queries: u64,
    read: Read,
}

/// Loads one org's rollups into a fresh table (moto's Query walks the whole table, so a shared
/// table would charge the second case for the first one's items) and times each report.
async fn measure(
    org: &str,
    executions: usize,
    range: &ReportRange,
) -> anyhow::Result<Vec<Figures>> {
    let api = ApiBed::new(org).await?;
    let counter = RequestCounter::default();
    let counted = Clients::new(
        &api.bed.sdk_config,
        &[SharedInterceptor::new(counter.clone())],
    );
    let store = RollupStore::new(counted.dynamodb.clone(), &api.bed.stack.executions_table);
    let started = Instant::now();
    let rollups = simulate(org, executions);
    let simulated = started.elapsed();
    store.put_all(org, &rollups).await?;
    let counters: usize = rollups.iter().map(|r| r.counters.len()).sum();
    println!(
        "  {executions:>7} executions → {} pipeline-days, {:.0} counters each over all facets (planned in {:.1} s)",
        rollups.len(),
        counters as f64 / rollups.len().max(1) as f64,
        simulated.as_secs_f64()
    );
    let token = api.token(org, &["reports:read"]).await?;
    let mut figures = Vec::new();
    for report in REPORTS {
        let path = match report {
            "dora" => format!("/api/reports/dora?{RANGE}"),
            _ => format!("/api/reports/execution/{report}?{RANGE}"),
        };
        let (mut compute_times, mut http_times) = (Vec::new(), Vec::new());
        let mut read = Read {
            rollups: 0,
            counters: 0,
        };
        counter.reset();
        for _ in 0..RUNS {
            let started = Instant::now();
            read = compute(&store, org, report, range).await?;
            compute_times.push(started.elapsed());
            let started = Instant::now();
            let reply = api.get(&path, Some(&token)).await?;
            http_times.push(started.elapsed());
            ensure!(reply.status == StatusCode::OK, "{path}: {:?}", reply.body);
        }
        let queries = counter
            .snapshot()
            .get("DynamoDB.Query")
            .copied()
            .unwrap_or_default();
        figures.push(Figures {
            compute: median(compute_times),
            http: median(http_times),
            queries: queries / RUNS as u64,
            read,
        });
    }
    Ok(figures)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let first = NaiveDate::from_ymd_opt(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2).context("date")?;
    let range = ReportRange {
        from: first,
        to: first + chrono::Days::new(u64::from(DAYS)),
    };
    println!(
        "reports benchmark: {DAYS}-day reports, {PIPELINES} pipelines, 3 stages; median of {RUNS} runs"
    );
    let [(small_org, small), (large_org, large)] = CASES;
    let small = measure(small_org, small, &range).await?;
    let large = measure(large_org, large, &range).await?;
    println!(
        "  {:<15} {:>24} {:>22} {:>14} {:>26}",
        "report",
        "read+compute 1k → 100k",
        "HTTP 1k → 100k",
        "ratio r+c/HTTP",
        "items, counters read"
    );
    for ((report, small), large) in REPORTS.iter().zip(&small).zip(&large) {
        println!(
            "  {report:<15} {:>9.1} → {:>7.1} ms {:>9.1} → {:>7.1} ms {:>7.2} / {:<5.2} {:>4} → {:<4} {:>6} → {:<6} ({} queries)",
            ms(small.compute),
            ms(large.compute),
            ms(small.http),
            ms(large.http),
            ms(large.compute) / ms(small.compute),
            ms(large.http) / ms(small.http),
            small.read.rollups,
            large.read.rollups,
            small.read.counters,
            large.read.counters,
            large.queries,
        );
    }
    Ok(())
}
