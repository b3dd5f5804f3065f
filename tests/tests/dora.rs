//! DORA end to end against the emulator: production stage events through the ingest into the
//! deployments facet and the pipeline's timeline, and out of `GET /api/reports/dora`.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use pb_aws::executions::ExecutionStore;
use pb_domain::histogram::bucket_of;
use pb_ingest::Ingest;
use pb_tests::api::ApiBed;
use pb_tests::events::{retarget, sqs_batch};
use serde_json::{json, Value};

const DAY: &str = "2026-11-20";
const MINUTE: i64 = 60_000;
const FAILED: &str = "0a0a0a0a-1111-4111-8111-000000000001";
const RESTORED: &str = "0a0a0a0a-1111-4111-8111-000000000002";
const FROM_COMMIT: &str = "0a0a0a0a-1111-4111-8111-000000000003";

fn event(detail_type: &str, id: String, time: &str, detail: Value) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": detail_type, "source": "aws.codepipeline",
        "account": "123456789012", "time": time, "region": "us-east-1", "resources": [],
        "detail": detail,
    })
}

/// One execution whose Deploy stage ends in `outcome`: the pipeline's start (with the commit's
/// author time when given), the stage's start and outcome, and the pipeline's outcome.
fn execution(
    pipeline: &str,
    execution_id: &str,
    start: &str,
    deployed: &str,
    outcome: &str,
    author_date: Option<&str>,
) -> Vec<Value> {
    let pipeline_event = |state: &str, time: &str| {
        let mut trigger = json!({"trigger-type": "WebhookV2", "commit-id": "4f1c2e9"});
        if let Some(author_date) = author_date {
            trigger["author-date"] = author_date.into();
        }
        event(
            "CodePipeline Pipeline Execution State Change",
            format!("{execution_id}-{state}"),
            time,
            json!({"pipeline": pipeline, "execution-id": execution_id, "state": state,
                   "start-time": start, "execution-trigger": trigger, "version": 1.0}),
        )
    };
    let stage_event = |state: &str, time: &str| {
        event(
            "CodePipeline Stage Execution State Change",
            format!("{execution_id}-Deploy-{state}"),
            time,
            json!({"pipeline": pipeline, "execution-id": execution_id, "stage": "Deploy",
                   "state": state, "start-time": start, "version": 1.0}),
        )
    };
    vec![
        pipeline_event("STARTED", start),
        stage_event("STARTED", start),
        stage_event(outcome, deployed),
        pipeline_event(outcome, deployed),
    ]
    .into_iter()
    .map(|e| retarget(e, pipeline))
    .collect()
}

/// A failed deployment, the one that restores it 75 minutes later (lead time from the start),
/// and one more whose commit was authored an hour before its execution started.
fn three_deployments(pipeline: &str) -> Vec<Value> {
    let mut events = execution(
        pipeline,
        FAILED,
        "2026-11-20T10:00:00Z",
        "2026-11-20T10:05:00Z",
        "FAILED",
        None,
    );
    events.extend(execution(
        pipeline,
        RESTORED,
        "2026-11-20T11:00:00Z",
        "2026-11-20T11:20:00Z",
        "SUCCEEDED",
        None,
    ));
    events.extend(execution(
        pipeline,
        FROM_COMMIT,
        "2026-11-20T12:00:00Z",
        "2026-11-20T12:10:00Z",
        "SUCCEEDED",
        Some("2026-11-20T11:00:00Z"),
    ));
    events
}

async fn deliver(ingest: &Ingest, events: &[Value]) {
    for (n, chunk) in events.chunks(10).enumerate() {
        let ids: Vec<String> = (0..chunk.len()).map(|i| format!("m-{n}-{i}")).collect();
        let batch = sqs_batch(
            ids.iter()
                .map(String::as_str)
                .zip(chunk.iter().map(Value::to_string)),
        );
        let (response, _) = ingest.handle(batch).await;
        assert!(response.batch_item_failures.is_empty());
    }
}

