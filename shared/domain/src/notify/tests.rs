use serde_json::json;

use super::*;
use crate::drift::{DRIFT_DETECTED, DRIFT_EVENT_SOURCE};

fn policy() -> ChannelPolicy {
    ChannelPolicy {
        account: "123456789012".into(),
        webhook_hosts: Vec::new(),
    }
}

fn request(channel: Value) -> SubscriptionRequest {
    serde_json::from_value(json!({
        "name": "release failures", "project": "payments",
        "outcomes": ["execution-failed", "deployment-failed"], "channel": channel
    }))
    .unwrap()
}

fn webhook(url: &str) -> Value {
    json!({"type": "webhook", "url": url, "secret": "s".repeat(40), "format": "slack"})
}

fn fields(result: Result<(), Vec<FieldError>>) -> Vec<String> {
    result
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn a_webhook_or_a_topic_of_the_platforms_account_is_accepted() {
    let hook = request(webhook("https://hooks.example.com/services/T0/B0"));
    assert_eq!(check_subscription(&hook, &policy()), Ok(()));
    let topic =
        request(json!({"type": "sns", "topicArn": "arn:aws:sns:eu-west-1:123456789012:alerts"}));
    assert_eq!(check_subscription(&topic, &policy()), Ok(()));
    let foreign =
        request(json!({"type": "sns", "topicArn": "arn:aws:sns:eu-west-1:210987654321:alerts"}));
    assert_eq!(
        fields(check_subscription(&foreign, &policy())),
        ["channel.topicArn"]
    );
}

#[test]
fn webhooks_must_be_https_to_a_public_host_on_the_allowlist() {
    for url in [
        "http://hooks.example.com/x",
        "https://user:pw@hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3:8443/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://[fd00:ec2::254]/x",
        "https://localhost/x",
        "https://metadata.google.internal/x",
        "https://hooks.example.com:99999/x",
        "https:///x",
    ] {
        assert!(check_webhook_url(url, &[]).is_err(), "{url}");
    }
    assert_eq!(
        check_webhook_url("https://hooks.example.com:8443/a?b=c", &[]),
        Ok(())
    );
    let allowed = vec!["hooks.slack.com".to_string()];
    assert!(check_webhook_url("https://hooks.example.com/x", &allowed).is_err());
    assert_eq!(
        check_webhook_url("https://HOOKS.slack.com/x", &allowed),
        Ok(())
    );
}

#[test]
fn forbidden_addresses_cover_every_internal_range_and_embedded_ipv4() {
    for address in [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "::ffff:10.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "::127.0.0.1",
        "2002:7f00:1::",
        "2002:a9fe:a9fe::1",
        "2001:0:4136:e378::1",
        "64:ff9b:1::a00:1",
    ] {
        assert!(is_forbidden_address(address.parse().unwrap()), "{address}");
    }
    for address in [
        "93.184.216.34",
        "2606:4700::6810:84e5",
        "64:ff9b::5db8:d822",
        "2002:5db8:d822::1",
    ] {
        assert!(!is_forbidden_address(address.parse().unwrap()), "{address}");
    }
}

#[test]
fn a_request_names_every_problem_and_keeps_the_secret_write_only() {
    let mut bad = request(
        json!({"type": "webhook", "url": "https://hooks.example.com/x", "secret": "short"}),
    );
    bad.pipeline_id = Some("pl-1".into());
    bad.outcomes = vec![Outcome::DriftFound, Outcome::DriftFound];
    bad.name = " ".into();
    assert_eq!(
        fields(check_subscription(&bad, &policy())),
        ["name", "project", "outcomes", "channel.secret"]
    );
    let stored = Channel::Webhook {
        url: "https://hooks.example.com/x".into(),
        format: Format::Json,
        secret_id: String::new(),
    };
    assert_eq!(
        serde_json::to_value(&stored).unwrap(),
        json!({"type": "webhook", "url": "https://hooks.example.com/x", "format": "json"})
    );
    assert!(serde_json::from_value::<SubscriptionRequest>(json!({
        "name": "x", "outcomes": ["execution-failed"], "channel": {"type": "email", "to": "a@b"}
    }))
    .is_err());
}

#[test]
fn a_subscription_wants_its_orgs_outcomes_for_its_pipeline_or_project() {
    let subscription = Subscription {
        id: "n-1".into(),
        org: "acme".into(),
        name: "x".into(),
        pipeline_id: None,
        project: Some("payments".into()),
        outcomes: [Outcome::ExecutionFailed].into(),
        channel: Channel::Sns {
            topic_arn: "arn:aws:sns:us-east-1:123456789012:t".into(),
        },
        created_at: String::new(),
        created_by: String::new(),
        updated_at: String::new(),
    };
    let notice = Notice {
        event_id: "e-1".into(),
        org: "acme".into(),
        outcome: Outcome::ExecutionFailed,
        pipeline_id: Some("pl-1".into()),
        occurred_at: "2026-12-06T10:00:00Z".into(),
        summary: "s".into(),
        detail: json!({}),
    };
    assert!(subscription.wants(&notice, Some("payments")));
    assert!(!subscription.wants(&notice, Some("storefront")));
    let other_org = Notice {
        org: "globex".into(),
        ..notice.clone()
    };
    assert!(!subscription.wants(&other_org, Some("payments")));
    let success = Notice {
        outcome: Outcome::ExecutionSucceeded,
        ..notice
    };
    assert!(!subscription.wants(&success, Some("payments")));
}

fn completion(status: &str) -> Value {
    json!({
        "pipelineId": "pl-1", "orgId": "acme", "executionId": "ex-1", "status": status,
        "attempt": 1, "failedStage": "Deploy", "failedAction": "Apply", "outcomeKey": "2#FAILED"
    })
}

fn delivery(notice: Notice) -> Delivery {
    Delivery {
        delivery_id: delivery_id(&notice.event_id, "sub-1"),
        subscription_id: "sub-1".into(),
        notice,
        attempt: 1,
        test: false,
    }
}

#[test]
fn completed_runs_mean_failed_or_succeeded_notices_keyed_by_their_outcome() {
    let time = "2025-01-02T03:04:05Z";
    let failed = notices_of(
        INGEST_SOURCE,
        EXECUTION_COMPLETED,
        time,
        &completion("FAILED"),
    );
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].outcome, Outcome::ExecutionFailed);
    assert_eq!(failed[0].event_id, "ex-1/2#FAILED");
    assert_eq!(failed[0].org, "acme");
    assert_eq!(failed[0].pipeline_id.as_deref(), Some("pl-1"));
    assert_eq!(failed[0].occurred_at, time);
    assert!(failed[0].summary.contains("failed at Deploy/Apply"));
    let succeeded = notices_of(
        INGEST_SOURCE,
        EXECUTION_COMPLETED,
        time,
        &completion("SUCCEEDED"),
    );
    assert_eq!(succeeded[0].outcome, Outcome::ExecutionSucceeded);
    assert!(notices_of(
        INGEST_SOURCE,
        EXECUTION_COMPLETED,
        time,
        &completion("STOPPED")
    )
    .is_empty());
    assert!(notices_of(
        INGEST_SOURCE,
        EXECUTION_COMPLETED,
        time,
        &json!({"status": "FAILED"})
    )
    .is_empty());
    assert!(notices_of(
        "someone.else",
        EXECUTION_COMPLETED,
        time,
        &completion("FAILED")
    )
    .is_empty());
}

