//! Ingest batch benchmark: what a batch costs in wall time (what Lambda bills) and in DynamoDB
//! writes (what DynamoDB bills), on two delivery mixes. Figures, not assertions.
//!
//! - *Realistic*: events sorted by time and gathered the way the event source mapping's batching
//!   window does (up to 10 events within 5 s): an action's, its stage's and the next stage's
//!   events arrive within a second or two, so a batch mostly holds a few events of one execution.
//! - *Shuffled*: the same events in random order, in batches of 10 (the ingest benchmark's mix).
//!
//! For each mix: DynamoDB write requests and estimated write capacity units per event (a
//! transaction bills each item twice) with the dollars per million events at on-demand list
//! price, and conflict retries; then, with every AWS call taking an extra 8 ms round trip
//! (`RequestedLatency`), the mean batch wall time next to (a) the same records handled one at a
//! time, as the handler did before it batched, and (b) the critical path: the batch's records of
//! each pipeline handled alone, the slowest of them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use chrono::DateTime;
use pb_ingest::{BatchSummary, Ingest};
use pb_tests::emulator::TestBed;
use pb_tests::events::{retarget, sqs_batch};
use pb_tests::latency::{RequestedLatency, WriteMeter};
use pb_tests::request_counter::RequestCounter;
use pb_tests::resources::SourceBus;
use pb_tests::rng::Rng;
use pb_tests::synthetic::execution_events;
use serde_json::Value;

const PIPELINES: usize = 40;
const EXECUTIONS: usize = 400;
const MAX_BATCH: usize = 10;
const BATCHING_WINDOW_MS: i64 = 5_000;
const LATENCY_MS: u64 = 8;
/// Batches timed with latency, per mix and way of handling.
const TIMED_BATCHES: usize = 100;
/// DynamoDB on-demand, us-east-1: dollars per million write request units.
const WRITE_PRICE_PER_MILLION: f64 = 0.625;
/// 2026-11-20T00:00:00Z.
const DAY0_MS: i64 = 1_795_132_800_000;

/// One event: when EventBridge emitted it, and for which synthetic pipeline.
struct Emitted {
    time_ms: i64,
    pipeline: usize,
    body: Value,
}

fn generate(rng: &mut Rng) -> Vec<Emitted> {
    let mut emitted = Vec::new();
    let mut next_id = 0;
    for execution in 0..EXECUTIONS {
        let pipeline = execution % PIPELINES;
        let start = DAY0_MS + rng.below(86_400_000) as i64;
        let placeholder = format!("pipeline-{pipeline}");
        for body in execution_events(rng, &placeholder, execution, start, &mut next_id) {
            let time_ms = body["time"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map_or(start, |t| t.timestamp_millis());
            emitted.push(Emitted {
                time_ms,
                pipeline,
                body,
            });
        }
    }
    emitted
}

/// Batches as the batching window gathers them from events in time order.
fn realistic(mut events: Vec<&Emitted>) -> Vec<Vec<&Emitted>> {
    events.sort_by_key(|e| e.time_ms);
    let mut batches: Vec<Vec<&Emitted>> = Vec::new();
    for event in events {
        match batches.last_mut() {
            Some(batch)
                if batch.len() < MAX_BATCH
                    && event.time_ms - batch[0].time_ms <= BATCHING_WINDOW_MS =>
            {
                batch.push(event)
            }
            _ => batches.push(vec![event]),
        }
    }
    batches
}

fn shuffled<'a>(mut events: Vec<&'a Emitted>, rng: &mut Rng) -> Vec<Vec<&'a Emitted>> {
    for i in (1..events.len()).rev() {
        events.swap(i, rng.index(i + 1));
    }
    events.chunks(MAX_BATCH).map(<[_]>::to_vec).collect()
}

/// A fresh set of registered pipelines and a cold handler, so no pass sees another's items.
struct Pass {
    ingest: Ingest,
    names: Vec<String>,
    batch_no: usize,
}

impl Pass {
    async fn new(bed: &TestBed, label: &str) -> anyhow::Result<Pass> {
        let mut names = Vec::new();
        for i in 0..PIPELINES {
            let name = format!("{}-{label}-{i:02}", bed.prefix);
            let id = format!("pl-{label}-{i:02}-{}", bed.prefix);
            bed.create_pipeline(&name, Some(&id)).await?;
            bed.register(&id, &format!("org-{}", i % 4), &name).await?;
            names.push(name);
        }
        Ok(Pass {
            ingest: Ingest::new(&bed.clients, &bed.config),
            names,
            batch_no: 0,
        })
    }

