//! The report endpoints against the emulator: a known set of executions goes through the real
//! ingest handler (reversed, then all over again as duplicates), and every report must answer
//! exact numbers from the rollups it wrote.
//!
//! The world: org `acme` has `payments`, defined through the API (steps pinned to node-build
//! 2.0.1, security-scan 0.9.0 and cfn-deploy 1.1.0), and `inventory`, registered without a stored
//! definition; org `globex` has one pipeline of its own. Executions sit on the edges: a UTC
//! midnight (E1 starts Sunday 23:59:30 and ends on Monday), an ISO week (Sunday 29 / Monday 30
//! November 2026) and a month (30 November 23:59:59.999 / 1 December 00:00).

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use pb_ingest::Ingest;
use pb_tests::api::{sample_plugin, sample_plugins, ApiBed, Reply};
use pb_tests::emulator::{ACCOUNT_ID, REGION};
use pb_tests::events::sqs_batch;
use serde_json::{json, Value};

const ACME: &str = "acme";
const GLOBEX: &str = "globex";
/// Two ISO weeks: Monday 23 November to Sunday 6 December 2026.
const TWO_WEEKS: &str = "from=2026-11-23&to=2026-12-06";

struct Step {
    name: &'static str,
    category: &'static str,
    /// Seconds after the execution's first whole second.
    from: i64,
    to: i64,
    outcome: &'static str,
    /// error-code and summary of a failure.
    error: Option<(&'static str, &'static str)>,
}

struct Stage {
    name: &'static str,
    from: i64,
    to: i64,
    outcome: &'static str,
    steps: Vec<Step>,
}

struct Execution {
    id: &'static str,
    /// `start-time`, with milliseconds.
    start: &'static str,
    outcome: &'static str,
    end: i64,
    stages: Vec<Stage>,
}

fn step(name: &'static str, category: &'static str, from: i64, to: i64) -> Step {
    Step {
        name,
        category,
        from,
        to,
        outcome: "SUCCEEDED",
        error: None,
    }
}

fn failed_step(
    name: &'static str,
    category: &'static str,
    from: i64,
    to: i64,
    error: (&'static str, &'static str),
) -> Step {
    Step {
        outcome: "FAILED",
        error: Some(error),
        ..step(name, category, from, to)
    }
}

fn stage(name: &'static str, from: i64, to: i64, outcome: &'static str, steps: Vec<Step>) -> Stage {
    Stage {
        name,
        from,
        to,
        outcome,
        steps,
    }
}

const NPM_FAILURE: &str = "npm ERR! Test failed. See arn:aws:codebuild:us-east-1:123456789012:build/payments:1 for details; NPM_TOKEN=abc123";
const NPM_FAILURE_SCRUBBED: &str =
    "npm ERR! Test failed. See <arn> for details; NPM_TOKEN=<redacted>";
const DENIED: &str = "User: arn:aws:sts::123456789012:assumed-role/deployer is not authorized to perform: cloudformation:UpdateStack";
const DENIED_SCRUBBED: &str =
    "User: <arn> is not authorized to perform: cloudformation:UpdateStack";

/// Pipeline `payments`: durations 600 s, 300 s, 1,200.001 s, 60 s, 120 s.
fn payments_executions() -> Vec<Execution> {
    vec![
        Execution {
            id: "e1-sunday-to-monday",
            start: "2026-11-29T23:59:30.000Z",
            outcome: "SUCCEEDED",
            end: 600,
            stages: vec![
                stage(
                    "Build",
                    10,
                    132,
                    "SUCCEEDED",
                    vec![
                        step("node-build", "Build", 11, 131),
                        step("Scan", "Test", 11, 71),
                    ],
                ),
                stage(
                    "Prod",
                    140,
                    590,
                    "SUCCEEDED",
                    vec![step("cfn-deploy", "Deploy", 141, 581)],
                ),
            ],
        },
        Execution {
            id: "e2-monday-midnight",
            start: "2026-11-30T00:00:00.000Z",
            outcome: "FAILED",
            end: 300,
            stages: vec![stage(
                "Build",
                10,
                252,
                "FAILED",
                vec![failed_step(
                    "node-build",
                    "Build",
                    11,
                    251,
                    ("JobFailed", NPM_FAILURE),
                )],
            )],
        },
        Execution {
            id: "e3-last-millisecond-of-november",
            start: "2026-11-30T23:59:59.999Z",
            outcome: "SUCCEEDED",
            end: 1200,
            stages: vec![
                stage(
                    "Build",
                    10,
                    192,
                    "SUCCEEDED",
                    vec![
                        step("node-build", "Build", 11, 191),
                        step("Scan", "Test", 11, 101),
                    ],
                ),
                stage(
                    "Prod",
                    200,
                    1170,
                    "SUCCEEDED",
                    vec![step("cfn-deploy", "Deploy", 201, 1161)],
                ),
            ],
        },
        Execution {
            id: "e4-december-midnight",
            start: "2026-12-01T00:00:00.000Z",
            outcome: "CANCELED",
            end: 60,
            stages: vec![],
        },
        Execution {
            id: "e5-superseded",
            start: "2026-12-01T10:00:00.000Z",
            outcome: "SUPERSEDED",
            end: 120,
            stages: vec![],
        },
    ]
}