#[test]
fn approvals_and_failed_deployments_are_notices_of_their_own_ids() {
    let approval = json!({
        "orgId": "acme", "pipelineId": "pl-1", "executionId": "ex-1", "stage": "Prod",
        "action": "Approve", "attempt": 1, "approvalId": "ex-1/Prod/Approve/1"
    });
    let notices = notices_of(INGEST_SOURCE, APPROVAL_WAITING, "t", &approval);
    assert_eq!(notices[0].outcome, Outcome::ApprovalWaiting);
    assert_eq!(notices[0].event_id, "ex-1/Prod/Approve/1");
    let deployment = |status: &str| {
        json!({
            "org": "acme", "pipelineId": "pl-1", "deploymentId": "dep-1", "status": status,
            "stackName": "pb-acme-pl-1", "reason": "Role is invalid", "definitionVersion": 3
        })
    };
    let failed = notices_of(
        DEPLOYMENT_SOURCE,
        DEPLOYMENT_COMPLETED,
        "t",
        &deployment("FAILED"),
    );
    assert_eq!(failed[0].outcome, Outcome::DeploymentFailed);
    assert_eq!(failed[0].event_id, "dep-1");
    assert!(failed[0].summary.ends_with("Role is invalid"));
    assert!(notices_of(
        DEPLOYMENT_SOURCE,
        DEPLOYMENT_COMPLETED,
        "t",
        &deployment("SUCCEEDED")
    )
    .is_empty());
}

