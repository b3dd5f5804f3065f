//! Audit results through the API: newest first, paged, and only the caller's org's findings.

use axum::http::StatusCode;
use pb_aws::audit_runs::AuditRunStore;
use pb_domain::drift::{
    AuditRun, DriftReport, ExpiringToken, Finding, FindingType, RunError, RunScope, TokenCheck,
    TokenReadError,
};
use pb_tests::api::ApiBed;
use serde_json::json;

fn finding(kind: FindingType, org: &str, stack: &str) -> Finding {
    Finding {
        kind,
        org: Some(org.into()),
        pipeline_id: Some(format!("pl-{stack}")),
        stack_name: stack.into(),
        region: "us-east-1".into(),
        status: Some("ROLLBACK_COMPLETE".into()),
        detail: format!("{stack} detail"),
        remediation: format!("{stack} remediation"),
    }
}

fn run(started_at: &str, findings: Vec<Finding>, errors: Vec<RunError>) -> AuditRun {
    let report = DriftReport {
        findings,
        ..DriftReport::default()
    };
    let scope = RunScope {
        trigger: "nightly".into(),
        org: None,
        regions: vec!["eu-west-1".into(), "us-east-1".into()],
    };
    AuditRun::new(started_at.into(), started_at.into(), scope, report, errors)
}

#[tokio::test]
async fn runs_page_newest_first_and_show_only_the_callers_findings() {
    let api = ApiBed::new("api-audit").await.unwrap();
    let acme = api.token("acme", &["audit:read"]).await.unwrap();
    let none = api
        .get("/api/audit/runs/latest", Some(&acme))
        .await
        .unwrap();
    assert_eq!(none.status, StatusCode::NOT_FOUND);

    let store = AuditRunStore::new(
        api.bed.clients.dynamodb.clone(),
        &api.bed.stack.catalog_table,
    );
    store
        .save(&run(
            "2026-11-24T03:00:00.000Z",
            vec![finding(FindingType::MissingStack, "acme", "old")],
            vec![],
        ))
        .await
        .unwrap();
    store
        .save(&run(
            "2026-11-25T03:00:00.000Z",
            vec![
                finding(FindingType::UnhealthyStack, "acme", "payments"),
                finding(FindingType::OrphanedStack, "globex", "secret-globex-stack"),
            ],
            vec![],
        ))
        .await
        .unwrap();
    let failure = RunError {
        region: Some("eu-west-1".into()),
        kind: "access-denied".into(),
        message: "DescribeStacks was denied for globex-prod".into(),
        orgs: vec!["globex".into()],
    };
    store
        .save(&run(
            "2026-11-26T03:00:00.000Z",
            vec![finding(
                FindingType::OrphanedStack,
                "globex",
                "other-globex",
            )],
            vec![failure],
        ))
        .await
        .unwrap();

    let latest = api
        .get("/api/audit/runs/latest", Some(&acme))
        .await
        .unwrap();
    assert_eq!(latest.status, StatusCode::OK);
    assert_eq!(latest.body["startedAt"], "2026-11-26T03:00:00.000Z");
    // Only globex has entries in the region that could not be scanned: acme's part is whole.
    assert_eq!(latest.body["status"], "clean");
    assert_eq!(latest.body["findings"], json!([]));
    assert_eq!(latest.body["unscanned"], json!([]));
    assert!(!latest.body.to_string().contains("globex"));

    let first = api
        .get("/api/audit/runs?limit=2", Some(&acme))
        .await
        .unwrap();
    let started: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["startedAt"].as_str().unwrap())
        .collect();
    assert_eq!(
        started,
        ["2026-11-26T03:00:00.000Z", "2026-11-25T03:00:00.000Z"]
    );
    let drift = &first.body["items"][1];
    assert_eq!(drift["status"], "drift");
    assert_eq!(drift["counts"], json!({"unhealthy-stack": 1}));
    assert_eq!(drift["findings"][0]["stackName"], "payments");
    assert!(!first.body.to_string().contains("secret-globex-stack"));
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let rest = api
        .get(
            &format!("/api/audit/runs?limit=2&cursor={cursor}"),
            Some(&acme),
        )
        .await
        .unwrap();
    assert_eq!(
        rest.body["items"][0]["startedAt"],
        "2026-11-24T03:00:00.000Z"
    );
    assert!(rest.body.get("nextCursor").is_none());

    let globex = api.token("globex", &["audit:read"]).await.unwrap();
    let foreign_cursor = api
        .get(&format!("/api/audit/runs?cursor={cursor}"), Some(&globex))
        .await
        .unwrap();
    assert_eq!(foreign_cursor.code(), "invalid_cursor");
    let theirs = api
        .get("/api/audit/runs?limit=2", Some(&globex))
        .await
        .unwrap();
    assert_eq!(theirs.body["items"][1]["status"], "drift");
    assert_eq!(
        theirs.body["items"][1]["findings"][0]["stackName"],
        "secret-globex-stack"
    );
    assert_eq!(
        theirs.body["items"][0]["findings"][0]["stackName"],
        "other-globex"
    );
    assert_eq!(theirs.body["items"][0]["status"], "failed");
    assert_eq!(
        theirs.body["items"][0]["unscanned"],
        json!([{"region": "eu-west-1", "kind": "access-denied"}])
    );
}

#[tokio::test]
async fn a_run_shows_each_org_only_its_own_expiring_stored_token() {
    let api = ApiBed::new("api-audit-tokens").await.unwrap();
    let store = AuditRunStore::new(
        api.bed.clients.dynamodb.clone(),
        &api.bed.stack.catalog_table,
    );
    let expiring = ExpiringToken {
        org: "acme".into(),
        jti: "0123456789abcdef0123456789abcdef".into(),
        expires_at: "2026-12-01T00:00:00Z".into(),
        expired: false,
    };
    let unread = TokenReadError {
        org: "initech".into(),
        kind: "throttled".into(),
        message: "Query was throttled".into(),
    };
    store
        .save(
            &run("2026-11-26T03:00:00.000Z", vec![], vec![]).with_token_check(TokenCheck {
                expiring: vec![expiring],
                errors: vec![unread],
            }),
        )
        .await
        .unwrap();

    let latest = |org: &'static str| {
        let api = &api;
        async move {
            let token = api.token(org, &["audit:read"]).await.unwrap();
            let response = api
                .get("/api/audit/runs/latest", Some(&token))
                .await
                .unwrap();
            assert_eq!(response.status, StatusCode::OK, "{org}");
            response.body
        }
    };
    let acme = latest("acme").await;
    assert_eq!(
        acme["expiringTokens"],
        json!([{
            "org": "acme",
            "jti": "0123456789abcdef0123456789abcdef",
            "expiresAt": "2026-12-01T00:00:00Z",
            "expired": false
        }])
    );
    assert_eq!(acme["storedTokensUnread"], false);
    assert_eq!(acme["status"], "clean", "an expiring token is not drift");
    let globex = latest("globex").await;
    assert_eq!(globex["expiringTokens"], json!([]));
    assert_eq!(globex["storedTokensUnread"], false);
    let initech = latest("initech").await;
    assert_eq!(initech["expiringTokens"], json!([]));
    assert_eq!(initech["storedTokensUnread"], true);
    assert!(!initech.to_string().contains("acme"));
    assert!(!acme.to_string().contains("initech"));
}