    async fn handle(&mut self, events: &[&Emitted]) -> (Duration, BatchSummary) {
        self.batch_no += 1;
        let ids: Vec<String> = (0..events.len())
            .map(|i| format!("b{}-{i}", self.batch_no))
            .collect();
        let bodies: Vec<String> = events
            .iter()
            .map(|e| retarget(e.body.clone(), &self.names[e.pipeline]).to_string())
            .collect();
        let batch = sqs_batch(ids.iter().map(String::as_str).zip(bodies));
        let started = Instant::now();
        let (_, summary) = self.ingest.handle(batch).await;
        (started.elapsed(), summary)
    }
}

struct Meters {
    latency: RequestedLatency,
    writes: WriteMeter,
    requests: RequestCounter,
}

async fn counts(
    bed: &TestBed,
    meters: &Meters,
    label: &str,
    batches: &[Vec<&Emitted>],
) -> anyhow::Result<()> {
    let mut pass = Pass::new(bed, label).await?;
    meters.latency.set(0);
    meters.writes.reset();
    meters.requests.reset();
    let mut total = BatchSummary::default();
    for batch in batches {
        total.add(&pass.handle(batch).await.1);
    }
    let events = total.received as f64;
    let (requests, units) = meters.writes.totals();
    let reads: u64 = meters
        .requests
        .snapshot()
        .iter()
        .filter(|(op, _)| matches!(op.as_str(), "DynamoDB.GetItem" | "DynamoDB.BatchGetItem"))
        .map(|(_, n)| n)
        .sum();
    println!(
        "  {label:<10} {:>5} events in {:>4} batches ({:.1}/batch) | stored {} duplicate {} retried {} | conflict retries {}",
        total.received,
        batches.len(),
        events / batches.len() as f64,
        total.stored,
        total.duplicate,
        total.retried,
        total.conflict_retries,
    );
    println!(
        "  {:<10} write requests/event {:.3} | est. WCU/event {:.2} | ${:.2} per million events (writes, on demand) | read requests/event {:.3}",
        "",
        requests as f64 / events,
        units as f64 / events,
        units as f64 / events * WRITE_PRICE_PER_MILLION,
        reads as f64 / events,
    );
    Ok(())
}

/// Mean batch wall time with latency: batched, one record at a time, and the critical path.
async fn latencies(
    bed: &TestBed,
    meters: &Meters,
    label: &str,
    batches: &[Vec<&Emitted>],
) -> anyhow::Result<()> {
    let timed = &batches[..batches.len().min(TIMED_BATCHES)];
    meters.latency.set(LATENCY_MS);
    let mut batched = Pass::new(bed, &format!("{label}-b")).await?;
    let mut one_by_one = Pass::new(bed, &format!("{label}-s")).await?;
    let mut alone = Pass::new(bed, &format!("{label}-c")).await?;
    let (mut batched_ms, mut sequential_ms, mut critical_ms) = (0.0, 0.0, 0.0);
    for batch in timed {
        batched_ms += ms(batched.handle(batch).await.0);
        for event in batch {
            sequential_ms += ms(one_by_one.handle(&[event]).await.0);
        }
        let mut by_pipeline: BTreeMap<usize, Vec<&Emitted>> = BTreeMap::new();
        for event in batch {
            by_pipeline.entry(event.pipeline).or_default().push(event);
        }
        let mut slowest: f64 = 0.0;
        for records in by_pipeline.values() {
            slowest = slowest.max(ms(alone.handle(records).await.0));
        }
        critical_ms += slowest;
    }
    meters.latency.set(0);
    let n = timed.len() as f64;
    println!(
        "  {label:<10} batch wall {:>6.1} ms | one record at a time {:>6.1} ms ({:.1}×) | critical path {:>6.1} ms (batch ÷ critical {:.2})",
        batched_ms / n,
        sequential_ms / n,
        sequential_ms / batched_ms,
        critical_ms / n,
        batched_ms / critical_ms,
    );
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let meters = Meters {
        latency: RequestedLatency::default(),
        writes: WriteMeter::default(),
        requests: RequestCounter::default(),
    };
    let bed = TestBed::with_interceptors(
        "batches",
        &[
            SharedInterceptor::new(meters.latency.clone()),
            SharedInterceptor::new(meters.writes.clone()),
            SharedInterceptor::new(meters.requests.clone()),
        ],
        SourceBus::Dedicated,
    )
    .await
    .context("test bed")?;
    let mut rng = Rng::new(0x0BA7_C4E5);
    let events = generate(&mut rng);
    let mixes = [
        ("realistic", realistic(events.iter().collect())),
        ("shuffled", shuffled(events.iter().collect(), &mut rng)),
    ];
    println!(
        "ingest batch benchmark: {} events ({EXECUTIONS} executions, {PIPELINES} pipelines)",
        events.len()
    );
    for (label, batches) in &mixes {
        counts(&bed, &meters, label, batches).await?;
    }
    println!(
        "  with {LATENCY_MS} ms per AWS call, mean of the first {TIMED_BATCHES} batches (multi-thread runtime):"
    );
    for (label, batches) in &mixes {
        latencies(&bed, &meters, label, batches).await?;
    }
    Ok(())
}
