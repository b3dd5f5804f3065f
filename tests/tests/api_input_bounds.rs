//! Inputs that once reached a DynamoDB key or a lossy decoder unchecked: each is refused with a
//! 400 problem before any handler builds a key from it.

use axum::http::StatusCode;
use pb_aws::pipelines::PipelineRecord;
use pb_aws::registry::{Registry, RegistryEntry};
use pb_tests::api::ApiBed;
use serde_json::json;
use std::time::Duration;

const ACME: &str = "acme";
const GLOBEX: &str = "globex";

#[tokio::test]
async fn a_query_string_that_is_not_utf8_once_decoded_is_a_400() {
    let api = ApiBed::new("bounds-utf8").await.unwrap();
    let token = api.token(ACME, &["*"]).await.unwrap();
    for path in [
        "/api/pipelines?project=%FF%FE",
        "/api/plugins?keyword=%C3",
        "/api/reports/execution/count?pipelineId=%E2%82",
    ] {
        let reply = api.get(path, Some(&token)).await.unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "invalid_parameter"),
            "{path}: {:?}",
            reply.body
        );
        assert!(
            reply.body["detail"].as_str().unwrap().contains("UTF-8"),
            "{:?}",
            reply.body
        );
    }
    let long = format!("/api/pipelines?project={}", "p".repeat(5000));
    let reply = api.get(&long, Some(&token)).await.unwrap();
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn path_parameters_with_key_separators_or_beyond_key_limits_are_400s() {
    let api = ApiBed::new("bounds-path").await.unwrap();
    let token = api.token(ACME, &["*"]).await.unwrap();
    let oversized = "x".repeat(2100);
    for path in [
        "/api/pipelines/abc%23SK".to_string(),
        format!("/api/pipelines/{oversized}"),
        "/api/plugins/node-build%23V".to_string(),
        format!("/api/plugins/{oversized}/1.0.0"),
        format!("/api/registry/{oversized}"),
        "/api/compliance/rules/r%23x".to_string(),
    ] {
        let reply = api.get(&path, Some(&token)).await.unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "invalid_parameter"),
            "{path}: {:?}",
            reply.body
        );
    }
}

#[tokio::test]
async fn a_pipeline_delete_is_blocked_by_its_own_orgs_registry_entry_inside_the_write() {
    let api = ApiBed::new("bounds-delete").await.unwrap();
    let store = &api.state.pipelines;
    let registry = Registry::new(
        api.bed.clients.dynamodb.clone(),
        &api.bed.stack.catalog_table,
        Duration::ZERO,
        Duration::ZERO,
    );
    let record = ledger_record();
    store.create(&record).await.unwrap();
    registry.put(&entry(&record.id, ACME)).await.unwrap();

    let blocked = store.delete(ACME, &record.id, None, false).await;
    assert!(
        matches!(blocked, Err(pb_aws::pipelines::WriteError::Registered)),
        "{blocked:?}"
    );
    assert!(store.get(ACME, &record.id).await.unwrap().is_some());

    registry.put(&entry(&record.id, GLOBEX)).await.unwrap();
    store.delete(ACME, &record.id, None, false).await.unwrap();
    assert!(store.get(ACME, &record.id).await.unwrap().is_none());
    assert_eq!(
        json!(GLOBEX),
        json!(registry.org_of(&record.id).await.unwrap())
    );
}

fn ledger_record() -> PipelineRecord {
    let spec = serde_json::from_value(json!({
        "name": "ledger",
        "project": "payments",
        "source": {"type": "s3", "bucket": "acme-sources", "key": "ledger.zip"},
        "stages": []
    }))
    .unwrap();
    PipelineRecord {
        id: "4f9c1d2e-8b7a-4c3d-9e1f-0a2b3c4d5e6f".into(),
        org: ACME.into(),
        version: 1,
        spec,
        pinned: vec![],
        created_at: "2026-11-01T00:00:00Z".into(),
        created_by: "alice".into(),
        updated_at: "2026-11-01T00:00:00Z".into(),
        updated_by: "alice".into(),
    }
}

fn entry(pipeline_id: &str, org: &str) -> RegistryEntry {
    RegistryEntry {
        pipeline_id: pipeline_id.into(),
        org_id: org.into(),
        pipeline_name: "ledger".into(),
        stack_name: "ledger".into(),
        region: "us-east-1".into(),
        last_deployed: "2026-11-01T00:00:00Z".into(),
        stack_id: None,
        account: None,
        definition_version: None,
    }
}

#[tokio::test]
async fn registry_fields_that_become_keys_or_match_events_are_checked_first() {
    let api = ApiBed::new("bounds-registry").await.unwrap();
    let token = api.token(ACME, &["*"]).await.unwrap();
    let cases = [
        (
            json!({"pipelineId": "x".repeat(2100), "stackName": "s", "region": "us-east-1"}),
            "pipelineId",
        ),
        (
            json!({"pipelineId": "pl-1#REG", "stackName": "s", "region": "us-east-1"}),
            "pipelineId",
        ),
        (
            json!({"pipelineId": "pl-1", "pipelineName": "a".repeat(101), "stackName": "s", "region": "us-east-1"}),
            "pipelineName",
        ),
        (
            json!({"pipelineId": "pl-1", "pipelineName": "pay ments", "stackName": "s", "region": "us-east-1"}),
            "pipelineName",
        ),
    ];
    for (body, field) in cases {
        let reply = api.post_json("/api/registry", &token, &body).await.unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "{:?}",
            reply.body
        );
        assert_eq!(reply.body["errors"][0]["field"], field, "{:?}", reply.body);
    }
}
