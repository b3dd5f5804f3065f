//! API latency benchmark: p50/p99 of the ten most used routes under 20 concurrent clients, through
//! the router Lambda serves, on the emulator. Figures, not assertions.
//!
//! The emulator dominates every figure, so each route is printed next to its ratio to `GET
//! /health` (which touches no AWS service) and with the AWS requests one call makes, once on a
//! small org and once on one five times larger: a route whose requests per call grow with the
//! data reads item by item (an N+1 pattern).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use axum::http::{Method, StatusCode};
use pb_aws::executions::ExecutionStore;
use pb_domain::event::{ExecutionEvent, Scope};
use pb_domain::execution::Context;
use pb_tests::api::{sample_plugin, sample_plugins, ApiBed};
use pb_tests::events::store_as_ingested;
use pb_tests::request_counter::RequestCounter;
use serde_json::{json, Value};
use tokio::task::JoinSet;

const CLIENTS: usize = 20;
const CALLS_PER_ROUTE: usize = 100;
const ORG: &str = "bench-api";
/// 2026-11-18T00:00:00Z: seeded executions start from here, an hour apart.
const FIRST_START_MS: i64 = 1_795_046_400_000;
/// The week the seeded executions ran in.
const REPORT_RANGE: &str = "from=2026-11-18&to=2026-11-24&interval=day";

/// How much one org holds; the large one has five times the small one's data.
#[derive(Clone, Copy)]
struct Scale {
    label: &'static str,
    extra_plugins: usize,
    pipelines: usize,
    executions: usize,
    tokens: usize,
}

const SCALES: [Scale; 2] = [
    Scale {
        label: "small",
        extra_plugins: 4,
        pipelines: 4,
        executions: 10,
        tokens: 2,
    },
    Scale {
        label: "large",
        extra_plugins: 20,
        pipelines: 20,
        executions: 50,
        tokens: 10,
    },
];

/// A route as the benchmark calls it.
#[derive(Clone)]
struct Route {
    label: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
}

impl Route {
    fn get(label: &'static str, path: String) -> Self {
        Route {
            label,
            method: Method::GET,
            path,
            body: None,
        }
    }
}

/// `GET /health` first (the no-op the others are compared with), then the ten most used: what the
/// dashboard opens on (plugins, pipelines, a pipeline, its executions, the registry, a report),
/// what a plugin page and a pipeline editor read (a plugin, a version, a lookup), and tokens.
fn routes(pipeline_id: &str) -> Vec<Route> {
    let lookup = json!({"plugins": [
        {"name": "node-build", "version": "^2"}, {"name": "unit-tests", "version": "^1"},
        {"name": "security-scan", "version": "latest"}, {"name": "cfn-deploy", "version": "*"},
        {"name": "manual-approval", "version": "latest"},
    ]});
    vec![
        Route::get("GET /health", "/health".into()),
        Route::get("GET /api/plugins", "/api/plugins".into()),
        Route::get("GET /api/plugins/{name}", "/api/plugins/node-build".into()),
        Route::get(
            "GET /api/plugins/{name}/{version}",
            "/api/plugins/cfn-deploy/1.1.0".into(),
        ),
        Route {
            label: "POST /api/plugins/lookup",
            method: Method::POST,
            path: "/api/plugins/lookup".into(),
            body: Some(lookup),
        },
        Route::get("GET /api/pipelines", "/api/pipelines".into()),
        Route::get(
            "GET /api/pipelines/{id}",
            format!("/api/pipelines/{pipeline_id}"),
        ),
        Route::get(
            "GET /api/pipelines/{id}/executions",
            format!("/api/pipelines/{pipeline_id}/executions"),
        ),
        Route::get("GET /api/registry", "/api/registry".into()),
        Route::get(
            "GET /api/reports/…/success-rate",
            format!("/api/reports/execution/success-rate?{REPORT_RANGE}"),
        ),
        Route::get("GET /api/tokens", "/api/tokens".into()),
    ]
}

/// What one route measured.
struct Figures {
    p50: Duration,
    p99: Duration,
    requests_per_call: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!(
        "api latency benchmark: {CLIENTS} concurrent clients, {CALLS_PER_ROUTE} calls per route, \
         through the router on the emulator; key set and revocation answers cached as in Lambda"
    );
    let mut requests_per_call = Vec::new();
    for scale in SCALES {
        requests_per_call.push(measure(scale).await?);
    }
    print_growth(&requests_per_call);
    Ok(())
}

