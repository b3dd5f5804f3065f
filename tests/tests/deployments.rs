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
