//! Deploying pipelines through the API, against the emulator: CloudFormation creates the stack
//! (moto skips the CodePipeline and CodeBuild resources and emits no stack events, so progress
//! is read from the stack when a deployment is read).

use axum::http::{Method, StatusCode};
use pb_tests::api::{ApiBed, Reply};
use serde_json::{json, Value};

const ACME: &str = "acme";
const GLOBEX: &str = "globex";

fn sample(name: &str) -> Value {
    let path = format!(
        "{}/../samples/pipelines/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A sample under its own pipeline name: the tests share one emulator, where stack names are
/// unique per account and region as in AWS.
fn sample_named(name: &str, pipeline_name: &str) -> Value {
    let mut value = sample(name);
    value["name"] = json!(pipeline_name);
    value
}

async fn created(api: &ApiBed, token: &str, body: &Value) -> String {
    let reply = api.post_json("/api/pipelines", token, body).await.unwrap();
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

async fn deploy(api: &ApiBed, token: &str, id: &str) -> Reply {
    api.send(
        Method::POST,
        &format!("/api/pipelines/{id}/deployments"),
        Some(token),
        None,
    )
    .await
    .unwrap()
}

async fn preview(api: &ApiBed, token: &str, id: &str) -> Reply {
    api.send(
        Method::POST,
        &format!("/api/pipelines/{id}/deployments?preview=true"),
        Some(token),
        None,
    )
    .await
    .unwrap()
}

async fn read(api: &ApiBed, token: &str, id: &str, deployment: &str) -> Reply {
    api.get(
        &format!("/api/pipelines/{id}/deployments/{deployment}"),
        Some(token),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_deployment_creates_the_tagged_stack_and_registers_the_pipeline() {
    let (api, admin) = ApiBed::with_sample_plugins("deploy-create", ACME)
        .await
        .unwrap();
    let id = created(&api, &admin, &sample("storefront-web")).await;
    let started = deploy(&api, &admin, &id).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    assert_eq!(started.body["stackName"], "pb-acme-storefront-web");
    assert_eq!(started.body["action"], "create");
    let deployment = started.body["id"].as_str().unwrap().to_string();

    let done = read(&api, &admin, &id, &deployment).await;
    assert_eq!(done.body["status"], "SUCCEEDED", "{:?}", done.body);
    assert_eq!(done.body["stackStatus"], "CREATE_COMPLETE");

    let stacks = api
        .bed
        .clients
        .cloudformation
        .describe_stacks()
        .stack_name("pb-acme-storefront-web")
        .send()
        .await
        .unwrap();
    let tags: Vec<(String, String)> = stacks.stacks()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect();
    assert!(
        tags.contains(&("PIPELINE_EVENT_ID".into(), id.clone())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("pipeline-builder:org".into(), ACME.into())),
        "{tags:?}"
    );

    let entry = api
        .get(&format!("/api/registry/{id}"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(entry.status, StatusCode::OK, "{:?}", entry.body);
    assert_eq!(entry.body["stackName"], "pb-acme-storefront-web");
    assert_eq!(entry.body["pipelineName"], "pb-acme-storefront-web");
    assert_eq!(entry.body["account"], "123456789012");
    assert_eq!(entry.body["definitionVersion"], 1);
    assert!(entry.body["stackId"]
        .as_str()
        .unwrap()
        .contains(":stack/pb-acme-storefront-web/"));

    let again = deploy(&api, &admin, &id).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["status"], "UNCHANGED");

    let listed = api
        .get(&format!("/api/pipelines/{id}/deployments"), Some(&admin))
        .await
        .unwrap();
    let statuses: Vec<&Value> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["status"])
        .collect();
    assert_eq!(statuses, [&json!("UNCHANGED"), &json!("SUCCEEDED")]);

    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    assert_eq!(
        deploy(&api, &globex, &id).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        read(&api, &globex, &id, &deployment).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_large_template_goes_through_the_template_bucket() {
    let (api, admin) = ApiBed::with_sample_plugins("deploy-large", ACME)
        .await
        .unwrap();
    let id = created(&api, &admin, &sample("monorepo-50-steps")).await;
    let started = deploy(&api, &admin, &id).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let deployment = started.body["id"].as_str().unwrap().to_string();
    let done = read(&api, &admin, &id, &deployment).await;
    assert_eq!(done.body["status"], "SUCCEEDED", "{:?}", done.body);
    let objects = api
        .bed
        .clients
        .s3
        .list_objects_v2()
        .bucket(&api.bed.stack.deploy.template_bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(objects.contents().len(), 1);
}

/// The recorded stack status event, about the stack the deployment created.
fn stack_event(stack_id: &str, status: &str) -> String {
    let body = include_str!("../../events/cloudformation/stack-status-create-complete.json");
    let mut event: Value = serde_json::from_str(body).unwrap();
    event["resources"] = json!([stack_id]);
    event["detail"]["stack-id"] = json!(stack_id);
    event["detail"]["status-details"]["status"] = json!(status);
    event.to_string()
}

#[tokio::test]
async fn stack_status_events_move_the_deployment_through_ingest() {
    let (api, admin) = ApiBed::with_sample_plugins("deploy-events", ACME)
        .await
        .unwrap();
    let id = created(&api, &admin, &sample("inventory-codecommit")).await;
    let started = deploy(&api, &admin, &id).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let deployment = started.body["id"].as_str().unwrap().to_string();
    let stack_id = started.body["stackId"].as_str().unwrap().to_string();
    let ingest = pb_ingest::handler::Ingest::new(&api.bed.clients, &api.bed.config);

    let stored = |status: &'static str| {
        let api = &api;
        let (id, deployment) = (id.clone(), deployment.clone());
        async move {
            let record = api
                .state
                .deployments
                .get(ACME, &id, &deployment)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                serde_json::to_value(record.status).unwrap(),
                json!(status),
                "{record:?}"
            );
            record
        }
    };
    let in_progress = stack_event(&stack_id, "CREATE_IN_PROGRESS");
    let (response, _) = ingest
        .handle(pb_tests::events::sqs_batch([("m1", in_progress)]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    stored("IN_PROGRESS").await;

    let (name_part, _) = stack_id.rsplit_once('/').unwrap();
    let older = stack_event(
        &format!("{name_part}/00000000-0000-0000-0000-000000000000"),
        "ROLLBACK_COMPLETE",
    );
    let (response, summary) = ingest
        .handle(pb_tests::events::sqs_batch([("m2", older)]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        summary.duplicate, 1,
        "an event of another stack of that name changes nothing"
    );
    stored("IN_PROGRESS").await;

    let complete = stack_event(&stack_id, "CREATE_COMPLETE");
    let (response, _) = ingest
        .handle(pb_tests::events::sqs_batch([
            ("m3", complete.clone()),
            ("m4", complete),
        ]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    let record = stored("SUCCEEDED").await;
    assert_eq!(record.stack_status.as_deref(), Some("CREATE_COMPLETE"));
    let entry = api.state.registry.get(&id).await.unwrap().unwrap();
    assert_eq!(entry.stack_id.as_deref(), Some(stack_id.as_str()));
    assert_eq!(entry.pipeline_name, "pb-acme-inventory-service");
    assert_eq!(entry.definition_version, Some(1));

    let late = stack_event(&stack_id, "UPDATE_ROLLBACK_COMPLETE");
    ingest
        .handle(pb_tests::events::sqs_batch([("m5", late)]))
        .await;
    stored("SUCCEEDED").await;

    let malformed = r#"{"source": "aws.cloudformation", "detail-type": "CloudFormation Stack Status Change", "detail": {}}"#;
    let (response, summary) = ingest
        .handle(pb_tests::events::sqs_batch([("m6", malformed.to_string())]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(summary.quarantined, 1);
}

#[tokio::test]
async fn a_second_deployment_waits_and_compliance_is_checked_again() {
    let (api, admin) = ApiBed::with_sample_plugins("deploy-busy", ACME)
        .await
        .unwrap();
    let id = created(&api, &admin, &sample_named("reports-s3", "reports-busy")).await;
    let first = deploy(&api, &admin, &id).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.body);
    let second = deploy(&api, &admin, &id).await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{:?}", second.body);
    assert!(second.body["detail"]
        .as_str()
        .unwrap()
        .contains("still in progress"));
    let first_id = first.body["id"].as_str().unwrap();
    assert_eq!(
        read(&api, &admin, &id, first_id).await.body["status"],
        "SUCCEEDED"
    );

    let rule = json!({"name": "one stage only", "target": "pipeline", "severity": "error",
                      "field": "stageCount", "operator": "lte", "value": 0});
    let created_rule = api
        .post_json("/api/compliance/rules", &admin, &rule)
        .await
        .unwrap();
    assert_eq!(
        created_rule.status,
        StatusCode::CREATED,
        "{:?}",
        created_rule.body
    );
    let refused = deploy(&api, &admin, &id).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert_eq!(refused.code(), "compliance_violation");

    let reader = api.token(ACME, &["pipelines:read"]).await.unwrap();
    assert_eq!(
        deploy(&api, &reader, &id).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_preview_shows_its_changes_and_changes_nothing() {
    let (api, admin) = ApiBed::with_sample_plugins("deploy-preview", ACME)
        .await
        .unwrap();
    let id = created(&api, &admin, &sample_named("reports-s3", "reports-preview")).await;
    let preview = preview(&api, &admin, &id).await;
    assert_eq!(preview.status, StatusCode::ACCEPTED, "{:?}", preview.body);
    assert_eq!(preview.body["status"], "PREVIEW");
    let shown = read(&api, &admin, &id, preview.body["id"].as_str().unwrap()).await;
    let changes = shown.body["changeSet"]["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["logicalId"] == "Pipeline" && c["action"] == "Add"),
        "{:?}",
        shown.body
    );
    assert!(api.state.registry.get(&id).await.unwrap().is_none());

    let deployed = deploy(&api, &admin, &id).await;
    assert_eq!(deployed.status, StatusCode::ACCEPTED, "{:?}", deployed.body);
    let done = read(&api, &admin, &id, deployed.body["id"].as_str().unwrap()).await;
    assert_eq!(done.body["status"], "SUCCEEDED", "{:?}", done.body);
}

#[tokio::test]
async fn deleting_with_the_stack_removes_stack_and_registration() {
    let (api, admin) = ApiBed::with_sample_plugins("deploy-delete", ACME)
        .await
        .unwrap();
    let id = created(&api, &admin, &sample_named("reports-s3", "reports-delete")).await;
    let started = deploy(&api, &admin, &id).await;
    let done = read(&api, &admin, &id, started.body["id"].as_str().unwrap()).await;
    assert_eq!(done.body["status"], "SUCCEEDED", "{:?}", done.body);
    let path = format!("/api/pipelines/{id}?deleteStack=true");
    let deleter = api.token(ACME, &["pipelines:delete"]).await.unwrap();
    let refused = api
        .send(Method::DELETE, &path, Some(&deleter), None)
        .await
        .unwrap();
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);

    let deleted = api
        .send(Method::DELETE, &path, Some(&admin), None)
        .await
        .unwrap();
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:?}", deleted.body);
    assert!(api.state.registry.get(&id).await.unwrap().is_none());
    let stack = api
        .state
        .deployer
        .describe("pb-acme-reports-delete")
        .await
        .unwrap();
    assert!(
        stack.as_ref().is_none_or(|s| s.status == "DELETE_COMPLETE"),
        "{stack:?}"
    );
    let gone = api
        .get(&format!("/api/pipelines/{id}"), Some(&admin))
        .await
        .unwrap();
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_rolled_back_create_fails_with_its_status_and_registers_nothing() {
    let (api, admin) = ApiBed::with_sample_plugins("deploy-rollback", ACME)
        .await
        .unwrap();
    let id = created(
        &api,
        &admin,
        &sample_named("reports-s3", "reports-rollback"),
    )
    .await;
    let started = deploy(&api, &admin, &id).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let deployment = started.body["id"].as_str().unwrap().to_string();
    let stack_id = started.body["stackId"].as_str().unwrap().to_string();
    let ingest = pb_ingest::handler::Ingest::new(&api.bed.clients, &api.bed.config);
    let rolled_back = stack_event(&stack_id, "ROLLBACK_COMPLETE");
    let (response, _) = ingest
        .handle(pb_tests::events::sqs_batch([("m1", rolled_back)]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    let record = api
        .state
        .deployments
        .get(ACME, &id, &deployment)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::to_value(record.status).unwrap(),
        json!("FAILED")
    );
    assert_eq!(record.stack_status.as_deref(), Some("ROLLBACK_COMPLETE"));
    assert!(
        record
            .reason
            .as_deref()
            .unwrap()
            .contains("ROLLBACK_COMPLETE"),
        "{record:?}"
    );
    assert!(api.state.registry.get(&id).await.unwrap().is_none());
    let next = deploy(&api, &admin, &id).await;
    // The lock was released. (The emulator's stack really stands CREATE_COMPLETE, so the next
    // deployment is an update CloudFormation finds nothing in.)
    assert_eq!(next.status, StatusCode::OK, "{:?}", next.body);
    assert_eq!(
        (&next.body["action"], &next.body["status"]),
        (&json!("update"), &json!("UNCHANGED"))
    );
}

/// The emulator cannot leave a stack in ROLLBACK_COMPLETE, but a preview of a first deployment
/// leaves one in REVIEW_IN_PROGRESS, which takes the same path: deleted, then created again.
#[tokio::test]
async fn a_stack_that_cannot_be_updated_is_deleted_and_created_again() {
    let (api, admin) = ApiBed::with_sample_plugins("deploy-recreate", ACME)
        .await
        .unwrap();
    let id = created(
        &api,
        &admin,
        &sample_named("reports-s3", "reports-recreate"),
    )
    .await;
    let preview = preview(&api, &admin, &id).await;
    assert_eq!(preview.status, StatusCode::ACCEPTED, "{:?}", preview.body);
    let before = api
        .state
        .deployer
        .describe("pb-acme-reports-recreate")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.status, "REVIEW_IN_PROGRESS");

    let deployed = deploy(&api, &admin, &id).await;
    assert_eq!(deployed.status, StatusCode::ACCEPTED, "{:?}", deployed.body);
    assert_eq!(deployed.body["action"], "recreate");
    assert!(
        deployed.body["reason"]
            .as_str()
            .unwrap()
            .contains("REVIEW_IN_PROGRESS"),
        "{:?}",
        deployed.body
    );
    assert_ne!(deployed.body["stackId"], json!(before.stack_id));
    let done = read(&api, &admin, &id, deployed.body["id"].as_str().unwrap()).await;
    assert_eq!(done.body["status"], "SUCCEEDED", "{:?}", done.body);
}

#[tokio::test]
async fn an_update_that_rolls_back_fails_and_if_match_pins_the_version() {
    let (api, admin) = ApiBed::with_sample_plugins("deploy-update", ACME)
        .await
        .unwrap();
    let mut definition = sample_named("reports-s3", "reports-update");
    let id = created(&api, &admin, &definition).await;
    let first = deploy(&api, &admin, &id).await;
    let done = read(&api, &admin, &id, first.body["id"].as_str().unwrap()).await;
    assert_eq!(done.body["status"], "SUCCEEDED", "{:?}", done.body);

    // The description is not in the template; a step's env is.
    definition["stages"][0]["steps"][0]["env"] = json!({"SCRIPT": "render-v2.sh"});
    let updated = api
        .request(
            axum::http::Request::builder()
                .method(Method::PUT)
                .uri(format!("/api/pipelines/{id}"))
                .header("authorization", format!("Bearer {admin}"))
                .header("content-type", "application/json")
                .header("if-match", "\"1\"")
                .body(axum::body::Body::from(definition.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);

    let pinned_to_old = api
        .request(
            axum::http::Request::builder()
                .method(Method::POST)
                .uri(format!("/api/pipelines/{id}/deployments"))
                .header("authorization", format!("Bearer {admin}"))
                .header("if-match", "\"1\"")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(pinned_to_old.status, StatusCode::PRECONDITION_FAILED);

    let second = deploy(&api, &admin, &id).await;
    assert_eq!(second.status, StatusCode::ACCEPTED, "{:?}", second.body);
    assert_eq!(
        (&second.body["action"], &second.body["definitionVersion"]),
        (&json!("update"), &json!(2))
    );
    let stack_id = second.body["stackId"].as_str().unwrap().to_string();
    let ingest = pb_ingest::handler::Ingest::new(&api.bed.clients, &api.bed.config);
    let rolled_back = stack_event(&stack_id, "UPDATE_ROLLBACK_COMPLETE");
    ingest
        .handle(pb_tests::events::sqs_batch([("m1", rolled_back)]))
        .await;
    let record = api
        .state
        .deployments
        .get(ACME, &id, second.body["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::to_value(record.status).unwrap(),
        json!("FAILED")
    );
    assert_eq!(
        record.stack_status.as_deref(),
        Some("UPDATE_ROLLBACK_COMPLETE")
    );
    let entry = api.state.registry.get(&id).await.unwrap().unwrap();
    assert_eq!(
        entry.definition_version,
        Some(1),
        "the registry keeps what last succeeded"
    );
}
