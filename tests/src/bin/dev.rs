//! `make dev`: the backend running locally against the emulator. Creates the resources and the
//! API's signing key set, starts the `api` binary on a local port (the same router Lambda
//! serves), mints an admin token with `api mint-token`, publishes `samples/plugins/` through the
//! API, then takes the sample pipeline the way a team would: defines it through the API, deploys
//! it (`POST …/deployments`, read until SUCCEEDED; the deployment writes the registry entry).
//! moto's CloudFormation skips the CodePipeline itself, so it is created from the deployed
//! template's own Pipeline resource. An untagged pipeline stands beside it. It then replays
//! `events/` through EventBridge, pointed at the deployed pipeline's name, and runs the ingest
//! handler on the local poll loop until Ctrl-C, printing what it stores.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use pb_aws::executions::ExecutionStore;
use pb_aws::queue::QueueConsumer;
use pb_ingest::Ingest;
use pb_tests::api::key_set_json;
use pb_tests::codepipeline_standin::{Action, CodePipelineStandIn, Stage};
use pb_tests::deployed::create_deployed_pipeline;
use pb_tests::emulator::TestBed;
use pb_tests::events::{put_events, retarget, sample};
use pb_tests::local_api::LocalApi;
use pb_tests::poller::{PollReport, Poller};
use pb_tests::resources::SourceBus;
use serde_json::Value;

const ORG: &str = "acme";
/// The pipeline the sample events under `events/eventbridge` name.
const SAMPLE_EVENTS_PIPELINE: &str = "payments-service";
const UNTAGGED_PIPELINE: &str = "legacy-reports";
const KEY_SET_SECRET: &str = "pipeline-builder-dev/api-signing-keys";
/// How often the deployment is read before giving up; locally it ends on the first read (moto
/// creates the stack at once, and the local API reads the stack on every read).
const DEPLOYMENT_READS: usize = 20;
const DEPLOYMENT_READ_INTERVAL: Duration = Duration::from_millis(500);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pb_aws::runtime::init_cli_logging("warn");
    let events_root = std::env::args().nth(1).unwrap_or_else(|| "events".into());
    let bed = TestBed::named("pipeline-builder-dev".into(), &[], SourceBus::Default)
        .await
        .context("creating the local resources (is the emulator fresh?)")?;
    print_resources(&bed);

    let (keys, _) = key_set_json(&["k1"])?;
    pb_aws::secrets::Secrets::new(bed.clients.secretsmanager.clone())
        .write(KEY_SET_SECRET, &keys.to_string())
        .await?;
    let port: u16 = std::env::var("API_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    // The emulator has no run control (start, stop, retry, approve): the API's CodePipeline
    // calls go to the stand-in the tests use, which knows the deployed pipeline's stages.
    let runs = CodePipelineStandIn::start().await?;
    let api =
        LocalApi::start_with_codepipeline(&bed.stack, KEY_SET_SECRET, port, &runs.endpoint_url())
            .await?;
    let admin = api.mint_token(ORG, "*").await?;
    let published = api
        .publish_samples(&admin, Path::new("samples/plugins"))
        .await?;
    println!(
        "API: {} (the api binary, same router as in Lambda)",
        api.url()
    );
    println!("  published {published} sample plugins from samples/plugins/");
    println!("  admin token for org {ORG} (all permissions, 1 day):\n  export TOKEN={admin}");
    println!(
        "  log pb in with it (pb: cargo install --path cli):\n  echo \"$TOKEN\" | pb login --url {}",
        api.url()
    );
    println!(
        "  try: curl -s -H \"Authorization: Bearer $TOKEN\" {}/api/plugins\n",
        api.url()
    );

    let pipeline_id = api
        .create_pipeline(&admin, Path::new("samples/pipelines/payments-service.json"))
        .await?;
    let stack_name = deploy(&api, &admin, &pipeline_id).await?;
    let entry = get_json(&api, &admin, &format!("/api/registry/{pipeline_id}")).await?;
    println!(
        "  registered by the deployment: {pipeline_id} -> pipeline {}, stack {} ({})",
        entry["pipelineName"].as_str().unwrap_or("?"),
        entry["stackName"].as_str().unwrap_or("?"),
        entry["region"].as_str().unwrap_or("?")
    );
    // moto's CloudFormation skipped the CodePipeline: create it from the template's own
    // Pipeline resource, as CloudFormation would have.
    let template = get_json(
        &api,
        &admin,
        &format!("/api/pipelines/{pipeline_id}/template"),
    )
    .await?;
    let deployed = create_deployed_pipeline(&bed, &stack_name, &template).await?;
    println!(
        "  created CodePipeline {} from the template's Pipeline resource (moto's CloudFormation skips it)",
        deployed.name
    );
    runs.add_pipeline(&deployed.name, stand_in_stages(&template))?;
    println!(
        "  runs (POST …/executions, stop, retry, approvals) go to a CodePipeline stand-in at {} (the emulator has no run control)",
        runs.endpoint_url()
    );
    // After the deployment: the standard rules would refuse the tag-pinned public sample plugins.
    let rules = api.create_rules(&admin, Path::new("samples/rules")).await?;
    println!("  created {rules} compliance rules from samples/rules/ (try POST /api/compliance/validate)\n");
    bed.create_pipeline(UNTAGGED_PIPELINE, None).await?;
    println!(
        "pipelines: {} (defined through the API as {pipeline_id}, deployed, org {ORG}), {UNTAGGED_PIPELINE} (untagged)",
        deployed.name
    );

    let events: Vec<Value> = sample_events(Path::new(&events_root).join("eventbridge").as_path())?
        .into_iter()
        .map(|event| renamed(event, &deployed.name))
        .collect();
    put_events(
        &bed.clients.eventbridge,
        &bed.stack.source_bus_name,
        &events,
    )
    .await?;
    let malformed = sample("sqs/malformed-body.json")?["Records"][0]["body"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    bed.clients
        .sqs
        .send_message()
        .queue_url(&bed.stack.queue_url)
        .message_body(malformed)
        .send()
        .await?;
    println!(
        "replayed {} events through EventBridge PutEvents, plus one malformed body; polling the queue (Ctrl-C to stop)\n",
        events.len()
    );

    let ingest = Ingest::new(&bed.clients, &bed.config);
    let consumer = QueueConsumer::new(bed.clients.sqs.clone(), &bed.stack.queue_url);
    let poller = Poller::new(&ingest, consumer, 2, None);
    let store = ExecutionStore::new(bed.clients.dynamodb.clone(), &bed.stack.executions_table);
    let mut pending_report = false;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            polled = poller.poll_once() => match polled {
                Ok(report) if report.received > 0 => {
                    print_batch(&report);
                    pending_report = true;
                }
                Ok(_) if pending_report => {
                    print_stored(&store, &deployed.name, &pipeline_id).await?;
                    pending_report = false;
                }
                Ok(_) => {}
                Err(e) => eprintln!("polling failed: {e}"),
            },
        }
    }
    println!("stopped");
    Ok(())
}