/// Seeds an org of `scale`, prints each route's figures as it is measured; each route's AWS
/// requests per call.
async fn measure(scale: Scale) -> anyhow::Result<Vec<(&'static str, f64)>> {
    let counter = RequestCounter::default();
    let api = ApiBed::configured(
        &format!("bench-api-{}", scale.label),
        &[SharedInterceptor::new(counter.clone())],
        |config| {
            // Production's defaults: the bed's are zero so that rotation tests see changes at once.
            config.tokens.key_set_ttl = Duration::from_secs(300);
            config.tokens.revocation_cache_ttl = Duration::from_secs(30);
        },
    )
    .await?;
    let admin = api.token(ORG, &["*"]).await?;
    let started = Instant::now();
    let pipeline_id = seed(&api, &admin, scale).await?;
    println!(
        "  {} org: {} plugins, {} pipelines (each registered), {} executions of one pipeline, {} machine tokens (seeded in {:.0} s)",
        scale.label,
        sample_plugins()?.len() + scale.extra_plugins,
        scale.pipelines,
        scale.executions,
        scale.tokens,
        started.elapsed().as_secs_f64()
    );
    println!(
        "    {:<36} {:>9} {:>9} {:>8} {:>8} {:>13}",
        "route", "p50 ms", "p99 ms", "p50 ×", "p99 ×", "AWS req/call"
    );
    let api = Arc::new(api);
    let mut baseline = None;
    let mut requests_per_call = Vec::new();
    for route in routes(&pipeline_id) {
        // Once untimed: fills the caches a warm container has, and checks the route answers.
        let status = call(&api, &route, &admin).await?;
        ensure!(status.is_success(), "{}: {status}", route.label);
        counter.reset();
        let latencies = hammer(&api, Arc::new(route.clone()), &admin).await?;
        let requests: u64 = counter.snapshot().values().sum();
        let figures = Figures {
            p50: percentile(&latencies, 50),
            p99: percentile(&latencies, 99),
            requests_per_call: requests as f64 / CALLS_PER_ROUTE as f64,
        };
        let health = baseline.get_or_insert((figures.p50, figures.p99));
        print_row(route.label, &figures, *health);
        requests_per_call.push((route.label, figures.requests_per_call));
    }
    Ok(requests_per_call)
}

async fn call(api: &ApiBed, route: &Route, token: &str) -> anyhow::Result<StatusCode> {
    let body = route
        .body
        .as_ref()
        .map(|body| ("application/json", body.to_string().into_bytes()));
    let reply = api
        .send(route.method.clone(), &route.path, Some(token), body)
        .await?;
    Ok(reply.status)
}

/// `CALLS_PER_ROUTE` calls from `CLIENTS` clients at once; each call's latency.
async fn hammer(
    api: &Arc<ApiBed>,
    route: Arc<Route>,
    token: &str,
) -> anyhow::Result<Vec<Duration>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        let (api, route, next, token) =
            (api.clone(), route.clone(), next.clone(), token.to_string());
        clients.spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < CALLS_PER_ROUTE {
                let started = Instant::now();
                let status = call(&api, &route, &token).await?;
                latencies.push(started.elapsed());
                ensure!(status.is_success(), "{}: {status}", route.label);
            }
            Ok::<_, anyhow::Error>(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(CALLS_PER_ROUTE);
    while let Some(joined) = clients.join_next().await {
        latencies.extend(joined.context("a benchmark client panicked")??);
    }
    Ok(latencies)
}