fn deployment_counters(counters: BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    counters
        .into_iter()
        .filter(|(name, _)| {
            ["dep#", "ltn", "lts", "lt#", "ltb#", "rtn", "rts", "rt#"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
        })
        .collect()
}

async fn deployments_of(api: &ApiBed, org: &str, pipeline_id: &str) -> BTreeMap<String, i64> {
    let store = ExecutionStore::new(
        api.bed.clients.dynamodb.clone(),
        &api.bed.stack.executions_table,
    );
    deployment_counters(store.rollup(org, DAY, pipeline_id).await.unwrap())
}

/// A pipeline registered for `org` with its stored definition's Deploy stage in `environment`.
async fn pipeline(
    api: &ApiBed,
    org: &str,
    label: &str,
    environment: Option<&str>,
) -> (String, String) {
    let bed = &api.bed;
    let name = format!("{}-{label}", bed.prefix);
    let id = format!("pl-{label}-{}", bed.prefix);
    bed.create_pipeline(&name, Some(&id)).await.unwrap();
    bed.register(&id, org, &name).await.unwrap();
    bed.store_definition_deploying_to(&id, &name, org, environment)
        .await
        .unwrap();
    (name, id)
}

fn expected_counters() -> BTreeMap<String, i64> {
    let (from_start, from_commit, restore) = (20 * MINUTE, 70 * MINUTE, 75 * MINUTE);
    let mut expected: BTreeMap<String, i64> = [
        ("dep#SUCCEEDED".to_string(), 2),
        ("dep#FAILED".into(), 1),
        ("ltn".into(), 2),
        ("lts".into(), from_start + from_commit),
        ("ltb#start".into(), 1),
        ("ltb#commit".into(), 1),
        ("rtn".into(), 1),
        ("rts".into(), restore),
        (format!("rt#{}", bucket_of(restore)), 1),
    ]
    .into_iter()
    .collect();
    for lead in [from_start, from_commit] {
        *expected
            .entry(format!("lt#{}", bucket_of(lead)))
            .or_default() += 1;
    }
    expected
}

#[tokio::test]
async fn production_deployments_count_exactly_in_any_order_and_the_report_shows_the_four_keys() {
    let api = ApiBed::new("dora").await.unwrap();
    let org = "acme";
    let (prod_name, prod_id) = pipeline(&api, org, "prod", Some("Production")).await;
    let (test_name, test_id) = pipeline(&api, org, "test", Some("staging")).await;
    let ingest = Ingest::new(&api.bed.clients, &api.bed.config);
    let mut events = three_deployments(&prod_name);
    events.extend(three_deployments(&test_name));
    events.reverse();
    deliver(&ingest, &events).await;
    deliver(&ingest, &events).await;

    assert_eq!(
        deployments_of(&api, org, &prod_id).await,
        expected_counters()
    );
    assert!(
        deployments_of(&api, org, &test_id).await.is_empty(),
        "staging is not production"
    );

    let token = api.token(org, &["reports:read"]).await.unwrap();
    let reply = api
        .get(
            &format!("/api/reports/dora?from={DAY}&to={DAY}&interval=day"),
            Some(&token),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let report = &reply.body;
    assert_eq!(report["deploymentFrequency"]["deployments"], 2);
    assert_eq!(report["deploymentFrequency"]["perDay"], 2.0);
    assert_eq!(report["deploymentFrequency"]["tier"], "elite");
    assert_eq!(report["changeFailureRate"]["deployments"], 3);
    assert_eq!(report["changeFailureRate"]["failed"], 1);
    assert_eq!(report["changeFailureRate"]["percent"], 33.33);
    assert_eq!(report["changeFailureRate"]["tier"], "low");
    assert_eq!(report["leadTime"]["fromCommit"], 1);
    assert_eq!(report["leadTime"]["fromStart"], 1);
    assert_within_histogram_error(&report["leadTime"]["p50Ms"], 20 * MINUTE);
    assert_within_histogram_error(&report["leadTime"]["p90Ms"], 70 * MINUTE);
    assert_eq!(report["leadTime"]["tier"], "elite");
    assert_eq!(report["timeToRestore"]["count"], 1);
    assert_within_histogram_error(&report["timeToRestore"]["p50Ms"], 75 * MINUTE);
    assert_eq!(report["timeToRestore"]["tier"], "high");
    assert_eq!(report["buckets"].as_array().unwrap().len(), 1);

    let project = |name: &str| format!("/api/reports/dora?from={DAY}&to={DAY}&project={name}");
    let payments = api.get(&project("payments"), Some(&token)).await.unwrap();
    assert_eq!(payments.body["changeFailureRate"]["deployments"], 3);
    let other = api.get(&project("ledger"), Some(&token)).await.unwrap();
    assert_eq!(other.body["changeFailureRate"]["deployments"], 0);
    assert_eq!(other.body["deploymentFrequency"]["tier"], Value::Null);
    let bad = api
        .get(&project("no%20spaces"), Some(&token))
        .await
        .unwrap();
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "invalid_parameter")
    );

    let stranger = api.token("globex", &["reports:read"]).await.unwrap();
    let theirs = api
        .get(
            &format!("/api/reports/dora?from={DAY}&to={DAY}&pipelineId={prod_id}"),
            Some(&stranger),
        )
        .await
        .unwrap();
    assert_eq!(
        theirs.body["changeFailureRate"]["deployments"], 0,
        "another org's pipeline"
    );
}