/// The deployed template's stages and actions, as the CodePipeline stand-in models them.
fn stand_in_stages(template: &Value) -> Vec<Stage> {
    let stages = template["Resources"]["Pipeline"]["Properties"]["Stages"].as_array();
    stages
        .into_iter()
        .flatten()
        .map(|stage| {
            let actions = stage["Actions"].as_array().into_iter().flatten().map(|a| {
                let name = a["Name"].as_str().unwrap_or_default();
                if a["ActionTypeId"]["Category"] == "Approval" {
                    Action::manual_approval(name)
                } else {
                    Action::automated(name)
                }
            });
            Stage::new(stage["Name"].as_str().unwrap_or_default(), actions)
        })
        .collect()
}

/// Deploys the pipeline through the API and reads the deployment until it ends; the stack name.
async fn deploy(api: &LocalApi, token: &str, pipeline_id: &str) -> anyhow::Result<String> {
    let route = format!("/api/pipelines/{pipeline_id}/deployments");
    let (status, answer) = api.request("POST", &route, Some(token), None).await?;
    if status != 202 {
        bail!("POST {route} answered {status}: {answer}");
    }
    let started: Value = serde_json::from_str(&answer)?;
    let deployment = started["id"].as_str().context("the deployment has no id")?;
    println!(
        "  deployment {deployment}: {} stack {} ({})",
        started["action"].as_str().unwrap_or("?"),
        started["stackName"].as_str().unwrap_or("?"),
        started["status"].as_str().unwrap_or("?")
    );
    for _ in 0..DEPLOYMENT_READS {
        let read = get_json(api, token, &format!("{route}/{deployment}")).await?;
        match read["status"].as_str() {
            Some("SUCCEEDED") => {
                println!(
                    "  deployment {deployment}: SUCCEEDED, stack {}",
                    read["stackStatus"].as_str().unwrap_or("?")
                );
                return read["stackName"]
                    .as_str()
                    .map(str::to_string)
                    .context("the deployment has no stack name");
            }
            Some("FAILED") => bail!("deployment {deployment} failed: {}", read["reason"]),
            _ => tokio::time::sleep(DEPLOYMENT_READ_INTERVAL).await,
        }
    }
    bail!("deployment {deployment} had not ended after {DEPLOYMENT_READS} reads")
}