#[test]
fn drift_means_one_notice_per_org_with_only_that_orgs_findings() {
    let finding = |org: Option<&str>, stack: &str| json!({"type": "orphaned-stack", "org": org, "stackName": stack});
    let detail = json!({
        "startedAt": "2025-01-02T00:00:00.000Z", "finishedAt": "2025-01-02T00:01:00.000Z",
        "status": "drift", "trigger": "nightly",
        "errors": [{"region": "eu-west-1", "kind": "throttled", "message": "m", "orgs": ["globex"]}],
        "summary": {"registryEntries": 9},
        "findings": [finding(Some("acme"), "a1"), finding(Some("globex"), "g1"), finding(Some("acme"), "a2"), finding(None, "x")]
    });
    let notices = notices_of(DRIFT_EVENT_SOURCE, DRIFT_DETECTED, "t", &detail);
    assert_eq!(notices.len(), 2);
    let acme = &notices[0];
    assert_eq!(
        (acme.org.as_str(), acme.outcome),
        ("acme", Outcome::DriftFound)
    );
    assert_eq!(acme.event_id, "2025-01-02T00:00:00.000Z/acme");
    assert_eq!(acme.detail["findingCount"], 2);
    let text = acme.detail.to_string();
    assert!(text.contains("a1") && text.contains("a2"));
    assert!(!text.contains("globex") && !text.contains("g1") && !text.contains("\"x\""));
    assert!(!notices[1].detail.to_string().contains("acme"));
}

#[test]
fn drift_notices_carry_a_bounded_number_of_findings() {
    let findings: Vec<Value> = (0..MAX_NOTICE_FINDINGS + 5)
        .map(|n| json!({"org": "acme", "stackName": format!("s{n}")}))
        .collect();
    let detail = json!({"startedAt": "s", "findings": findings});
    let notice = &notices_of(DRIFT_EVENT_SOURCE, DRIFT_DETECTED, "t", &detail)[0];
    assert_eq!(notice.detail["findingCount"], MAX_NOTICE_FINDINGS + 5);
    assert_eq!(
        notice.detail["findings"].as_array().unwrap().len(),
        MAX_NOTICE_FINDINGS
    );
}

#[test]
fn delivery_ids_are_stable_per_event_and_subscription() {
    let id = delivery_id("ex-1/2#FAILED", "sub-1");
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(id, delivery_id("ex-1/2#FAILED", "sub-1"));
    assert_ne!(id, delivery_id("ex-1/2#FAILED", "sub-2"));
    assert_ne!(delivery_id("a", "bc"), delivery_id("ab", "c"));
}

#[test]
fn the_json_document_names_the_delivery_and_bounds_the_detail() {
    let notice = notices_of(
        INGEST_SOURCE,
        EXECUTION_COMPLETED,
        "t",
        &completion("FAILED"),
    )
    .remove(0);
    let document = json_payload(&delivery(notice.clone()));
    assert_eq!(
        document["deliveryId"],
        delivery_id("ex-1/2#FAILED", "sub-1")
    );
    assert_eq!(document["outcome"], "execution-failed");
    assert_eq!(document["org"], "acme");
    assert_eq!(document["pipelineId"], "pl-1");
    assert_eq!(document["occurredAt"], "t");
    assert_eq!(document["test"], false);
    assert_eq!(document["detail"]["failedStage"], "Deploy");
    let huge = Notice {
        detail: json!({"blob": "x".repeat(MAX_DETAIL_BYTES)}),
        ..notice
    };
    let document = json_payload(&delivery(huge));
    assert!(document["detail"].get("blob").is_none());
    assert!(document["detail"]["omitted"].is_string());
}

#[test]
fn slack_messages_are_bounded_and_escape_mentions() {
    let mut notice = notices_of(
        INGEST_SOURCE,
        EXECUTION_COMPLETED,
        "t",
        &completion("FAILED"),
    )
    .remove(0);
    notice.summary = format!("<!channel> {}", "y".repeat(5000));
    let message = slack_payload(&delivery(notice));
    let text = message["text"].as_str().unwrap();
    assert!(text.starts_with("&lt;!channel&gt;"));
    assert!(text.chars().count() <= MAX_SLACK_TEXT_CHARS);
    let headline = message["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(headline.chars().count() <= MAX_SLACK_TEXT_CHARS);
    assert!(headline.contains("*execution-failed*"));
    let context = message["blocks"][1]["elements"][0]["text"]
        .as_str()
        .unwrap();
    assert!(context.contains("pipeline `pl-1`"));
    assert!(!message.to_string().contains("<!channel>"));
}
