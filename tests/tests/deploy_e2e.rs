//! The whole chain against the emulator, through the API: a sample pipeline is defined and
//! deployed, its stack's status event (real-shaped, through ingest) ends the deployment and
//! registers the pipeline, the CodePipeline the template declares runs (its sample execution
//! events, ingested and attributed to the pinned plugins), and the audit finds the stack where
//! the registry says it is.
//!
//! moto's CloudFormation creates the stack's roles, bucket and log groups but skips the
//! CodePipeline and CodeBuild resources and emits no stack events: the pipeline is created from
//! the template's own Pipeline resource (`pb_tests::deployed`), and the status event is the
//! recorded one with this stack's id. The org is this file's own, so the audit of that org sees
//! only this test's stack.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use pb_audit::{AuditRequest, Auditor};
use pb_aws::config::{AuditConfig, RegionConfig};
use pb_aws::deploy_tracking::{DEPLOYMENT_COMPLETED, DEPLOYMENT_SOURCE};
use pb_aws::deployments::DeploymentRecord;
use pb_aws::executions::ExecutionStore;
use pb_domain::deployment::DeploymentStatus;
use pb_domain::drift::RunStatus;
use pb_ingest::{BatchSummary, Ingest};
use pb_tests::api::ApiBed;
use pb_tests::deployed::{create_deployed_pipeline, DeployedPipeline};
use pb_tests::emulator::ACCOUNT_ID;
use pb_tests::events::{retarget, sample, samples_in, sqs_batch, EventCapture};
use serde_json::{json, Value};

const ORG: &str = "initech";
const STACK: &str = "pb-initech-payments-service";
/// The pipeline the sample events under `events/eventbridge` name.
const SAMPLE_EVENTS_PIPELINE: &str = "payments-service";
const EVENT_FOLDERS: [&str; 4] = [
    "eventbridge",
    "eventbridge/manual-approval",
    "eventbridge/stage-retry",
    "eventbridge/stop",
];

fn payments_service() -> Value {
    let path = format!(
        "{}/../samples/pipelines/payments-service.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The recorded stack status event, about this stack.
fn create_complete(stack_id: &str) -> String {
    let mut event = sample("cloudformation/stack-status-create-complete.json").unwrap();
    event["resources"] = json!([stack_id]);
    event["detail"]["stack-id"] = json!(stack_id);
    event.to_string()
}

/// Every sample execution event of the sample pipeline, pointed at the deployed one.
fn execution_events(pipeline: &str) -> Vec<Value> {
    EVENT_FOLDERS
        .iter()
        .flat_map(|folder| samples_in(folder).unwrap())
        .filter(|event| event["detail"]["pipeline"] == SAMPLE_EVENTS_PIPELINE)
        .map(|event| retarget(event, pipeline))
        .collect()
}

async fn ingest_all(ingest: &Ingest, events: &[Value]) -> BatchSummary {
    let mut total = BatchSummary::default();
    for (n, chunk) in events.chunks(10).enumerate() {
        let ids: Vec<String> = (0..chunk.len()).map(|i| format!("m{n}-{i}")).collect();
        let batch = sqs_batch(
            ids.iter()
                .map(String::as_str)
                .zip(chunk.iter().map(Value::to_string)),
        );
        let (response, summary) = ingest.handle(batch).await;
        assert!(response.batch_item_failures.is_empty(), "{summary:?}");
        total.add(&summary);
    }
    total
}

async fn stack_tags(api: &ApiBed) -> BTreeSet<(String, String)> {
    let stacks = api
        .bed
        .clients
        .cloudformation
        .describe_stacks()
        .stack_name(STACK)
        .send()
        .await
        .unwrap();
    let stack = &stacks.stacks()[0];
    assert_eq!(
        stack.stack_status().map(|s| s.as_str()),
        Some("CREATE_COMPLETE")
    );
    stack
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect()
}

/// The deployment as stored, without the refresh an API read would do.
async fn stored_deployment(api: &ApiBed, id: &str, deployment: &str) -> DeploymentRecord {
    api.state
        .deployments
        .get(ORG, id, deployment)
        .await
        .unwrap()
        .unwrap()
}

/// (moto fails a DescribeStackResources filtered by logical id when the stack holds a resource
/// it skipped, so the whole list is read.)
async fn physical_id(api: &ApiBed, logical_id: &str) -> String {
    let described = api
        .bed
        .clients
        .cloudformation
        .describe_stack_resources()
        .stack_name(STACK)
        .send()
        .await
        .unwrap();
    described
        .stack_resources()
        .iter()
        .find(|r| r.logical_resource_id() == Some(logical_id))
        .and_then(|r| r.physical_resource_id())
        .unwrap()
        .to_string()
}

/// The pipeline moto holds is the template's, resolved against this stack's resources.
async fn assert_declared_from_the_stack(
    api: &ApiBed,
    pipeline: &DeployedPipeline,
    template: &Value,
) {
    let declared = api
        .bed
        .clients
        .codepipeline
        .get_pipeline()
        .name(&pipeline.name)
        .send()
        .await
        .unwrap()
        .pipeline
        .unwrap();
    let stages: Vec<&str> = declared.stages().iter().map(|s| s.name()).collect();
    assert_eq!(stages, ["Source", "Build", "Approve", "Deploy"]);
    assert_eq!(
        declared.role_arn(),
        format!(
            "arn:aws:iam::{ACCOUNT_ID}:role/{}",
            physical_id(api, "PipelineRole").await
        )
    );
    assert_eq!(
        declared.artifact_store().map(|s| s.location()),
        Some(physical_id(api, "ArtifactBucket").await.as_str())
    );
    let build = &declared.stages()[1].actions()[0];
    assert_eq!(
        build.configuration().unwrap()["ProjectName"],
        template["Resources"]["Stage1Step1Project"]["Properties"]["Name"]
            .as_str()
            .unwrap()
    );
    let tags = api
        .bed
        .clients
        .codepipeline
        .list_tags_for_resource()
        .resource_arn(&pipeline.arn)
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "pipeline-builder:org" && t.value() == ORG));
}