/// Nearest rank.
fn percentile(samples: &[Duration], percent: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

// ---- The org's data ----

/// Publishes the plugins, creates and registers the pipelines, mints the tokens and stores the
/// first pipeline's executions; that pipeline's id.
async fn seed(api: &ApiBed, admin: &str, scale: Scale) -> anyhow::Result<String> {
    for (path, yaml) in sample_plugins()? {
        expect_created(
            api.publish_yaml(admin, yaml).await?.status,
            &path.display().to_string(),
        )?;
    }
    for index in 0..scale.extra_plugins {
        let yaml = renamed_plugin(index)?;
        expect_created(
            api.publish_yaml(admin, yaml).await?.status,
            "an extra plugin",
        )?;
    }
    let mut pipeline_ids = Vec::new();
    for index in 0..scale.pipelines {
        pipeline_ids.push(create_registered_pipeline(api, admin, index).await?);
    }
    for index in 0..scale.tokens {
        let token =
            json!({"scope": format!("ci-{index}"), "perms": ["plugins:read"], "expiresInDays": 30});
        let reply = api.post_json("/api/tokens", admin, &token).await?;
        expect_created(reply.status, "a machine token")?;
    }
    let first = pipeline_ids.first().context("no pipeline seeded")?.clone();
    store_executions(api, &first, scale.executions).await?;
    Ok(first)
}

fn expect_created(status: StatusCode, what: &str) -> anyhow::Result<()> {
    ensure!(status == StatusCode::CREATED, "{what}: {status}");
    Ok(())
}

/// The sample `shell-script` plugin under another name.
fn renamed_plugin(index: usize) -> anyhow::Result<Vec<u8>> {
    let yaml = String::from_utf8(sample_plugin("shell-script")?)?;
    let renamed = yaml.replacen(
        "name: shell-script",
        &format!("name: shell-script-{index}"),
        1,
    );
    ensure!(
        renamed != yaml,
        "samples/plugins/shell-script.yaml names itself otherwise"
    );
    Ok(renamed.into_bytes())
}

async fn create_registered_pipeline(
    api: &ApiBed,
    admin: &str,
    index: usize,
) -> anyhow::Result<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../samples/pipelines/payments-service.json"
    );
    let mut definition: Value = serde_json::from_slice(&std::fs::read(path).context(path)?)?;
    definition["name"] = json!(format!("payments-service-{index}"));
    let reply = api.post_json("/api/pipelines", admin, &definition).await?;
    expect_created(reply.status, "a pipeline")?;
    let id = reply.body["id"]
        .as_str()
        .context("a pipeline without id")?
        .to_string();
    let entry = json!({"pipelineId": id, "stackName": format!("pb-{ORG}-payments-{index}"), "region": "us-east-1"});
    let registered = api.post_json("/api/registry", admin, &entry).await?;
    ensure!(
        registered.status.is_success(),
        "registering {id}: {}",
        registered.status
    );
    Ok(id)
}

/// Executions as the ingest stores them: each started and succeeded.
async fn store_executions(api: &ApiBed, pipeline_id: &str, count: usize) -> anyhow::Result<()> {
    let store = ExecutionStore::new(
        api.bed.clients.dynamodb.clone(),
        &api.bed.stack.executions_table,
    );
    let context = Context {
        org_id: ORG,
        pipeline_id,
        retention_days: 90,
        plugin: None,
        production_stage: false,
    };
    for index in 0..count {
        let start_ms = FIRST_START_MS + index as i64 * 3_600_000;
        for (state, at_ms) in [("STARTED", start_ms), ("SUCCEEDED", start_ms + 600_000)] {
            let event = pipeline_event(index, state, start_ms, at_ms);
            store_as_ingested(&store, context, &event).await?;
        }
    }
    Ok(())
}

fn pipeline_event(index: usize, state: &str, start_ms: i64, at_ms: i64) -> ExecutionEvent {
    let execution_id = format!("0b5e1c2d-3f4a-4b6c-8d7e-{index:012x}");
    ExecutionEvent {
        event_id: format!("{execution_id}-{state}"),
        pipeline_arn: "arn:aws:codepipeline:us-east-1:123456789012:payments-service-0".into(),
        pipeline_name: "payments-service-0".into(),
        execution_id,
        attempt: 1,
        state: state.into(),
        time_ms: at_ms,
        execution_start_ms: Some(start_ms),
        trigger: None,
        scope: Scope::Pipeline,
        result: None,
    }
}

// ---- Figures ----

fn print_row(label: &str, figures: &Figures, (health_p50, health_p99): (Duration, Duration)) {
    println!(
        "    {label:<36} {:>9.2} {:>9.2} {:>8.0} {:>8.0} {:>13.2}",
        ms(figures.p50),
        ms(figures.p99),
        ratio(figures.p50, health_p50),
        ratio(figures.p99, health_p99),
        figures.requests_per_call
    );
}

/// A smaller difference is the token check refreshing its cached revocation answer (every 30 s,
/// by every client that finds it expired) or a retry; the counter counts those too.
const GROWTH_WORTH_A_LOOK: f64 = 0.5;

/// A route whose requests per call grow with the org's data reads item by item.
fn print_growth(requests_per_call: &[Vec<(&'static str, f64)>]) {
    let (Some(small), Some(large)) = (requests_per_call.first(), requests_per_call.get(1)) else {
        return;
    };
    println!("  AWS requests per call, small → large org:");
    for ((label, at_small), (_, at_large)) in small.iter().zip(large) {
        let verdict = if at_large - at_small >= GROWTH_WORTH_A_LOOK {
            "  grows with the data"
        } else {
            ""
        };
        println!("    {label:<36} {at_small:>6.2} → {at_large:>6.2}{verdict}");
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn ratio(duration: Duration, baseline: Duration) -> f64 {
    duration.as_secs_f64() / baseline.as_secs_f64().max(1e-9)
}