fn assert_within_histogram_error(value: &Value, exact_ms: i64) {
    let reported = value.as_f64().unwrap();
    let exact = exact_ms as f64;
    assert!(
        (reported - exact).abs() <= 0.0196 * exact,
        "{reported} vs {exact}"
    );
}

#[tokio::test]
async fn an_orgs_own_production_environments_apply_to_what_is_ingested_afterwards() {
    let api = ApiBed::new("dora-settings").await.unwrap();
    let org = "initech";
    let (live_name, live_id) = pipeline(&api, org, "live", Some("live")).await;
    let (prod_name, prod_id) = pipeline(&api, org, "prod", Some("prod")).await;
    let reader = api.token(org, &["reports:read"]).await.unwrap();
    let settings = api
        .get("/api/reports/dora/settings", Some(&reader))
        .await
        .unwrap();
    assert_eq!(
        settings.body["productionEnvironments"],
        json!(["production", "prod"])
    );
    assert_eq!(settings.body["customized"], false);

    let path = "/api/reports/dora/settings";
    let body = json!({"productionEnvironments": ["LIVE", "live"]});
    let refused = api
        .send_json(Method::PUT, path, &reader, &body)
        .await
        .unwrap();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let admin = api.token(org, &["reports:configure"]).await.unwrap();
    let stored = api
        .send_json(Method::PUT, path, &admin, &body)
        .await
        .unwrap();
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    assert_eq!(stored.body["productionEnvironments"], json!(["live"]));
    assert_eq!(stored.body["updatedBy"], format!("user@{org}"));

    let ingest = Ingest::new(&api.bed.clients, &api.bed.config);
    let mut events = three_deployments(&live_name);
    events.extend(three_deployments(&prod_name));
    deliver(&ingest, &events).await;
    assert_eq!(
        deployments_of(&api, org, &live_id).await,
        expected_counters()
    );
    assert!(
        deployments_of(&api, org, &prod_id).await.is_empty(),
        "prod is no longer production"
    );

    let other_org = api.token("umbrella", &["reports:read"]).await.unwrap();
    let untouched = api.get(path, Some(&other_org)).await.unwrap();
    assert_eq!(untouched.body["customized"], false);
}

#[tokio::test]
async fn bad_settings_are_refused_with_the_field_that_is_wrong() {
    let api = ApiBed::new("dora-bad").await.unwrap();
    let admin = api
        .token("acme", &["reports:configure", "reports:read"])
        .await
        .unwrap();
    let path = "/api/reports/dora/settings";
    let too_many: Vec<String> = (0..21).map(|i| format!("env{i}")).collect();
    let cases = [
        (
            json!({"productionEnvironments": []}),
            "productionEnvironments",
        ),
        (
            json!({"productionEnvironments": too_many}),
            "productionEnvironments",
        ),
        (
            json!({"productionEnvironments": ["prod", "pr od"]}),
            "productionEnvironments[1]",
        ),
        (
            json!({"productionEnvironments": ["p".repeat(65)]}),
            "productionEnvironments[0]",
        ),
    ];
    for (body, field) in cases {
        let reply = api
            .send_json(Method::PUT, path, &admin, &body)
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(reply.body["errors"][0]["field"], field, "{}", reply.body);
    }
    let unknown = json!({"productionEnvironments": ["prod"], "extra": true});
    let reply = api
        .send_json(Method::PUT, path, &admin, &unknown)
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let settings = api.get(path, Some(&admin)).await.unwrap();
    assert_eq!(settings.body["customized"], false, "nothing was stored");
}