#[tokio::test]
async fn a_deployed_sample_runs_reports_its_executions_per_plugin_and_audits_clean() {
    let (api, admin) = ApiBed::with_sample_plugins("deploy-e2e", ORG)
        .await
        .unwrap();
    let completions = EventCapture::subscribe(
        &api.bed.clients,
        &format!("{}-deployments", api.bed.prefix),
        &api.bed.stack.event_bus_name,
        DEPLOYMENT_SOURCE,
    )
    .await
    .unwrap();
    let created = api
        .post_json("/api/pipelines", &admin, &payments_service())
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();

    let started = api
        .send(
            Method::POST,
            &format!("/api/pipelines/{id}/deployments"),
            Some(&admin),
            None,
        )
        .await
        .unwrap();
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    assert_eq!(started.body["stackName"], STACK);
    let deployment = started.body["id"].as_str().unwrap().to_string();
    let stack_id = started.body["stackId"].as_str().unwrap().to_string();
    let tags = stack_tags(&api).await;
    let platform = pb_domain::synth::platform_tags(ORG, &id);
    assert!(
        platform.into_iter().all(|tag| tags.contains(&tag)),
        "{tags:?}"
    );
    assert!(tags.contains(&("cost-center".into(), "payments".into())));

    // Nothing has read the stack yet: the deployment waits for its event.
    let waiting = stored_deployment(&api, &id, &deployment).await;
    assert!(!waiting.status.is_terminal(), "{waiting:?}");
    assert_eq!(api.state.registry.get(&id).await.unwrap(), None);

    let ingest = Ingest::new(&api.bed.clients, &api.bed.config);
    let (response, summary) = ingest
        .handle(sqs_batch([("stack", create_complete(&stack_id))]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(summary.stored, 1, "{summary:?}");
    let ended = stored_deployment(&api, &id, &deployment).await;
    assert_eq!(ended.status, DeploymentStatus::Succeeded);
    assert_eq!(ended.stack_status.as_deref(), Some("CREATE_COMPLETE"));
    let entry = api
        .get(&format!("/api/registry/{id}"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(entry.status, StatusCode::OK, "{:?}", entry.body);
    assert_eq!(entry.body["pipelineName"], STACK);
    assert_eq!(entry.body["stackName"], STACK);
    let stored = api.state.registry.get(&id).await.unwrap().unwrap();
    assert_eq!(stored.stack_id.as_deref(), Some(stack_id.as_str()));
    assert_eq!(stored.account.as_deref(), Some(ACCOUNT_ID));
    assert_eq!(stored.definition_version, Some(1));
    let published = completions.drain().await.unwrap();
    let completed: Vec<&Value> = published
        .iter()
        .filter(|e| e["detail-type"] == DEPLOYMENT_COMPLETED)
        .collect();
    assert_eq!(completed.len(), 1, "{published:?}");
    assert_eq!(completed[0]["detail"]["status"], "SUCCEEDED");
    assert_eq!(completed[0]["detail"]["pipelineId"], id.as_str());

    let template = api
        .get(&format!("/api/pipelines/{id}/template"), Some(&admin))
        .await
        .unwrap()
        .body;
    let deployed_body = api
        .bed
        .clients
        .cloudformation
        .get_template()
        .stack_name(STACK)
        .send()
        .await
        .unwrap()
        .template_body
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&deployed_body).unwrap(),
        template,
        "the API's template is the one the stack runs"
    );
    let pipeline = create_deployed_pipeline(&api.bed, STACK, &template)
        .await
        .unwrap();
    assert_eq!(pipeline.name, STACK);
    assert_declared_from_the_stack(&api, &pipeline, &template).await;

    let events = execution_events(&pipeline.name);
    let summary = ingest_all(&ingest, &events).await;
    // stop/pipeline-stopping.json sorts after pipeline-stopped.json: the older state, arriving
    // late, changes nothing.
    assert_eq!(
        (summary.received, summary.stored, summary.duplicate),
        (30, 29, 1),
        "{summary:?}"
    );
    assert_eq!(summary.unattributed, 0);
    let pinned = api
        .state
        .pipelines
        .get(ORG, &id)
        .await
        .unwrap()
        .unwrap()
        .pinned;
    let store = ExecutionStore::new(
        api.bed.clients.dynamodb.clone(),
        &api.bed.stack.executions_table,
    );
    let mut attributed = BTreeSet::new();
    for (_, item) in store.execution_items(&id, "").await.unwrap() {
        let (Some(stage), Some(action)) = (item.stage, item.action) else {
            continue;
        };
        let plugin = item
            .plugin
            .unwrap_or_else(|| panic!("{stage}/{action} has no plugin"));
        let step = pinned
            .iter()
            .find(|p| p.stage == stage && p.step == action)
            .unwrap();
        assert_eq!(
            (&plugin.name, &plugin.version),
            (&step.plugin, &step.version)
        );
        attributed.insert(format!("{stage}/{action}: {}", plugin.name));
    }
    assert_eq!(
        attributed.into_iter().collect::<Vec<_>>(),
        [
            "Approve/ApproveRelease: manual-approval",
            "Build/Build: node-build",
            "Build/UnitTests: unit-tests",
            "Deploy/Deploy: cfn-deploy",
            "Deploy/DeployEU: cfn-deploy",
        ]
    );

    let audit = AuditConfig {
        catalog_table: api.bed.stack.catalog_table.clone(),
        event_bus_name: None,
        regions: Vec::new(),
        deploy_regions: RegionConfig::default(),
    };
    let run = Auditor::new(&api.bed.clients, &audit)
        .run(&AuditRequest {
            trigger: "test".into(),
            org: Some(ORG.into()),
            regions: Vec::new(),
        })
        .await;
    assert_eq!(run.status, RunStatus::Clean, "{run:?}");
    assert!(run.findings.is_empty(), "{:?}", run.findings);
    assert_eq!(
        (
            run.summary.registry_entries,
            run.summary.pipeline_stacks,
            run.summary.matched
        ),
        (1, 1, 1)
    );
}
