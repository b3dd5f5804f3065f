//! A registry entry's region becomes the CloudFormation endpoint the nightly audit calls: only
//! regions the platform deploys to are accepted.

use axum::http::StatusCode;
use pb_aws::registry::{Registry, RegistryEntry};
use pb_tests::api::{sample_plugin, ApiBed, Reply};
use serde_json::{json, Value};
use std::time::Duration;

/// A bed where org `acme` published the node-build sample and defined one pipeline with it.
async fn bed_with_pipeline(label: &str) -> (ApiBed, String, String) {
    let api = ApiBed::new(label).await.unwrap();
    let admin = api.token("acme", &["*"]).await.unwrap();
    let published = api
        .publish_yaml(&admin, sample_plugin("node-build").unwrap())
        .await
        .unwrap();
    assert_eq!(
        published.status,
        StatusCode::CREATED,
        "{:?}",
        published.body
    );
    let definition = json!({
        "name": "payments",
        "project": "payments",
        "source": {"type": "codecommit", "repository": "payments", "branch": "main"},
        "stages": [{"name": "Build", "steps": [{"plugin": {"name": "node-build", "version": "^2"}}]}]
    });
    let created = api
        .post_json("/api/pipelines", &admin, &definition)
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    (api, admin, id)
}

fn registry(api: &ApiBed) -> Registry {
    Registry::new(
        api.bed.clients.dynamodb.clone(),
        &api.bed.stack.catalog_table,
        Duration::ZERO,
        Duration::ZERO,
    )
}

fn region_errors(reply: &Reply) -> Vec<Value> {
    reply.body["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter(|e| e["field"] == "region")
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_made_up_region_is_refused_naming_the_field_and_the_allowed_regions() {
    let (api, admin, id) = bed_with_pipeline("registry-fake-region").await;

    let refused = api
        .post_json(
            "/api/registry",
            &admin,
            &json!({"pipelineId": id, "stackName": "payments-pipeline", "region": "zz-fake-9"}),
        )
        .await
        .unwrap();

    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let errors = region_errors(&refused);
    assert_eq!(errors.len(), 1, "{:?}", refused.body);
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "\"zz-fake-9\" is not a region the platform deploys to; allowed: af-south-1, ap-east-1,"
        ),
        "{message}"
    );
    assert!(message.ends_with(", us-west-1, us-west-2"), "{message}");
    assert!(!message.contains("cn-north-1"), "{message}");
    assert_eq!(registry(&api).get(&id).await.unwrap(), None);

    let accepted = api
        .post_json(
            "/api/registry",
            &admin,
            &json!({"pipelineId": id, "stackName": "payments-pipeline", "region": "eu-west-1"}),
        )
        .await
        .unwrap();
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
}

#[tokio::test]
async fn a_stored_made_up_region_must_be_replaced_on_the_next_write() {
    let (api, admin, id) = bed_with_pipeline("registry-legacy-region").await;
    let legacy = RegistryEntry {
        pipeline_id: id.clone(),
        org_id: "acme".into(),
        pipeline_name: "payments".into(),
        stack_name: "payments-pipeline".into(),
        region: "zz-fake-9".into(),
        last_deployed: "2026-11-01T00:00:00Z".into(),
        stack_id: None,
        account: None,
        definition_version: None,
    };
    registry(&api).put(&legacy).await.unwrap();

    let kept = api
        .post_json(
            "/api/registry",
            &admin,
            &json!({"pipelineId": id, "stackName": "payments-v2"}),
        )
        .await
        .unwrap();

    assert_eq!(kept.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(region_errors(&kept).len(), 1, "{:?}", kept.body);
    assert_eq!(registry(&api).get(&id).await.unwrap(), Some(legacy));
}
