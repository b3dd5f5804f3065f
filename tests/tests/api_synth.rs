//! Synthesis through the API, against the emulator: a stored pipeline's template, the dry run,
//! formats, and who may see what.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use pb_tests::api::{ApiBed, Reply};
use serde_json::{json, Value};
use tower::ServiceExt;

const ACME: &str = "acme";
const GLOBEX: &str = "globex";

fn storefront() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../samples/pipelines/storefront-web.json"
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

async fn created(api: &ApiBed, token: &str, body: &Value) -> String {
    let reply = api.post_json("/api/pipelines", token, body).await.unwrap();
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

/// Status, content type and raw body of a GET with an `Accept` header.
async fn get_as(
    api: &ApiBed,
    path: &str,
    token: &str,
    accept: &str,
) -> (StatusCode, String, String) {
    let request = Request::builder()
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::ACCEPT, accept)
        .body(Body::empty())
        .unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

fn actions(template: &Value) -> Vec<(String, Vec<String>)> {
    template["Resources"]["Pipeline"]["Properties"]["Stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stage| {
            let names = stage["Actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["Name"].as_str().unwrap().to_string())
                .collect();
            (stage["Name"].as_str().unwrap().to_string(), names)
        })
        .collect()
}

fn tag(template: &Value, key: &str) -> Option<String> {
    template["Resources"]["Pipeline"]["Properties"]["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["Key"] == key)
        .map(|t| t["Value"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_stored_pipeline_answers_the_template_it_deploys_as() {
    let (api, admin) = ApiBed::with_sample_plugins("synth-stored", ACME)
        .await
        .unwrap();
    let id = created(&api, &admin, &storefront()).await;
    let path = format!("/api/pipelines/{id}/template");

    let (status, content_type, body) = get_as(&api, &path, &admin, "application/json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "application/json");
    let template: Value = serde_json::from_str(&body).unwrap();
    let pipeline = &template["Resources"]["Pipeline"]["Properties"];
    assert_eq!(pipeline["Name"], "pb-acme-storefront-web");
    assert_eq!(pipeline["PipelineType"], "V2");
    assert_eq!(pipeline["ExecutionMode"], "QUEUED");
    assert_eq!(
        actions(&template),
        [
            ("Source".to_string(), vec!["Source".to_string()]),
            ("Build".into(), vec!["Compile".into()]),
            (
                "Test".into(),
                vec![
                    "Scan".into(),
                    "UnitTests".into(),
                    "IntegrationTests".into(),
                    "Publish".into()
                ]
            ),
            ("Approve".into(), vec!["ApproveRelease".into()]),
            ("Production".into(), vec!["Deploy".into()]),
        ]
    );
    assert_eq!(
        tag(&template, "PIPELINE_EVENT_ID").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        tag(&template, "pipeline-builder:org").as_deref(),
        Some(ACME)
    );
    assert_eq!(tag(&template, "cost-center").as_deref(), Some("storefront"));
    assert_eq!(
        template["Metadata"]["pipeline-builder"]["stackName"],
        "pb-acme-storefront-web"
    );

    let (_, _, again) = get_as(&api, &path, &admin, "*/*").await;
    assert_eq!(again, body, "the same definition gives the same bytes");

    let (status, content_type, yaml) = get_as(&api, &path, &admin, "application/yaml").await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/yaml")
    );
    let limits = pb_domain::yaml::Limits {
        max_nodes: 100_000,
        ..pb_domain::yaml::Limits::BODY
    };
    assert_eq!(pb_domain::yaml::to_json(&yaml, limits).unwrap(), template);

    let (status, _, problem) = get_as(&api, &path, &admin, "text/html").await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "{problem}");
}

#[tokio::test]
async fn another_orgs_template_is_not_found_even_when_the_pipeline_is_public() {
    let (api, admin) = ApiBed::with_sample_plugins("synth-tenancy", ACME)
        .await
        .unwrap();
    let mut public = storefront();
    public["accessModifier"] = json!("public");
    let id = created(&api, &admin, &public).await;
    let globex = api.token(GLOBEX, &["*"]).await.unwrap();
    let path = format!("/api/pipelines/{id}/template");
    let read = api
        .get(&format!("/api/pipelines/{id}"), Some(&globex))
        .await
        .unwrap();
    assert_eq!(
        read.status,
        StatusCode::OK,
        "the public definition itself is readable"
    );
    let reply = api.get(&path, Some(&globex)).await.unwrap();
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );

    let writer = api.token(ACME, &["pipelines:create"]).await.unwrap();
    let reply = api.get(&path, Some(&writer)).await.unwrap();
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{:?}", reply.body);
}

#[tokio::test]
async fn the_dry_run_answers_a_template_and_stores_nothing() {
    let (api, admin) = ApiBed::with_sample_plugins("synth-dry-run", ACME)
        .await
        .unwrap();
    let reader = api.token(ACME, &["pipelines:read"]).await.unwrap();
    let reply: Reply = api
        .post_json("/api/pipelines/synth", &reader, &storefront())
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        tag(&reply.body, "PIPELINE_EVENT_ID").as_deref(),
        Some("dry-run")
    );
    assert_eq!(
        reply.body["Resources"]["Pipeline"]["Properties"]["Name"],
        "pb-acme-storefront-web"
    );
    let listed = api.get("/api/pipelines", Some(&admin)).await.unwrap();
    assert_eq!(listed.body["items"], json!([]));
}

#[tokio::test]
async fn what_cannot_be_synthesized_is_refused_with_its_field() {
    let (api, admin) = ApiBed::with_sample_plugins("synth-refusals", ACME)
        .await
        .unwrap();
    let mut token_only = storefront();
    token_only["source"] = json!({"type": "github", "repo": "acme/storefront", "branch": "main", "tokenSecret": "acme/github-token"});
    let reply = api
        .post_json("/api/pipelines/synth", &admin, &token_only)
        .await
        .unwrap();
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert_eq!(reply.error_fields(), ["source.tokenSecret"]);

    let mut no_stack_name = storefront();
    no_stack_name["stages"][3]["steps"][0]["metadata"] = json!({});
    for path in ["/api/pipelines/synth", "/api/pipelines"] {
        let reply = api.post_json(path, &admin, &no_stack_name).await.unwrap();
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {:?}",
            reply.body
        );
        assert_eq!(
            reply.error_fields(),
            ["stages[3].steps[0].metadata.stackName"],
            "{path}"
        );
    }

    let mut reserved = storefront();
    reserved["tags"] =
        json!({"PIPELINE_EVENT_ID": "pl-other", "aws:cloudformation:stack-name": "x"});
    let reply = api
        .post_json("/api/pipelines", &admin, &reserved)
        .await
        .unwrap();
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        reply.body
    );
    assert_eq!(
        reply.error_fields(),
        [
            "tags.PIPELINE_EVENT_ID",
            "tags.aws:cloudformation:stack-name"
        ]
    );
}
