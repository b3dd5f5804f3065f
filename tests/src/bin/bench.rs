//! `make bench`, three measurements; figures, not assertions: the machine is shared and the
//! emulator dominates wall time.
//!
//! 1. Ingest: replays 10,000 synthetic CodePipeline events (200 pipelines, all three detail-types,
//!    5 % duplicates, shuffled) through the ingest handler in batches of 10 against the emulator,
//!    and prints throughput, AWS requests per event by operation, handler CPU per event and peak
//!    RSS.
//! 2. Init: starts the `api` and `plugin-lookup` binaries, next to a hello-world `lambda_runtime`
//!    one, as Lambda functions against a local Runtime API stub and times process start → first
//!    `GET …/invocation/next`. The binaries must be built in this profile first (`make bench`
//!    does).
//! 3. Lookup: resolves one batch of 50 plugin references (exact, `^`, `~`, `latest`, `*`) against a
//!    published catalog the way the functions do, and prints latency and DynamoDB requests, for a
//!    cold container and for a warm one that cached the public versions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use pb_aws::plugins::{PluginCatalog, PluginRecord};
use pb_aws::public_versions::PublicVersionCache;
use pb_aws::secrets::Secrets;
use pb_domain::plugin::{
    names_to_load, resolve_batch, LookupOutcome, RequestedPlugin, ResolvedFrom,
};
use pb_ingest::{BatchSummary, Ingest};
use pb_tests::emulator::TestBed;
use pb_tests::events::sqs_batch;
use pb_tests::request_counter::RequestCounter;
use pb_tests::resources::SourceBus;
use pb_tests::rng::Rng;
use pb_tests::runtime_stub::{time_init, LambdaBinary};
use pb_tests::synthetic::execution_events;
use serde_json::{json, Value};

const PIPELINES: usize = 200;
const EVENTS: usize = 10_000;
const DUPLICATE_SHARE: f64 = 0.05;
const WRITE_OPERATIONS: [&str; 5] = [
    "DynamoDB.PutItem",
    "DynamoDB.UpdateItem",
    "DynamoDB.TransactWriteItems",
    "DynamoDB.BatchWriteItem",
    "DynamoDB.DeleteItem",
];

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
        .map(|_| bodies[rng.index(unique)].clone())
        .collect();
    bodies.extend(duplicates);
    for i in (1..bodies.len()).rev() {
        bodies.swap(i, rng.index(i + 1));
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
    let binaries = binaries_dir()?;
    ingest_bench().await?;
    println!();
    init_bench(&binaries).await?;
    println!();
    lookup_bench().await
}

async fn ingest_bench() -> anyhow::Result<()> {
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
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
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

// ---- Init: process start → first request to the Runtime API ----

const INIT_RUNS: usize = 20;
const INIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Built next to this binary, in the same profile.
const INIT_BINARIES: [&str; 3] = ["hello_lambda", "api", "plugin-lookup"];
const BUILD_COMMAND: &str =
    "cargo build --profile bench -p pb-api -p pb-plugin-lookup -p pb-tests --bins";

/// A function binary and the environment it needs besides the Lambda runtime's.
struct InitTarget {
    binary: &'static str,
    label: &'static str,
    env: Vec<(String, String)>,
}

/// The directory of this binary, once every binary the init bench starts is found in it.
fn binaries_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let dir = exe
        .parent()
        .context("the bench binary has no parent directory")?;
    let missing: Vec<String> = INIT_BINARIES
        .iter()
        .map(|name| dir.join(name))
        .filter(|path| !path.is_file())
        .map(|path| path.display().to_string())
        .collect();
    if !missing.is_empty() {
        bail!(
            "the init bench needs {} built in the bench's profile; build them first with `{BUILD_COMMAND}` (`make bench` does)",
            missing.join(", ")
        );
    }
    Ok(dir.to_path_buf())
}

/// `len` random ASCII letters and digits from the kernel's RNG.
fn random_alphanumeric(len: usize) -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").context("opening /dev/urandom")?,
        &mut bytes,
    )
    .context("reading /dev/urandom")?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// Each function's environment as template.yaml sets it, with this bed's resources; the api reads
