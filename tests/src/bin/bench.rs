//! `make bench`: replays 10,000 synthetic CodePipeline events (200 pipelines, all three
//! detail-types, 5 % duplicates, shuffled) through the ingest handler in batches of 10 against the
//! emulator, and prints throughput, AWS requests per event by operation, handler CPU per event and
//! peak RSS. Figures, not assertions: the machine is shared and the emulator dominates wall time.

use std::time::Instant;

use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use pb_aws::metrics::RequestCounter;
use pb_aws::resources::SourceBus;
use pb_domain::event::{ACTION_DETAIL_TYPE, PIPELINE_DETAIL_TYPE, STAGE_DETAIL_TYPE};
use pb_ingest::{BatchSummary, Ingest};
use pb_tests::emulator::{TestBed, ACCOUNT_ID, REGION};
use pb_tests::events::sqs_batch;
use serde_json::{json, Value};

const PIPELINES: usize = 200;
const EVENTS: usize = 10_000;
const DUPLICATE_SHARE: f64 = 0.05;
const STAGES: [(&str, &str, &str); 4] = [
    ("Source", "Checkout", "Source"),
    ("Build", "Compile", "Build"),
    ("Test", "UnitTests", "Test"),
    ("Deploy", "Release", "Deploy"),
];
const WRITE_OPERATIONS: [&str; 5] = [
    "DynamoDB.PutItem",
    "DynamoDB.UpdateItem",
    "DynamoDB.TransactWriteItems",
    "DynamoDB.BatchWriteItem",
    "DynamoDB.DeleteItem",
];

/// xorshift64*: deterministic, so every run replays the same events in the same order.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn iso(ms: i64, with_millis: bool) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    if with_millis {
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

fn event(id: usize, detail_type: &str, pipeline: &str, time_ms: i64, detail: Value) -> Value {
    json!({
        "version": "0", "id": format!("bench-{id:06}"), "detail-type": detail_type,
        "source": "aws.codepipeline", "account": ACCOUNT_ID, "time": iso(time_ms, false),
        "region": REGION, "resources": [format!("arn:aws:codepipeline:{REGION}:{ACCOUNT_ID}:{pipeline}")],
        "detail": detail,
    })
}

/// One execution's events in emission order: pipeline start, each stage and its action, outcome.
fn execution_events(
    rng: &mut Rng,
    pipeline: &str,
    execution: usize,
    start_ms: i64,
    next_id: &mut usize,
) -> Vec<Value> {
    let execution_id = format!("exec-{execution:06}");
    let start = iso(start_ms, true);
    let base = |state: &str| {
        json!({"pipeline": pipeline, "execution-id": execution_id, "start-time": start, "state": state,
               "version": 1.0, "pipeline-execution-attempt": 1.0})
    };
    let mut emit = |events: &mut Vec<Value>, detail_type: &str, time: i64, detail: Value| {
        *next_id += 1;
        events.push(event(*next_id, detail_type, pipeline, time, detail));
    };
    let mut events = Vec::new();
    let mut started = base("STARTED");
    started["execution-trigger"] = json!({"provider-type": "CodeStarSourceConnection",
        "full-repository-name": "acme/service", "commit-id": format!("{:040x}", rng.next()), "branch-name": "main"});
    emit(&mut events, PIPELINE_DETAIL_TYPE, start_ms + 1_000, started);
    let failing_stage = (rng.below(10) == 0).then(|| 1 + rng.below(3));
    let mut time = start_ms + 2_000;
    for (index, (stage, action, category)) in STAGES.iter().enumerate() {
        let failed = failing_stage == Some(index);
        let outcome = if failed { "FAILED" } else { "SUCCEEDED" };
        let stage_detail = |state: &str| {
            let mut d = base(state);
            d["stage"] = json!(stage);
            d
        };
        let stage_started = stage_detail("STARTED");
        let stage_done = stage_detail(outcome);
        let action_detail = |state: &str| {
            let mut d = base(state);
            d["stage"] = json!(stage);
            d["action"] = json!(action);
            d["region"] = json!(REGION);
            d["type"] = json!({"owner": "AWS", "provider": "CodeBuild", "category": category, "version": "1"});
            d
        };
        let action_started = action_detail("STARTED");
        let mut action_done = action_detail(outcome);
        action_done["execution-result"] = if failed {
            json!({"external-execution-summary": format!("Build failed in {stage}: exit status 1"), "error-code": "JobFailed"})
        } else {
            json!({"external-execution-summary": "Succeeded", "external-execution-id": format!("{stage}:{execution}")})
        };
        let duration = 20_000 + rng.below(600_000) as i64;
        emit(&mut events, STAGE_DETAIL_TYPE, time, stage_started);
        emit(&mut events, ACTION_DETAIL_TYPE, time + 500, action_started);
        emit(
            &mut events,
            ACTION_DETAIL_TYPE,
            time + duration,
            action_done,
        );
        emit(
            &mut events,
            STAGE_DETAIL_TYPE,
            time + duration + 500,
            stage_done,
        );
        time += duration + 1_000;
        if failed {
            break;
        }
    }
    let outcome = if failing_stage.is_some() {
        "FAILED"
    } else {
        "SUCCEEDED"
    };
    emit(&mut events, PIPELINE_DETAIL_TYPE, time, base(outcome));
    events
}

