//! Notification subscriptions through the API, against the emulator: a webhook's secret goes to
//! Secrets Manager and never comes back; channels the platform must not reach are refused; one
//! org never sees another's; a test sends a sample delivery to the notify queue.

use axum::http::{Method, StatusCode};
use pb_aws::queue::QueueConsumer;
use pb_domain::notify::Delivery;
use pb_tests::api::ApiBed;
use serde_json::{json, Value};

const ACME: &str = "acme";
const GLOBEX: &str = "globex";
const SECRET: &str = "whsec-0123456789abcdef0123456789abcdef";

fn webhook(url: &str) -> Value {
    json!({
        "name": "payments failures", "project": "payments",
        "outcomes": ["execution-failed", "deployment-failed"],
        "channel": {"type": "webhook", "url": url, "secret": SECRET, "format": "slack"}
    })
}

fn topic_subscription(arn: &str) -> Value {
    json!({
        "name": "drift", "outcomes": ["drift-found"],
        "channel": {"type": "sns", "topicArn": arn}
    })
}

/// A topic in the emulator, tagged for `org` (or untagged); its ARN.
async fn topic(api: &ApiBed, name: &str, org: Option<&str>) -> String {
    let mut request = api
        .bed
        .clients
        .sns
        .create_topic()
        .name(format!("{}-{name}", api.bed.prefix));
    if let Some(org) = org {
        request = request.tags(
            aws_sdk_sns::types::Tag::builder()
                .key("pipeline-builder:org")
                .value(org)
                .build()
                .unwrap(),
        );
    }
    request.send().await.unwrap().topic_arn.unwrap()
}

#[tokio::test]
async fn a_webhook_subscription_keeps_its_secret_in_secrets_manager_and_never_returns_it() {
    let api = ApiBed::new("ntf-crud").await.unwrap();
    let admin = api
        .token(ACME, &["notifications:write", "notifications:read"])
        .await
        .unwrap();
    let created = api
        .post_json(
            "/api/notifications",
            &admin,
            &webhook("https://hooks.example.com/services/T0"),
        )
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert!(!created.body.to_string().contains(SECRET));
    assert_eq!(
        created.body["channel"],
        json!({"type": "webhook", "url": "https://hooks.example.com/…", "format": "slack", "secretSet": true})
    );
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/notifications/{id}");
    let stored = api
        .secrets
        .read(&api.webhook_secret(ACME, &id))
        .await
        .unwrap();
    assert_eq!(stored, SECRET);

    let read = api.get(&path, Some(&admin)).await.unwrap();
    assert_eq!(
        read.body["outcomes"],
        json!(["execution-failed", "deployment-failed"])
    );
    assert!(!read.body.to_string().contains(SECRET));
    let listed = api.get("/api/notifications", Some(&admin)).await.unwrap();
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    let replaced = api
        .send_json(
            Method::PUT,
            &path,
            &admin,
            &topic_subscription(&topic(&api, "alerts", Some(ACME)).await),
        )
        .await
        .unwrap();
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);
    assert_eq!(replaced.body["channel"]["type"], "sns");
    assert_eq!(replaced.body["createdAt"], created.body["createdAt"]);
    let gone = api.secrets.read(&api.webhook_secret(ACME, &id)).await;
    assert!(gone.is_err(), "the webhook secret outlived its webhook");

    let deleted = api
        .send(Method::DELETE, &path, Some(&admin), None)
        .await
        .unwrap();
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get(&path, Some(&admin)).await.unwrap().status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn channels_the_platform_must_not_reach_are_refused() {
    let api = ApiBed::new("ntf-refused").await.unwrap();
    let admin = api.token(ACME, &["notifications:write"]).await.unwrap();
    for url in [
        "http://hooks.example.com/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/hook",
        "https://[::1]:8443/hook",
        "https://localhost/hook",
        "https://user:pw@hooks.example.com/x",
    ] {
        let reply = api
            .post_json("/api/notifications", &admin, &webhook(url))
            .await
            .unwrap();
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {:?}",
            reply.body
        );
        assert_eq!(reply.error_fields(), ["channel.url"], "{url}");
    }
    let foreign = api
        .post_json(
            "/api/notifications",
            &admin,
            &topic_subscription("arn:aws:sns:us-east-1:210987654321:platform-alerts"),
        )
        .await
        .unwrap();
    assert_eq!(foreign.error_fields(), ["channel.topicArn"]);
    // In the platform's account, but set up for another org, or for none.
    for (name, owner) in [("globex-alerts", Some(GLOBEX)), ("untagged", None)] {
        let arn = topic(&api, name, owner).await;
        let reply = api
            .post_json("/api/notifications", &admin, &topic_subscription(&arn))
            .await
            .unwrap();
        assert_eq!(reply.error_fields(), ["channel.topicArn"], "{owner:?}");
    }
    let mut weak = webhook("https://hooks.example.com/x");
    weak["channel"]["secret"] = json!("short");
    let weak = api
        .post_json("/api/notifications", &admin, &weak)
        .await
        .unwrap();
    assert_eq!(weak.error_fields(), ["channel.secret"]);
    assert!(!weak.body.to_string().contains("short"));

    let allowlisted = ApiBed::configured("ntf-allowlist", &[], |config| {
        config.webhook_allowed_hosts = vec!["hooks.slack.com".into()];
    })
    .await
    .unwrap();
    let token = allowlisted
        .token(ACME, &["notifications:write"])
        .await
        .unwrap();
    let off_list = allowlisted
        .post_json(
            "/api/notifications",
            &token,
            &webhook("https://hooks.example.com/x"),
        )
        .await
        .unwrap();
    assert_eq!(off_list.error_fields(), ["channel.url"]);
    let on_list = allowlisted
        .post_json(
            "/api/notifications",
            &token,
            &webhook("https://hooks.slack.com/services/T0"),
        )
        .await
        .unwrap();
    assert_eq!(on_list.status, StatusCode::CREATED, "{:?}", on_list.body);
}