/// its signing key set during init, so it gets a real one in the emulator.
async fn init_targets(bed: &TestBed) -> anyhow::Result<Vec<InitTarget>> {
    let secret_id = format!("{}-key-set", bed.prefix);
    let key_set = json!({"active": "k1", "k1": random_alphanumeric(64)?}).to_string();
    Secrets::new(bed.clients.secretsmanager.clone())
        .write(&secret_id, &key_set)
        .await
        .context("storing the api's key set")?;
    let catalog = ("CATALOG_TABLE".to_string(), bed.stack.catalog_table.clone());
    Ok(vec![
        InitTarget {
            binary: "hello_lambda",
            label: "hello_lambda (lambda_runtime echo)",
            env: Vec::new(),
        },
        InitTarget {
            binary: "api",
            label: "api",
            env: vec![
                catalog.clone(),
                (
                    "EXECUTIONS_TABLE".to_string(),
                    bed.stack.executions_table.clone(),
                ),
                ("KEY_SET_SECRET_ID".to_string(), secret_id),
                // Required by the API's configuration; init reads none of them.
                (
                    "EVENT_BUS_NAME".to_string(),
                    bed.stack.event_bus_name.clone(),
                ),
                (
                    "NOTIFY_QUEUE_URL".to_string(),
                    bed.stack.notify_queue_url.clone(),
                ),
                (
                    "PIPELINE_STACK_ROLE_ARN".to_string(),
                    bed.stack.deploy.stack_role_arn.clone(),
                ),
                (
                    "PIPELINE_ROLE_BOUNDARY_ARN".to_string(),
                    bed.stack.deploy.boundary_arn.clone(),
                ),
                (
                    "PIPELINE_TEMPLATE_BUCKET".to_string(),
                    bed.stack.deploy.template_bucket.clone(),
                ),
            ],
        },
        InitTarget {
            binary: "plugin-lookup",
            label: "plugin-lookup",
            env: vec![catalog],
        },
    ])
}

/// Round robin over the targets so that drift on the shared machine hits them all alike; the
/// first round warms the page cache and is discarded.
async fn time_inits(dir: &Path, targets: &[InitTarget]) -> anyhow::Result<Vec<Vec<Duration>>> {
    let mut samples = vec![Vec::with_capacity(INIT_RUNS); targets.len()];
    for round in 0..=INIT_RUNS {
        for (target, samples) in targets.iter().zip(&mut samples) {
            let path = dir.join(target.binary);
            let binary = LambdaBinary {
                path: &path,
                function_name: target.binary,
                env: &target.env,
            };
            let took = time_init(&binary, INIT_TIMEOUT)
                .await
                .with_context(|| format!("timing the init of {}", target.binary))?;
            if round > 0 {
                samples.push(took);
            }
        }
    }
    Ok(samples)
}

async fn init_bench(dir: &Path) -> anyhow::Result<()> {
    let bed = TestBed::new("bench-init").await?;
    let targets = init_targets(&bed).await?;
    let samples = time_inits(dir, &targets).await?;
    println!("init benchmark: process start → first GET {}, {INIT_RUNS} runs each (round robin after one discarded warm-up round)", pb_tests::runtime_stub::NEXT_INVOCATION_PATH);
    println!(
        "  {:<36} {:>10} {:>9} {:>9} {:>9}",
        "binary", "size", "min", "median", "p90"
    );
    for (target, samples) in targets.iter().zip(&samples) {
        let size = std::fs::metadata(dir.join(target.binary))
            .map(|m| m.len())
            .unwrap_or_default();
        let spread = Spread::of(samples);
        println!(
            "  {:<36} {:>6.1} MiB {:>6.1} ms {:>6.1} ms {:>6.1} ms",
            target.label,
            size as f64 / (1024.0 * 1024.0),
            ms(spread.min),
            ms(spread.median),
            ms(spread.p90)
        );
    }
    println!("  bench profile (no LTO, not stripped: sizes are above a release build's); AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 is not enforced here");
    println!("  api init includes one GetSecretValue (its key set) to the emulator over plain HTTP: no TLS handshake, unlike Lambda");
    Ok(())
}

// ---- Lookup: one batch of 50 references against the catalog ----

const LOOKUP_NAMES: usize = 50;
const LOOKUP_RUNS: usize = 20;
/// The function's default (`PUBLIC_PLUGIN_CACHE_TTL_SECONDS`); the warm runs take far less.
const LOOKUP_CACHE_TTL: Duration = Duration::from_secs(30);
const LOOKUP_VERSIONS: [&str; 5] = ["1.0.0", "1.1.0", "1.2.3", "2.0.0", "2.1.0"];
/// Cycled over the references: exact, caret, tilde, `latest`, `*`.
const LOOKUP_RANGES: [&str; 5] = ["1.2.3", "^1", "~2.0", "latest", "*"];
const CALLER_ORG: &str = "org-bench-caller";
const PUBLISHER_ORG: &str = "org-bench-publisher";