fn synthetic_events(rng: &mut Rng, pipelines: &[String]) -> (Vec<String>, usize) {
    let unique = EVENTS - (EVENTS as f64 * DUPLICATE_SHARE) as usize;
    let day0 = 1_795_132_800_000; // 2026-11-20T00:00:00Z
    let mut events = Vec::new();
    let mut next_id = 0;
    let mut execution = 0;
    while events.len() < unique {
        let pipeline = &pipelines[execution % pipelines.len()];
        let start = day0 + (execution as i64 * 97_000) % (7 * 86_400_000);
        events.extend(execution_events(
            rng,
            pipeline,
            execution,
            start,
            &mut next_id,
        ));
        execution += 1;
    }
    events.truncate(unique);
    let mut bodies: Vec<String> = events.iter().map(Value::to_string).collect();
    let duplicates: Vec<String> = (0..EVENTS - unique)
        .map(|_| bodies[rng.below(unique)].clone())
        .collect();
    bodies.extend(duplicates);
    for i in (1..bodies.len()).rev() {
        bodies.swap(i, rng.below(i + 1));
    }
    (bodies, execution)
}

/// User + system CPU of this process, from /proc (clock ticks of 10 ms).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    ticks as f64 * 10.0
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let counter = RequestCounter::default();
    let bed = TestBed::with_interceptors(
        "bench",
        &[SharedInterceptor::new(counter.clone())],
        SourceBus::Dedicated,
    )
    .await?;
    let pipelines: Vec<String> = (0..PIPELINES)
        .map(|i| format!("{}-svc{i:03}", bed.prefix))
        .collect();
    for (i, name) in pipelines.iter().enumerate() {
        let id = format!("pl-bench-{i:03}");
        bed.create_pipeline(name, Some(&id)).await?;
        bed.register(&id, &format!("org-{}", i % 5), name).await?;
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (bodies, executions) = synthetic_events(&mut rng, &pipelines);
    let ingest = Ingest::new(&bed.clients, &bed.config);
    counter.reset();

    let cpu_before = cpu_ms();
    let started = Instant::now();
    let mut total = BatchSummary::default();
    let mut failed = 0;
    for (batch_no, chunk) in bodies.chunks(10).enumerate() {
        let ids: Vec<String> = (0..chunk.len())
            .map(|i| format!("b{batch_no}-{i}"))
            .collect();
        let batch = sqs_batch(ids.iter().map(String::as_str).zip(chunk.iter().cloned()));
        let (response, summary) = ingest.handle(batch).await;
        failed += response.batch_item_failures.len();
        total.add(&summary);
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_ms() - cpu_before;
    let events = bodies.len() as f64;
    let requests = counter.snapshot();

    println!("ingest benchmark: {} events ({} executions, {PIPELINES} pipelines, 5 % duplicates, shuffled), batches of 10", bodies.len(), executions);
    println!("  outcomes: stored {} | duplicate {} | retried {} | quarantined {} (batch item failures: {failed})", total.stored, total.duplicate, total.retried, total.quarantined);
    println!(
        "  wall time          {wall:.1} s  ({:.0} events/s, emulator included)",
        events / wall
    );
    println!(
        "  handler CPU        {:.0} ms  ({:.0} µs/event)",
        cpu,
        cpu * 1000.0 / events
    );
    println!("  peak RSS           {:.1} MiB", peak_rss_mib());
    println!("  AWS requests by operation:");
    let mut writes = 0;
    for (operation, count) in &requests {
        println!(
            "    {operation:<34} {count:>7}  ({:.3}/event)",
            *count as f64 / events
        );
        if WRITE_OPERATIONS.contains(&operation.as_str()) {
            writes += count;
        }
    }
    let tags = requests
        .get("CodePipeline.ListTagsForResource")
        .copied()
        .unwrap_or(0);
    println!(
        "  DynamoDB write requests per event: {:.3} (target ≤ 1.5)",
        writes as f64 / events
    );
    println!("  ListTagsForResource calls: {tags} for {PIPELINES} distinct pipelines (target ≤ 1 per pipeline per cache lifetime)");
    Ok(())
}