async fn get_json(api: &LocalApi, token: &str, route: &str) -> anyhow::Result<Value> {
    let (status, answer) = api.request("GET", route, Some(token), None).await?;
    if status != 200 {
        bail!("GET {route} answered {status}: {answer}");
    }
    Ok(serde_json::from_str(&answer)?)
}

/// A sample event of the sample pipeline, pointed at the pipeline the deployment created; the
/// untagged pipeline's as it is.
fn renamed(event: Value, deployed_name: &str) -> Value {
    if event["detail"]["pipeline"] == SAMPLE_EVENTS_PIPELINE {
        retarget(event, deployed_name)
    } else {
        event
    }
}

fn print_resources(bed: &TestBed) {
    println!(
        "local resources (moto at {}):",
        bed.sdk_config.endpoint_url().unwrap_or("?")
    );
    println!("  CatalogTable      {}", bed.stack.catalog_table);
    println!("  ExecutionsTable   {}", bed.stack.executions_table);
    println!("  IngestQueue       {}", bed.stack.queue_url);
    println!("  DeadLetterQueue   {}", bed.stack.dead_letter_queue_url);
    println!("  PlatformEventBus  {}", bed.stack.event_bus_name);
    println!(
        "  rule              {} on the {} bus\n",
        bed.stack.rule_name, bed.stack.source_bus_name
    );
}

/// Every `.json` event under `root`, in path order (the stage-retry files are numbered).
fn sample_events(root: &Path) -> anyhow::Result<Vec<Value>> {
    let mut paths = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in
            std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))?
        {
            let path: PathBuf = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths
        .iter()
        .map(|p| Ok(serde_json::from_str(&std::fs::read_to_string(p)?)?))
        .collect()
}

fn print_batch(report: &PollReport) {
    let s = report.summary;
    println!(
        "batch: received {} | stored {} duplicate {} untagged {} unregistered {} mismatched {} quarantined {} retried {} | deleted {}, left for redelivery {}",
        s.received, s.stored, s.duplicate, s.untagged, s.unregistered, s.mismatched, s.quarantined, s.retried,
        report.deleted, report.left_for_redelivery
    );
}

async fn print_stored(
    store: &ExecutionStore,
    pipeline_name: &str,
    pipeline_id: &str,
) -> anyhow::Result<()> {
    println!("\nstored executions of {pipeline_name} ({pipeline_id}):");
    let mut days = std::collections::BTreeSet::new();
    for (_, item) in store.execution_items(pipeline_id, "").await? {
        if item.stage.is_some() {
            continue;
        }
        if let Some(start) = item.execution_started_at.or(item.completed_at) {
            days.insert(pb_domain::rollup::utc_day(start));
        }
        let failure = item
            .failure
            .as_ref()
            .filter(|_| item.status.as_deref() == Some("FAILED"))
            .map(|f| {
                format!(
                    " failed at {}/{}",
                    f.stage,
                    f.action.as_deref().unwrap_or("-")
                )
            })
            .unwrap_or_default();
        println!(
            "  {}  {:<18} attempt {}  duration {}{}",
            item.execution_id,
            item.status.as_deref().unwrap_or("-"),
            item.attempt.unwrap_or(1),
            item.duration_ms
                .map(|d| format!("{:.1}s", d as f64 / 1000.0))
                .unwrap_or_else(|| "-".into()),
            failure
        );
    }
    for day in days {
        let counters = store.rollup(ORG, &day, pipeline_id).await?;
        println!("rollup {ORG}/{day}: {}", serde_json::to_string(&counters)?);
    }
    println!();
    Ok(())
}