fn plugin_name(index: usize) -> String {
    format!("bench-plugin-{index:02}")
}

fn plugin_record(
    org: &str,
    name: &str,
    version: &str,
    public: bool,
) -> anyhow::Result<PluginRecord> {
    let spec = json!({
        "name": name, "version": version, "description": format!("{name} {version} for the lookup bench"),
        "keywords": ["bench", "build"], "category": "build", "pluginType": "CodeBuildStep",
        "computeType": "SMALL", "image": "public.ecr.aws/docker/library/rust:1",
        "installCommands": ["rustup component add clippy"],
        "commands": ["cargo build --release", "cargo test"],
        "env": {"CARGO_TERM_COLOR": "never"}, "timeoutMinutes": 30,
        "accessModifier": if public { "public" } else { "private" },
    });
    Ok(PluginRecord {
        org: org.to_string(),
        spec: serde_json::from_value(spec).context("building a bench plugin spec")?,
        deprecated: false,
        deprecation_message: None,
        published_at: "2026-11-01T00:00:00Z".to_string(),
        published_by: "bench".to_string(),
    })
}

/// Every name in 5 versions: a third only the caller's own (private), a third only another org's
/// public ones, a third both (the caller's own win). Returns how many versions were published.
async fn publish_catalog(catalog: &PluginCatalog) -> anyhow::Result<usize> {
    let mut published = 0;
    for index in 0..LOOKUP_NAMES {
        let name = plugin_name(index);
        let owners: &[(&str, bool)] = match index % 3 {
            0 => &[(CALLER_ORG, false)],
            1 => &[(PUBLISHER_ORG, true)],
            _ => &[(CALLER_ORG, false), (PUBLISHER_ORG, true)],
        };
        for (org, public) in owners {
            for version in LOOKUP_VERSIONS {
                catalog
                    .publish(&plugin_record(org, &name, version, *public)?)
                    .await
                    .with_context(|| format!("publishing {name} {version} for {org}"))?;
                published += 1;
            }
        }
    }
    Ok(published)
}

fn lookup_requests() -> Vec<RequestedPlugin> {
    (0..LOOKUP_NAMES)
        .map(|index| RequestedPlugin {
            name: plugin_name(index),
            version: LOOKUP_RANGES[index % LOOKUP_RANGES.len()].to_string(),
        })
        .collect()
}

/// How long one lookup took: loading the candidates from DynamoDB, then resolving (in process).
struct LookupTiming {
    total: Duration,
    resolve: Duration,
}

/// One lookup as the plugin-lookup handler and the API's lookup route do it.
async fn lookup(
    catalog: &PluginCatalog,
    requests: &[RequestedPlugin],
) -> anyhow::Result<(LookupOutcome, LookupTiming)> {
    let started = Instant::now();
    let candidates = catalog
        .candidates(CALLER_ORG, &names_to_load(requests))
        .await
        .context("loading the lookup candidates")?;
    let loaded = Instant::now();
    let outcome = resolve_batch(requests, CALLER_ORG, &candidates);
    let done = Instant::now();
    let timing = LookupTiming {
        total: done - started,
        resolve: done - loaded,
    };
    Ok((outcome, timing))
}

async fn lookup_bench() -> anyhow::Result<()> {
    let counter = RequestCounter::default();
    let bed = TestBed::with_interceptors(
        "bench-lookup",
        &[SharedInterceptor::new(counter.clone())],
        SourceBus::Dedicated,
    )
    .await?;
    let catalog = PluginCatalog::new(bed.clients.dynamodb.clone(), &bed.stack.catalog_table);
    let published = publish_catalog(&catalog).await?;
    let requests = lookup_requests();
    // Not measured: opens the connections, and checks that the batch resolves as intended.
    let (outcome, _) = lookup(&catalog, &requests).await?;
    ensure!(
        outcome.unresolved.is_empty(),
        "bench references did not resolve: {:?}",
        outcome.unresolved
    );
    println!(
        "lookup benchmark: {LOOKUP_NAMES} references to {LOOKUP_NAMES} distinct names in one lookup ({}), catalog of {published} versions; {LOOKUP_RUNS} runs each after one untimed",
        LOOKUP_RANGES.join(", ")
    );
    print_outcome(&outcome);
    let cold = lookup_runs(&counter, &requests, || caching(&catalog)).await?;
    print_lookup_figures("cold container (nothing cached)", &cold);
    let warm_catalog = caching(&catalog);
    lookup(&warm_catalog, &requests).await?;
    let warm = lookup_runs(&counter, &requests, || warm_catalog.clone()).await?;
    print_lookup_figures("warm container (public versions cached)", &warm);
    Ok(())
}