#[tokio::test]
async fn another_org_sees_none_of_it_and_each_route_checks_its_permission() {
    let api = ApiBed::new("ntf-tenancy").await.unwrap();
    let admin = api
        .token(ACME, &["notifications:write", "notifications:read"])
        .await
        .unwrap();
    let acme_topic = topic_subscription(&topic(&api, "acme-alerts", Some(ACME)).await);
    let created = api
        .post_json("/api/notifications", &admin, &acme_topic)
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let path = format!(
        "/api/notifications/{}",
        created.body["id"].as_str().unwrap()
    );
    let globex = api
        .token(GLOBEX, &["notifications:write", "notifications:read"])
        .await
        .unwrap();
    for (method, route) in [
        (Method::GET, path.clone()),
        (Method::DELETE, path.clone()),
        (Method::POST, format!("{path}/test")),
    ] {
        let reply = api
            .send(method.clone(), &route, Some(&globex), None)
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {route}");
    }
    let replaced = api
        .send_json(Method::PUT, &path, &globex, &acme_topic)
        .await
        .unwrap();
    assert_eq!(replaced.status, StatusCode::NOT_FOUND);
    let theirs = api.get("/api/notifications", Some(&globex)).await.unwrap();
    assert_eq!(theirs.body["items"], json!([]));

    let reader = api.token(ACME, &["notifications:read"]).await.unwrap();
    let write = api
        .post_json("/api/notifications", &reader, &acme_topic)
        .await
        .unwrap();
    assert_eq!(write.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_test_sends_a_sample_delivery_through_the_notify_queue() {
    let api = ApiBed::new("ntf-test").await.unwrap();
    let admin = api.token(ACME, &["notifications:write"]).await.unwrap();
    let created = api
        .post_json(
            "/api/notifications",
            &admin,
            &webhook("https://hooks.example.com/x"),
        )
        .await
        .unwrap();
    let id = created.body["id"].as_str().unwrap();
    let reply = api
        .send(
            Method::POST,
            &format!("/api/notifications/{id}/test"),
            Some(&admin),
            None,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    let messages = QueueConsumer::new(api.bed.clients.sqs.clone(), &api.bed.stack.notify_queue_url)
        .receive(10, 1, None)
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
    let delivery: Delivery = serde_json::from_str(&messages[0].body).unwrap();
    assert_eq!(
        delivery.delivery_id,
        reply.body["deliveryId"].as_str().unwrap()
    );
    assert_eq!(delivery.subscription_id, id);
    assert!(delivery.test);
    assert_eq!(delivery.notice.org, ACME);
    assert!(!messages[0].body.contains(SECRET));
}