/// Pipeline `inventory` (no stored definition): durations 299.5 s, 1,800 s, 30 s.
fn inventory_executions() -> Vec<Execution> {
    let source = || {
        stage(
            "Source",
            1,
            12,
            "SUCCEEDED",
            vec![step("Source", "Source", 1, 11)],
        )
    };
    vec![
        Execution {
            id: "f1-denied",
            start: "2026-11-23T08:15:42.500Z",
            outcome: "FAILED",
            end: 299,
            stages: vec![
                source(),
                stage(
                    "Deploy",
                    17,
                    289,
                    "FAILED",
                    vec![failed_step(
                        "Deploy",
                        "Deploy",
                        18,
                        288,
                        ("PermissionError", DENIED),
                    )],
                ),
            ],
        },
        Execution {
            id: "f2-sunday-noon",
            start: "2026-11-29T12:00:00.000Z",
            outcome: "SUCCEEDED",
            end: 1800,
            stages: vec![
                source(),
                stage(
                    "Deploy",
                    20,
                    1790,
                    "SUCCEEDED",
                    vec![step("Deploy", "Deploy", 21, 1781)],
                ),
            ],
        },
        Execution {
            id: "f3-stopped",
            start: "2026-12-02T09:00:00.000Z",
            outcome: "STOPPED",
            end: 30,
            stages: vec![source()],
        },
    ]
}

fn globex_executions() -> Vec<Execution> {
    vec![Execution {
        id: "g1-compile",
        start: "2026-11-30T12:00:00.000Z",
        outcome: "FAILED",
        end: 70,
        stages: vec![stage(
            "Build",
            5,
            67,
            "FAILED",
            vec![failed_step(
                "compile",
                "Build",
                6,
                66,
                ("JobFailed", "compile error in globex"),
            )],
        )],
    }]
}

