use serde_json::json;

use super::*;

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
    ] {
        assert!(is_forbidden_address(address.parse().unwrap()), "{address}");
    }
    for address in [
        "93.184.216.34",
        "2606:4700::6810:84e5",
        "64:ff9b::5db8:d822",
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