/// The catalog as the plugin-lookup function builds it, with an empty cache.
fn caching(catalog: &PluginCatalog) -> PluginCatalog {
    catalog
        .clone()
        .with_public_version_cache(PublicVersionCache::new(LOOKUP_CACHE_TTL))
}

/// What `LOOKUP_RUNS` lookups took and sent.
struct LookupRuns {
    timings: Vec<LookupTiming>,
    cpu_per_lookup: f64,
    requests: BTreeMap<String, u64>,
}

/// Each run looks up in the catalog `catalog_for_run` gives it.
async fn lookup_runs(
    counter: &RequestCounter,
    requests: &[RequestedPlugin],
    catalog_for_run: impl Fn() -> PluginCatalog,
) -> anyhow::Result<LookupRuns> {
    counter.reset();
    let cpu_before = cpu_ms();
    let mut timings = Vec::with_capacity(LOOKUP_RUNS);
    for _ in 0..LOOKUP_RUNS {
        let (outcome, timing) = lookup(&catalog_for_run(), requests).await?;
        std::hint::black_box(outcome);
        timings.push(timing);
    }
    Ok(LookupRuns {
        timings,
        cpu_per_lookup: (cpu_ms() - cpu_before) / LOOKUP_RUNS as f64,
        requests: counter.snapshot(),
    })
}

fn print_outcome(outcome: &LookupOutcome) {
    let own = outcome
        .resolved
        .iter()
        .filter(|r| r.from == ResolvedFrom::CallerOrg)
        .count();
    println!(
        "  resolved {} ({own} caller's own, {} public of another org), unresolved {}",
        outcome.resolved.len(),
        outcome.resolved.len() - own,
        outcome.unresolved.len()
    );
}

fn print_lookup_figures(label: &str, runs: &LookupRuns) {
    let timings = &runs.timings;
    let total = Spread::of(&timings.iter().map(|t| t.total).collect::<Vec<_>>());
    let resolve = Spread::of(&timings.iter().map(|t| t.resolve).collect::<Vec<_>>());
    println!("  {label}:");
    println!(
        "    latency (candidates + resolve_batch): min {:.1} ms | median {:.1} ms | p90 {:.1} ms  (emulator included)",
        ms(total.min),
        ms(total.median),
        ms(total.p90)
    );
    println!(
        "      of which resolve_batch:            min {:.3} ms | median {:.3} ms | p90 {:.3} ms",
        ms(resolve.min),
        ms(resolve.median),
        ms(resolve.p90)
    );
    println!(
        "    client CPU per lookup: {:.1} ms (SDK + resolution; 10 ms clock ticks summed over the runs)",
        runs.cpu_per_lookup
    );
    let dynamodb: u64 = runs
        .requests
        .iter()
        .filter(|(operation, _)| operation.starts_with("DynamoDB."))
        .map(|(_, count)| count)
        .sum();
    println!(
        "    DynamoDB requests per lookup: {:.1}",
        dynamodb as f64 / LOOKUP_RUNS as f64
    );
    for (operation, count) in &runs.requests {
        println!(
            "      {operation:<32} {:>7.1}/lookup",
            *count as f64 / LOOKUP_RUNS as f64
        );
    }
}

// ---- Figures ----

/// Nearest-rank order statistics of a sample.
struct Spread {
    min: Duration,
    median: Duration,
    p90: Duration,
}

impl Spread {
    fn of(samples: &[Duration]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort();
        let rank = |p: f64| {
            let index = ((p * sorted.len() as f64).ceil() as usize).saturating_sub(1);
            sorted.get(index).copied().unwrap_or_default()
        };
        Spread {
            min: rank(0.0),
            median: rank(0.5),
            p90: rank(0.9),
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