/// Every event of an execution, as CodePipeline would send them.
fn events_of(pipeline: &str, execution: &Execution) -> Vec<Value> {
    let start: DateTime<Utc> = execution.start.parse().expect("start-time");
    // Event times are whole seconds; the first event comes at or after `start-time`.
    let truncated = start.trunc_subsecs(0);
    let first_second = if truncated < start {
        truncated + Duration::seconds(1)
    } else {
        truncated
    };
    let at = |offset: i64| {
        (first_second + Duration::seconds(offset))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let detail = |state: &str| {
        json!({
            "pipeline": pipeline, "execution-id": execution.id, "start-time": execution.start,
            "state": state, "version": 3.0, "pipeline-execution-attempt": 1.0,
        })
    };
    let mut events = vec![
        envelope("Pipeline", &at(0), pipeline, detail("STARTED")),
        envelope(
            "Pipeline",
            &at(execution.end),
            pipeline,
            detail(execution.outcome),
        ),
    ];
    for stage in &execution.stages {
        let stage_detail = |state: &str| {
            let mut d = detail(state);
            d["stage"] = json!(stage.name);
            d
        };
        events.push(envelope(
            "Stage",
            &at(stage.from),
            pipeline,
            stage_detail("STARTED"),
        ));
        events.push(envelope(
            "Stage",
            &at(stage.to),
            pipeline,
            stage_detail(stage.outcome),
        ));
        for step in &stage.steps {
            let step_detail = |state: &str| {
                let mut d = stage_detail(state);
                d["action"] = json!(step.name);
                d["region"] = json!(REGION);
                d["type"] = json!({"owner": "AWS", "provider": "CodeBuild", "category": step.category, "version": "1"});
                d
            };
            events.push(envelope(
                "Action",
                &at(step.from),
                pipeline,
                step_detail("STARTED"),
            ));
            let mut outcome = step_detail(step.outcome);
            if let Some((code, summary)) = step.error {
                outcome["execution-result"] =
                    json!({"error-code": code, "external-execution-summary": summary});
            }
            events.push(envelope("Action", &at(step.to), pipeline, outcome));
        }
    }
    events
}

fn envelope(level: &str, time: &str, pipeline: &str, detail: Value) -> Value {
    let id = format!(
        "{pipeline}-{}-{level}-{}-{}-{}-{time}",
        detail["execution-id"].as_str().unwrap_or_default(),
        detail["stage"].as_str().unwrap_or("-"),
        detail["action"].as_str().unwrap_or("-"),
        detail["state"].as_str().unwrap_or_default(),
    );
    json!({
        "version": "0", "id": id,
        "detail-type": format!("CodePipeline {level} Execution State Change"),
        "source": "aws.codepipeline", "account": ACCOUNT_ID, "time": time, "region": REGION,
        "resources": [format!("arn:aws:codepipeline:{REGION}:{ACCOUNT_ID}:{pipeline}")],
        "detail": detail,
    })
}

struct World {
    api: ApiBed,
    acme: String,
    globex: String,
    payments: String,
    inventory: String,
    globex_pipeline: String,
}

async fn publish_yaml(api: &ApiBed, token: &str, yaml: Vec<u8>) {
    let reply = api.publish_yaml(token, yaml).await.unwrap();
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
}

/// acme publishes the six sample plugins and node-build 1.9.0, and retires rust-build.
async fn publish_catalog(api: &ApiBed, admin: &str) {
    for (_, yaml) in sample_plugins().unwrap() {
        publish_yaml(api, admin, yaml).await;
    }
    let node = String::from_utf8(sample_plugin("node-build").unwrap()).unwrap();
    publish_yaml(
        api,
        admin,
        node.replace("version: 2.0.1", "version: 1.9.0")
            .into_bytes(),
    )
    .await;
    let retired = api
        .send_json(
            Method::PATCH,
            "/api/plugins/rust-build/1.2.0",
            admin,
            &json!({"active": false}),
        )
        .await
        .unwrap();
    assert_eq!(retired.status, StatusCode::OK, "{:?}", retired.body);
}

async fn define_payments(api: &ApiBed, admin: &str, name: &str) -> String {
    let definition = json!({
        "name": name, "project": "payments",
        "source": {"type": "github", "repo": "acme/payments", "branch": "main",
                   "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/abc"},
        "stages": [
            {"name": "Build", "steps": [
                {"plugin": {"name": "node-build", "version": "^2"}},
                {"name": "Scan", "plugin": {"name": "security-scan", "version": "~0.9"}}
            ]},
            {"name": "Prod", "steps": [{"plugin": {"name": "cfn-deploy", "version": "latest"}, "metadata": {"stackName": "payments"}}]}
        ]
    });
    let created = api
        .post_json("/api/pipelines", admin, &definition)
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let registered = api
        .post_json(
            "/api/registry",
            admin,
            &json!({"pipelineId": id, "stackName": format!("{name}-stack"), "region": REGION}),
        )
        .await
        .unwrap();
    assert_eq!(registered.status, StatusCode::OK, "{:?}", registered.body);
    id
}

/// Builds the world and ingests every execution through the real handler: all events in
/// reverse order (outcomes before starts), then all of them again.
async fn world(label: &str) -> World {
    let api = ApiBed::new(label).await.unwrap();
    let admin = api.token(ACME, &["*"]).await.unwrap();
    publish_catalog(&api, &admin).await;
    let bed = &api.bed;
    let payments_name = format!("{}-payments", bed.prefix);
    let payments = define_payments(&api, &admin, &payments_name).await;
    let inventory_name = format!("{}-inventory", bed.prefix);
    let inventory = format!("pl-inventory-{}", bed.prefix);
    bed.register(&inventory, ACME, &inventory_name)
        .await
        .unwrap();
    let globex_name = format!("{}-globex", bed.prefix);
    let globex_pipeline = format!("pl-globex-{}", bed.prefix);
    bed.register(&globex_pipeline, GLOBEX, &globex_name)
        .await
        .unwrap();
    let mut events = Vec::new();
    for (name, id, executions) in [
        (&payments_name, &payments, payments_executions()),
        (&inventory_name, &inventory, inventory_executions()),
        (&globex_name, &globex_pipeline, globex_executions()),
    ] {
        bed.create_pipeline(name, Some(id)).await.unwrap();
        events.extend(executions.iter().flat_map(|e| events_of(name, e)));
    }
    assert_eq!(events.len(), 66);
    events.reverse();
    let ingest = Ingest::new(&bed.clients, &bed.config);
    for round in ["reversed", "duplicates"] {
        for (i, chunk) in events.chunks(10).enumerate() {
            let ids: Vec<String> = (0..chunk.len())
                .map(|j| format!("{round}-{i}-{j}"))
                .collect();
            let batch = sqs_batch(
                ids.iter()
                    .map(String::as_str)
                    .zip(chunk.iter().map(Value::to_string)),
            );
            let (response, summary) = ingest.handle(batch).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "{round}: {summary:?}"
            );
        }
    }
    World {
        acme: api.token(ACME, &["reports:read"]).await.unwrap(),
        globex: api.token(GLOBEX, &["reports:read"]).await.unwrap(),
        api,
        payments,
        inventory,
        globex_pipeline,
    }
}

