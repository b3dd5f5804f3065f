//! YAML bodies against the real router: the issue's alias bomb and deep nesting are refused
//! before any value is built, and YAML has a body limit of its own.

use axum::http::{Method, StatusCode};
use pb_tests::api::{ApiBed, Reply, MAX_BODY_BYTES, MAX_YAML_BODY_BYTES};
use serde_json::Value;

const PLUGIN: &str = "\
name: yaml-probe
version: 1.0.0
description: probe
category: build
pluginType: CodeBuildStep
computeType: SMALL
image: public.ecr.aws/docker/library/node:20
commands:
";

async fn publish(api: &ApiBed, token: &str, content_type: &str, body: Vec<u8>) -> Reply {
    api.send(
        Method::POST,
        "/api/plugins",
        Some(token),
        Some((content_type, body)),
    )
    .await
    .unwrap()
}

fn detail(reply: &Reply) -> &str {
    reply.body["detail"].as_str().unwrap_or_default()
}

async fn nothing_was_stored(api: &ApiBed, token: &str) {
    let stored = api
        .get("/api/plugins/yaml-probe", Some(token))
        .await
        .unwrap();
    assert_eq!(stored.status, StatusCode::NOT_FOUND, "{:?}", stored.body);
}

#[tokio::test]
async fn an_alias_bomb_is_refused_at_its_anchor() {
    let api = ApiBed::new("yaml-alias").await.unwrap();
    let token = api
        .token("acme", &["plugins:create", "plugins:read"])
        .await
        .unwrap();
    // 5,000 aliases of a 1,000-element list: 5 million strings once expanded, 25 KB as sent.
    let bomb = format!(
        "{PLUGIN}  - &a [{}]\nkeywords: [{}]\n",
        vec!["x"; 1000].join(","),
        vec!["*a"; 5000].join(",")
    );
    assert!(bomb.len() < MAX_YAML_BODY_BYTES);
    let reply = publish(&api, &token, "application/yaml", bomb.into_bytes()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert_eq!(reply.code(), "malformed_body");
    assert_eq!(
        detail(&reply),
        "the body is not valid YAML at line 9, column 5: anchors and aliases (&name, *name) are not accepted"
    );
    nothing_was_stored(&api, &token).await;
}

#[tokio::test]
async fn deep_flow_nesting_is_refused_at_level_33() {
    let api = ApiBed::new("yaml-flow").await.unwrap();
    let token = api
        .token("acme", &["plugins:create", "plugins:read"])
        .await
        .unwrap();
    // The root mapping is level 1: the 32nd bracket, at column 7 + 31, would open level 33.
    let nested = format!("name: {}{}\n", "[".repeat(40), "]".repeat(40));
    let reply = publish(&api, &token, "application/yaml", nested.into_bytes()).await;
    assert_eq!(reply.code(), "malformed_body", "{:?}", reply.body);
    assert_eq!(
        detail(&reply),
        "the body is not valid YAML at line 1, column 38: nesting deeper than 32 levels is not accepted"
    );

    // The issue's 20,000-deep body (the one that took 4.6 s) is refused by the parser within
    // its first 256 brackets, however many follow.
    let nested = format!("name: {}\n", "[".repeat(20_000));
    let reply = publish(&api, &token, "application/yaml", nested.into_bytes()).await;
    assert_eq!(reply.code(), "malformed_body", "{:?}", reply.body);
    assert_eq!(reply.body["status"], 400);
    let column = detail(&reply)
        .strip_prefix("the body is not valid YAML at line 1, column ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("a position on line 1: {}", detail(&reply)));
    assert!(column <= 6 + 256, "refused at column {column}");
    nothing_was_stored(&api, &token).await;
}

#[tokio::test]
async fn deep_block_nesting_is_refused_at_level_33() {
    let api = ApiBed::new("yaml-block").await.unwrap();
    let token = api.token("acme", &["plugins:create"]).await.unwrap();
    // `commands:` is level 1's value; each `- ` opens a level, the 32nd (column 3 + 31 × 2)
    // would be level 33.
    let nested = format!("{PLUGIN}  {}x\n", "- ".repeat(10_000));
    let reply = publish(&api, &token, "application/yaml", nested.into_bytes()).await;
    assert_eq!(
        detail(&reply),
        "the body is not valid YAML at line 9, column 65: nesting deeper than 32 levels is not accepted"
    );
}

#[tokio::test]
async fn yaml_bodies_have_a_smaller_limit_than_json() {
    let api = ApiBed::new("yaml-limit").await.unwrap();
    let token = api.token("acme", &["plugins:create"]).await.unwrap();
    let padding = " ".repeat(MAX_YAML_BODY_BYTES);
    assert!(padding.len() + PLUGIN.len() < MAX_BODY_BYTES);

    let yaml = format!("{PLUGIN}  - npm ci\n{padding}");
    let reply = publish(&api, &token, "application/yaml", yaml.into_bytes()).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:?}",
        reply.body
    );
    assert_eq!(
        detail(&reply),
        format!("the body is larger than {MAX_YAML_BODY_BYTES} bytes")
    );

    // The same size as JSON is within the JSON limit, and publishes.
    let json = format!(
        r#"{{"name": "yaml-probe", "version": "1.0.0", "category": "build", "pluginType": "CodeBuildStep",
            "computeType": "SMALL", "image": "node:20", "commands": ["npm ci"]}}{padding}"#
    );
    let reply = publish(&api, &token, "application/json", json.into_bytes()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
}

#[tokio::test]
async fn tags_are_refused_and_type_errors_name_their_path() {
    let api = ApiBed::new("yaml-types").await.unwrap();
    let token = api.token("acme", &["plugins:create"]).await.unwrap();
    let tagged = format!("{PLUGIN}  - !Sub npm ci\n");
    let reply = publish(&api, &token, "application/yaml", tagged.into_bytes()).await;
    assert_eq!(
        detail(&reply),
        "the body is not valid YAML at line 9, column 5: the tag !Sub is not accepted"
    );

    let misspelt = format!("{PLUGIN}  - npm ci\ntimeout: 10\n");
    let reply = publish(&api, &token, "application/yaml", misspelt.into_bytes()).await;
    assert_eq!(reply.code(), "malformed_body");
    assert!(
        detail(&reply).starts_with("the body is not valid YAML at line 10, column 1: ")
            && detail(&reply).contains("unknown field `timeout`"),
        "{}",
        detail(&reply)
    );

    // Quoted scalars stay strings, plain ones resolve: `"20"` is text, 20 a number.
    let typed = format!("{PLUGIN}  - npm ci\ntimeoutMinutes: \"20\"\n");
    let reply = publish(&api, &token, "application/yaml", typed.into_bytes()).await;
    assert_eq!(reply.code(), "malformed_body", "{:?}", reply.body);
    assert!(
        detail(&reply).starts_with(
            "the body is not valid YAML at line 10, column 1: timeoutMinutes: invalid type: string \"20\""
        ),
        "{}",
        detail(&reply)
    );
    let typed = format!("{PLUGIN}  - npm ci\ntimeoutMinutes: 20\n");
    let reply = publish(&api, &token, "application/yaml", typed.into_bytes()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.body["spec"]["timeoutMinutes"], Value::from(20));
}
