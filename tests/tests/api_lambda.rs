//! The Lambda host of the router: API Gateway HTTP API (payload 2.0) events, converted by
//! lambda_http exactly as `lambda_http::run` does, reach the same router the local server runs.

use axum::http::StatusCode;
use http_body_util::BodyExt;
use pb_tests::api::ApiBed;
use pb_tests::events::events_dir;
use serde_json::Value;
use tower::ServiceExt;

async fn invoke(api: &ApiBed, sample: &str, token: &str) -> (StatusCode, String, Value) {
    let path = events_dir().join("apigateway").join(sample);
    let event = std::fs::read_to_string(path)
        .unwrap()
        .replace("REPLACE_WITH_A_TOKEN", token);
    let request = lambda_http::request::from_str(&event).unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, request_id, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn gateway_events_are_served_with_the_gateway_request_id() {
    let api = ApiBed::new("lambda-host").await.unwrap();
    let admin = api.token("acme", &["*"]).await.unwrap();

    let (status, request_id, body) = invoke(&api, "publish-plugin.json", &admin).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(request_id, "Cq3fAh2ZoAMEbWQ=");
    assert_eq!(body["spec"]["name"], "hello-build");

    let (status, request_id, body) = invoke(&api, "list-plugins.json", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(request_id, "Cq3eXg1ZoAMEbVQ=");
    assert_eq!(body["items"][0]["name"], "hello-build");

    let (status, _, problem) = invoke(&api, "list-plugins.json", "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["requestId"], "Cq3eXg1ZoAMEbVQ=");
}