async fn report(world: &World, token: &str, path: &str) -> Value {
    let reply = world.api.get(path, Some(token)).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
    reply.body
}

fn span(start: &str, end: &str) -> Value {
    json!({"start": format!("{start}T00:00:00Z"), "end": format!("{end}T00:00:00Z")})
}

/// `(start, total, succeeded, failed, canceled, superseded, stopped, successRate)` of a bucket.
type BucketRow = (String, u64, u64, u64, u64, u64, u64, Value);

fn outcome_series(body: &Value) -> Vec<BucketRow> {
    body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let n = |k: &str| b[k].as_u64().unwrap();
            (
                b["start"].as_str().unwrap().to_string(),
                n("total"),
                n("succeeded"),
                n("failed"),
                n("canceled"),
                n("superseded"),
                n("stopped"),
                b["successRate"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn execution_reports_answer_exact_numbers_from_ingested_events() {
    let w = world("rep-exec").await;
    let (payments, inventory) = (w.payments.as_str(), w.inventory.as_str());

    let counts = report(
        &w,
        &w.acme,
        &format!("/api/reports/execution/count?{TWO_WEEKS}"),
    )
    .await;
    assert_eq!(counts["range"], span("2026-11-23", "2026-12-07"));
    assert_eq!(
        counts["pipelines"],
        json!([
            {"pipelineId": payments, "total": 5, "succeeded": 2, "failed": 1, "canceled": 1,
             "superseded": 1, "stopped": 0, "successRate": 66.67,
             "firstExecution": "2026-11-29T23:59:00Z", "lastExecution": "2026-12-01T10:00:00Z"},
            {"pipelineId": inventory, "total": 3, "succeeded": 1, "failed": 1, "canceled": 0,
             "superseded": 0, "stopped": 1, "successRate": 50.0,
             "firstExecution": "2026-11-23T08:15:00Z", "lastExecution": "2026-12-02T09:00:00Z"},
        ])
    );

    let rate = report(
        &w,
        &w.acme,
        &format!("/api/reports/execution/success-rate?{TWO_WEEKS}"),
    )
    .await;
    assert_eq!(rate["interval"], "week");
    assert_eq!(
        rate["overall"],
        json!({"total": 8, "succeeded": 3, "failed": 2, "canceled": 1, "superseded": 1,
               "stopped": 1, "successRate": 60.0})
    );
    assert_eq!(
        outcome_series(&rate),
        vec![
            (
                "2026-11-23T00:00:00Z".into(),
                3,
                2,
                1,
                0,
                0,
                0,
                json!(66.67)
            ),
            ("2026-11-30T00:00:00Z".into(), 5, 1, 1, 1, 1, 1, json!(50.0)),
        ]
    );
    assert_eq!(rate["buckets"][1]["end"], "2026-12-07T00:00:00Z");
    let timeline = report(
        &w,
        &w.acme,
        &format!("/api/reports/execution/timeline?{TWO_WEEKS}"),
    )
    .await;
    assert_eq!(timeline, rate);

    let durations = report(
        &w,
        &w.acme,
        &format!("/api/reports/execution/duration?{TWO_WEEKS}"),
    )
    .await;
    assert_eq!(
        durations["pipelines"],
        json!([
            {"pipelineId": inventory, "count": 3, "avgMs": 709_833, "minMs": 29_592,
             "maxMs": 1_818_313, "p50Ms": 299_320, "p90Ms": 1_818_313, "p95Ms": 1_818_313,
             "p99Ms": 1_818_313},
            {"pipelineId": payments, "count": 5, "avgMs": 456_000, "minMs": 59_947,
             "maxMs": 1_181_142, "p50Ms": 299_320, "p90Ms": 1_181_142, "p95Ms": 1_181_142,
             "p99Ms": 1_181_142},
        ])
    );

    let heatmap = report(
        &w,
        &w.acme,
        &format!("/api/reports/execution/stage-failures?{TWO_WEEKS}"),
    )
    .await;
    assert_eq!(
        heatmap["buckets"],
        json!([
            span("2026-11-23", "2026-11-30"),
            span("2026-11-30", "2026-12-07")
        ])
    );
    let cell = |failures: u64, attempts: u64, rate: Value| json!({"failures": failures, "attempts": attempts, "failureRate": rate});
    assert_eq!(
        heatmap["stages"],
        json!([
            {"stage": "Build", "failures": 1, "attempts": 3, "failureRate": 33.33,
             "cells": [cell(0, 1, json!(0.0)), cell(1, 2, json!(50.0))]},
            {"stage": "Deploy", "failures": 1, "attempts": 2, "failureRate": 50.0,
             "cells": [cell(1, 2, json!(50.0)), cell(0, 0, Value::Null)]},
            {"stage": "Prod", "failures": 0, "attempts": 2, "failureRate": 0.0,
             "cells": [cell(0, 1, json!(0.0)), cell(0, 1, json!(0.0))]},
            {"stage": "Source", "failures": 0, "attempts": 3, "failureRate": 0.0,
             "cells": [cell(0, 2, json!(0.0)), cell(0, 1, json!(0.0))]},
        ])
    );

    let bottlenecks = report(
        &w,
        &w.acme,
        &format!("/api/reports/execution/stage-bottlenecks?{TWO_WEEKS}"),
    )
    .await;
    assert_eq!(
        bottlenecks["pipelines"],
        json!([
            {"pipelineId": inventory, "stages": [
                {"stage": "Deploy", "count": 2, "avgMs": 1_021_000, "p95Ms": 1_748_378, "maxMs": 1_748_378},
                {"stage": "Source", "count": 3, "avgMs": 11_000, "p95Ms": 11_100, "maxMs": 11_100},
            ]},
            {"pipelineId": payments, "stages": [
                {"stage": "Prod", "count": 2, "avgMs": 710_000, "p95Ms": 970_812, "maxMs": 970_812},
                {"stage": "Build", "count": 3, "avgMs": 182_000, "p95Ms": 246_019, "maxMs": 246_019},
            ]},
        ])
    );

    let actions = report(
        &w,
        &w.acme,
        &format!("/api/reports/execution/action-failures?{TWO_WEEKS}"),
    )
    .await;
    let rows = actions["actions"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows[..2],
        [
            json!({"pipelineId": inventory, "stage": "Deploy", "action": "Deploy", "category": "Deploy",
                   "failures": 1, "total": 2, "failureRate": 50.0}),
            json!({"pipelineId": payments, "stage": "Build", "action": "node-build", "category": "Build",
                   "failures": 1, "total": 3, "failureRate": 33.33}),
        ]
    );
    let mut clean: Vec<(String, String, u64)> = rows[2..]
        .iter()
        .map(|r| {
            (
                format!(
                    "{}/{}",
                    r["stage"].as_str().unwrap(),
                    r["action"].as_str().unwrap()
                ),
                r["category"].as_str().unwrap().to_string(),
                r["total"].as_u64().unwrap(),
            )
        })
        .collect();
    clean.sort();
    assert_eq!(
        clean,
        vec![
            ("Build/Scan".into(), "Test".into(), 2),
            ("Prod/cfn-deploy".into(), "Deploy".into(), 2),
            ("Source/Source".into(), "Source".into(), 3),
        ]
    );

    let errors = report(
        &w,
        &w.acme,
        &format!("/api/reports/execution/errors?{TWO_WEEKS}"),
    )
    .await;
    assert_eq!(
        errors,
        json!({
            "range": span("2026-11-23", "2026-12-07"),
            "failures": 2,
            "categories": [
                {"category": "build", "count": 1, "pipelines": 1, "sample": {
                    "message": NPM_FAILURE_SCRUBBED, "pipelineId": payments, "stage": "Build",
                    "action": "node-build", "at": "2026-11-30T00:04:11Z"}},
                {"category": "permissions", "count": 1, "pipelines": 1, "sample": {
                    "message": DENIED_SCRUBBED, "pipelineId": inventory, "stage": "Deploy",
                    "action": "Deploy", "at": "2026-11-23T08:20:31Z"}},
            ]
        })
    );
    let text = errors.to_string();
    assert!(
        !text.contains("123456789012") && !text.contains("abc123"),
        "{text}"
    );

    let one = report(
        &w,
        &w.acme,
        &format!("/api/reports/execution/count?{TWO_WEEKS}&pipelineId={inventory}&limit=1"),
    )
    .await;
    assert_eq!(one["pipelines"].as_array().unwrap().len(), 1);
    assert_eq!(one["pipelines"][0]["pipelineId"], inventory);
}

#[tokio::test]
async fn bucket_edges_fall_at_utc_midnight_iso_weeks_and_calendar_months() {
    let w = world("rep-edges").await;
    let days = report(
        &w,
        &w.acme,
        "/api/reports/execution/success-rate?from=2026-11-29&to=2026-12-01&interval=day",
    )
    .await;
    assert_eq!(days["range"], span("2026-11-29", "2026-12-02"));
    assert_eq!(
        outcome_series(&days),
        vec![
            // E1 starts 23:59:30 and ends after midnight: it counts on the day it started.
            (
                "2026-11-29T00:00:00Z".into(),
                2,
                2,
                0,
                0,
                0,
                0,
                json!(100.0)
            ),
            // E2 at 00:00:00.000 and E3 at 23:59:59.999.
            ("2026-11-30T00:00:00Z".into(), 2, 1, 1, 0, 0, 0, json!(50.0)),
            // E4 at 00:00:00.000 on the 1st, E5 later that day.
            ("2026-12-01T00:00:00Z".into(), 2, 0, 0, 1, 1, 0, Value::Null),
        ]
    );

    let months = report(
        &w,
        &w.acme,
        &format!("/api/reports/execution/success-rate?{TWO_WEEKS}&interval=month"),
    )
    .await;
    assert_eq!(
        months["buckets"].as_array().unwrap()[1]["start"],
        "2026-12-01T00:00:00Z"
    );
    assert_eq!(
        outcome_series(&months),
        vec![
            ("2026-11-23T00:00:00Z".into(), 5, 3, 2, 0, 0, 0, json!(60.0)),
            ("2026-12-01T00:00:00Z".into(), 3, 0, 0, 1, 1, 1, Value::Null),
        ]
    );

    // Instants at midnight end the range there: Monday 30 November alone.
    let monday = report(
        &w,
        &w.acme,
        "/api/reports/execution/count?from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z",
    )
    .await;
    assert_eq!(monday["range"], span("2026-11-30", "2026-12-01"));
    assert_eq!(monday["pipelines"][0]["total"], 2);
    assert_eq!(
        monday["pipelines"][0]["firstExecution"],
        "2026-11-30T00:00:00Z"
    );
    assert_eq!(
        monday["pipelines"][0]["lastExecution"],
        "2026-11-30T23:59:00Z"
    );

    // A range starting on a Thursday: its first week is clipped to Thursday-Sunday.
    let week = report(
        &w,
        &w.acme,
        "/api/reports/execution/stage-failures?from=2026-11-26&to=2026-12-01&interval=week",
    )
    .await;
    assert_eq!(
        week["buckets"],
        json!([
            span("2026-11-26", "2026-11-30"),
            span("2026-11-30", "2026-12-02")
        ])
    );
    let build = &week["stages"][0];
    assert_eq!(build["stage"], "Build");
    assert_eq!(
        build["cells"],
        json!([
            {"failures": 0, "attempts": 1, "failureRate": 0.0},
            {"failures": 1, "attempts": 2, "failureRate": 50.0},
        ])
    );

    let empty = report(
        &w,
        &w.acme,
        "/api/reports/execution/success-rate?from=2026-11-30T00:00:00Z&to=2026-11-30T00:00:00Z",
    )
    .await;
    assert_eq!(empty["buckets"], json!([]));
    assert_eq!(empty["overall"]["total"], 0);
}

#[tokio::test]
async fn plugin_reports_attribute_steps_to_their_pinned_versions() {
    let w = world("rep-plugins").await;
    let summary = report(&w, &w.acme, "/api/reports/plugins/summary").await;
    assert_eq!(
        summary,
        json!({"plugins": 8, "versions": 9, "active": 7, "inactive": 1, "public": 7, "private": 1,
               "byCategory": {"approval": 1, "build": 3, "deploy": 1, "security": 1, "test": 2}})
    );
    let distribution = report(&w, &w.acme, "/api/reports/plugins/distribution").await;
    assert_eq!(
        distribution,
        json!({"plugins": 8,
               "byPluginType": {"CodeBuildStep": 5, "ManualApprovalStep": 1, "ShellStep": 2},
               "byComputeType": {"LARGE": 1, "MEDIUM": 3, "SMALL": 3}})
    );
    let versions = report(&w, &w.acme, "/api/reports/plugins/versions?limit=3").await;
    assert_eq!(
        versions,
        json!({"total": 8, "plugins": [
            {"name": "cfn-deploy", "latest": "1.1.0", "activeVersions": 1, "versions": ["1.1.0"]},
            {"name": "integration-tests", "latest": "1.0.0", "activeVersions": 1, "versions": ["1.0.0"]},
            {"name": "manual-approval", "latest": "1.0.0", "activeVersions": 1, "versions": ["1.0.0"]},
        ]})
    );

    let success = report(
        &w,
        &w.acme,
        &format!("/api/reports/plugins/build-success-rate?{TWO_WEEKS}"),
    )
    .await;
    let runs = |runs: u64, succeeded: u64, failed: u64, rate: Value| json!({"runs": runs, "succeeded": succeeded, "failed": failed, "other": 0, "successRate": rate});
    let with_version = |version: &str, counts: Value| {
        let mut row = counts;
        row["version"] = json!(version);
        row
    };
    let total = |counts: Value, plugin: &str, buckets: Value, versions: Value| {
        let mut row = counts;
        row["plugin"] = json!(plugin);
        row["buckets"] = buckets;
        row["versions"] = versions;
        row
    };
    assert_eq!(
        success["plugins"],
        json!([
            total(
                runs(3, 2, 1, json!(66.67)),
                "node-build",
                json!([runs(1, 1, 0, json!(100.0)), runs(2, 1, 1, json!(50.0))]),
                json!([with_version("2.0.1", runs(3, 2, 1, json!(66.67)))])
            ),
            total(
                runs(2, 2, 0, json!(100.0)),
                "cfn-deploy",
                json!([runs(1, 1, 0, json!(100.0)), runs(1, 1, 0, json!(100.0))]),
                json!([with_version("1.1.0", runs(2, 2, 0, json!(100.0)))])
            ),
            total(
                runs(2, 2, 0, json!(100.0)),
                "security-scan",
                json!([runs(1, 1, 0, json!(100.0)), runs(1, 1, 0, json!(100.0))]),
                json!([with_version("0.9.0", runs(2, 2, 0, json!(100.0)))])
            ),
        ])
    );

    let durations = report(
        &w,
        &w.acme,
        &format!("/api/reports/plugins/build-duration?{TWO_WEEKS}"),
    )
    .await;
    assert_eq!(
        durations["plugins"],
        json!([
            {"plugin": "cfn-deploy", "count": 2, "avgMs": 700_000, "p95Ms": 970_812,
             "versions": [{"version": "1.1.0", "count": 2, "avgMs": 700_000, "p95Ms": 970_812}]},
            {"plugin": "node-build", "count": 3, "avgMs": 180_000, "p95Ms": 236_557,
             "versions": [{"version": "2.0.1", "count": 3, "avgMs": 180_000, "p95Ms": 236_557}]},
            {"plugin": "security-scan", "count": 2, "avgMs": 75_000, "p95Ms": 88_736,
             "versions": [{"version": "0.9.0", "count": 2, "avgMs": 75_000, "p95Ms": 88_736}]},
        ])
    );

    let failures = report(
        &w,
        &w.acme,
        &format!("/api/reports/plugins/build-failures?{TWO_WEEKS}&limit=2"),
    )
    .await;
    assert_eq!(
        failures["plugins"],
        json!([
            {"plugin": "node-build", "failures": 1, "runs": 3, "failureRate": 33.33,
             "categories": [{"category": "build", "count": 1}]},
            {"plugin": "cfn-deploy", "failures": 0, "runs": 2, "failureRate": 0.0, "categories": []},
        ])
    );
}

#[tokio::test]
async fn reports_see_only_the_callers_org() {
    let w = world("rep-orgs").await;
    let counts = report(
        &w,
        &w.globex,
        &format!("/api/reports/execution/count?{TWO_WEEKS}"),
    )
    .await;
    assert_eq!(counts["pipelines"].as_array().unwrap().len(), 1);
    assert_eq!(
        counts["pipelines"][0]["pipelineId"],
        w.globex_pipeline.as_str()
    );
    assert_eq!(counts["pipelines"][0]["failed"], 1);
    let errors = report(
        &w,
        &w.globex,
        &format!("/api/reports/execution/errors?{TWO_WEEKS}"),
    )
    .await;
    assert_eq!(errors["failures"], 1);
    assert_eq!(
        errors["categories"][0]["sample"]["message"],
        "compile error in globex"
    );
    let summary = report(&w, &w.globex, "/api/reports/plugins/summary").await;
    assert_eq!(summary["plugins"], 0);

    let acme_errors = report(
        &w,
        &w.acme,
        &format!("/api/reports/execution/errors?{TWO_WEEKS}"),
    )
    .await;
    assert!(!acme_errors.to_string().contains("globex"));
    let foreign = report(
        &w,
        &w.acme,
        &format!(
            "/api/reports/execution/success-rate?{TWO_WEEKS}&pipelineId={}",
            w.globex_pipeline
        ),
    )
    .await;
    assert_eq!(
        foreign["overall"]["total"], 0,
        "another org's pipeline matches nothing"
    );
    let heatmap = report(
        &w,
        &w.acme,
        &format!("/api/reports/execution/stage-failures?{TWO_WEEKS}"),
    )
    .await;
    let build = &heatmap["stages"][0];
    assert_eq!(
        (build["stage"].as_str(), build["attempts"].as_u64()),
        (Some("Build"), Some(3))
    );
}

async fn problem(api: &ApiBed, token: &str, path: &str) -> Reply {
    let reply = api.get(path, Some(token)).await.unwrap();
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "{path}: {:?}",
        reply.body
    );
    assert_eq!(reply.code(), "invalid_parameter", "{path}");
    reply
}

#[tokio::test]
async fn bad_parameters_are_problems_that_name_the_parameter() {
    let api = ApiBed::new("rep-params").await.unwrap();
    let token = api.token(ACME, &["reports:read"]).await.unwrap();
    for (path, parameter) in [
        (
            "/api/reports/execution/success-rate?interval=hour",
            "interval",
        ),
        (
            "/api/reports/execution/count?from=2026-12-03&to=2026-12-01",
            "from",
        ),
        (
            "/api/reports/execution/duration?from=2025-01-01&to=2026-01-02",
            "from",
        ),
        ("/api/reports/execution/errors?limit=0", "limit"),
        ("/api/reports/execution/action-failures?limit=101", "limit"),
        ("/api/reports/plugins/build-failures?limit=ten", "limit"),
        (
            "/api/reports/execution/stage-bottlenecks?to=yesterday",
            "to",
        ),
        ("/api/reports/execution/timeline?limit=5", "limit"),
        ("/api/reports/plugins/summary?from=2026-11-01", "from"),
        (
            "/api/reports/plugins/build-duration?pipelineId=pl-1",
            "pipelineId",
        ),
    ] {
        let reply = problem(&api, &token, path).await;
        let detail = reply.body["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("parameter '{parameter}'")),
            "{path}: {detail}"
        );
    }
    let too_long = problem(
        &api,
        &token,
        "/api/reports/execution/stage-failures?from=2025-01-01&to=2026-01-02",
    )
    .await;
    assert!(too_long.body["detail"]
        .as_str()
        .unwrap()
        .contains("at most 366"));
    let empty = api
        .get(
            "/api/reports/plugins/build-success-rate?from=2026-11-30T00:00:00Z&to=2026-11-30T00:00:00Z",
            Some(&token),
        )
        .await
        .unwrap();
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["buckets"], json!([]));
    assert_eq!(empty.body["plugins"], json!([]));
}
