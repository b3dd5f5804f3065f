//! The audit benchmark (`make bench`): 2,000 registry entries and 2,000 platform stacks over two
//! regions in the emulator, then one audit run, timed, with its AWS requests by operation.
//! Figures, not assertions: the machine is shared and the emulator dominates wall time.
//!
//! The fleet drifts a little on purpose (some entries without a stack, as many stacks without an
//! entry), so the run goes through matching and reporting, not just listing.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use aws_config::Region;
use aws_sdk_cloudformation::types::Tag;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use pb_audit::{AuditRequest, Auditor};
use pb_aws::config::{AuditConfig, RegionConfig};
use pb_aws::registry::{Registry, RegistryEntry};
use pb_aws::stacks::{ORG_TAG, PLATFORM_TAG};
use pb_aws::tags::PIPELINE_ID_TAG;
use pb_aws::Clients;
use pb_domain::drift::FindingType;
use pb_tests::emulator::{endpoint, sdk_config, unique_prefix};
use pb_tests::request_counter::RequestCounter;
use pb_tests::resources::{create_local_stack, SourceBus};
use tokio::task::JoinSet;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const ENTRIES: usize = 2_000;
/// Entries whose stack was never created, and as many stacks nobody registered.
const DRIFTED: usize = 20;
const ORGS: usize = 10;
const SETUP_CONCURRENCY: usize = 16;
const TEMPLATE: &str =
    r#"{"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}"#;

#[derive(Clone)]
struct Pipeline {
    id: String,
    org: String,
    stack: String,
    region: &'static str,
}

fn pipeline(n: usize) -> Pipeline {
    Pipeline {
        id: format!("pl-bench-{n:05}"),
        org: format!("org-{:02}", n % ORGS),
        stack: format!("bench-pipeline-{n:05}"),
        region: REGIONS[n % REGIONS.len()],
    }
}

/// Runs `work` over `items`, `SETUP_CONCURRENCY` at a time.
async fn concurrently<T, F, Fut>(items: Vec<T>, work: F) -> anyhow::Result<()>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut running = JoinSet::new();
    for item in items {
        if running.len() >= SETUP_CONCURRENCY {
            if let Some(done) = running.join_next().await {
                done??;
            }
        }
        running.spawn(work(item));
    }
    while let Some(done) = running.join_next().await {
        done??;
    }
    Ok(())
}

async fn create_stack(
    client: aws_sdk_cloudformation::Client,
    pipeline: Pipeline,
) -> anyhow::Result<()> {
    let tags = [
        (PLATFORM_TAG, "true"),
        (ORG_TAG, pipeline.org.as_str()),
        (PIPELINE_ID_TAG, pipeline.id.as_str()),
    ]
    .iter()
    .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
    .collect();
    client
        .create_stack()
        .stack_name(&pipeline.stack)
        .template_body(TEMPLATE)
        .set_tags(Some(tags))
        .send()
        .await
        .with_context(|| format!("CreateStack {}", pipeline.stack))?;
    Ok(())
}

/// Entries 0..ENTRIES are registered; stacks exist for DRIFTED..ENTRIES + DRIFTED.
async fn build_fleet(clients: &Clients, config: &AuditConfig) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let registry = std::sync::Arc::new(Registry::new(
        clients.dynamodb.clone(),
        &config.catalog_table,
        Duration::ZERO,
        Duration::ZERO,
    ));
    concurrently((0..ENTRIES).map(pipeline).collect(), |p| {
        let registry = registry.clone();
        async move {
            let entry = RegistryEntry {
                pipeline_id: p.id,
                org_id: p.org,
                pipeline_name: p.stack.clone(),
                stack_name: p.stack,
                region: p.region.to_string(),
                last_deployed: "2026-11-01T00:00:00Z".to_string(),
                stack_id: None,
                account: None,
                definition_version: None,
            };
            registry.put(&entry).await?;
            Ok(())
        }
    })
    .await?;
    let stacks: Vec<Pipeline> = (DRIFTED..ENTRIES + DRIFTED).map(pipeline).collect();
    concurrently(stacks, |p| {
        let client = aws_sdk_cloudformation::Client::from_conf(
            clients
                .cloudformation
                .config()
                .to_builder()
                .region(Region::new(p.region))
                .build(),
        );
        create_stack(client, p)
    })
    .await?;
    Ok(started.elapsed())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let counter = RequestCounter::default();
    let config = sdk_config(&endpoint()?);
    let clients = Clients::new(&config, &[SharedInterceptor::new(counter.clone())]);
    let iam = aws_sdk_iam::Client::new(&config);
    let prefix = unique_prefix("bench-audit");
    let local = create_local_stack(&clients, &iam, &prefix, SourceBus::Dedicated)
        .await
        .context("creating the local stack")?;
    let config = AuditConfig {
        catalog_table: local.catalog_table,
        event_bus_name: Some(local.event_bus_name),
        regions: Vec::new(),
        deploy_regions: RegionConfig::default(),
    };
    println!(
        "audit benchmark: {ENTRIES} registry entries ({ORGS} orgs) and {ENTRIES} platform stacks over {}",
        REGIONS.join(" and ")
    );
    let setup = build_fleet(&clients, &config).await?;
    println!(
        "  setup: {:.1} s (not part of the figures)",
        setup.as_secs_f64()
    );

    counter.reset();
    let auditor = Auditor::new(&clients, &config);
    let request = AuditRequest {
        trigger: "bench".into(),
        org: None,
        regions: Vec::new(),
    };
    let started = Instant::now();
    let run = auditor.run(&request).await;
    let wall = started.elapsed();
    ensure!(run.errors.is_empty(), "the run failed: {:?}", run.errors);
    let count = |kind| run.summary.by_type.get(&kind).copied().unwrap_or_default();
    ensure!(
        count(FindingType::MissingStack) == DRIFTED && count(FindingType::OrphanedStack) == DRIFTED,
        "unexpected findings: {:?}",
        run.summary.by_type
    );
    println!(
        "  one audit: {:.2} s wall; {} registry entries, {} pipeline stacks, {} matched, {} findings ({} missing-stack, {} orphaned-stack)",
        wall.as_secs_f64(),
        run.summary.registry_entries,
        run.summary.pipeline_stacks,
        run.summary.matched,
        run.summary.findings,
        count(FindingType::MissingStack),
        count(FindingType::OrphanedStack),
    );
    println!("  AWS requests by operation (one audit):");
    let requests = counter.snapshot();
    for (operation, n) in &requests {
        println!("    {operation:<32} {n:>5}");
    }
    println!("    {:<32} {:>5}", "total", requests.values().sum::<u64>());
    Ok(())
}
