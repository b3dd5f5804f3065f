//! Exemption requests and approvals.

use chrono::Duration;

use super::*;

fn request(expires_at: &str) -> ExemptionRequest {
    ExemptionRequest {
        rule_id: "cap".into(),
        entity: "pipe-1".into(),
        reason: "splitting the pipeline next sprint".into(),
        expires_at: expires_at.into(),
    }
}

#[test]
fn a_request_is_pending_until_someone_else_approves_it() {
    let exemption = Exemption::requested(
        "e1",
        request("2025-06-30T00:00:00+02:00"),
        "dev@acme",
        now(),
    )
    .unwrap();
    assert_eq!(exemption.expires_at, "2025-06-29T22:00:00Z");
    assert_eq!(exemption.requested_at, "2025-06-01T12:00:00Z");
    assert_eq!(exemption.status(now()), ExemptionStatus::Pending);
    assert!(!exemption.covers("cap", "pipe-1", now()));

    assert_eq!(
        exemption.approve("dev@acme", now()),
        Err(ApprovalError::SelfApproval)
    );
    let approved = exemption.approve("lead@acme", now()).unwrap();
    assert_eq!(approved.approved_by.as_deref(), Some("lead@acme"));
    assert_eq!(
        approved.approved_at.as_deref(),
        Some("2025-06-01T12:00:00Z")
    );
    assert_eq!(approved.status(now()), ExemptionStatus::Approved);
    assert!(approved.covers("cap", "pipe-1", now()));
    assert_eq!(
        approved.approve("other@acme", now()),
        Err(ApprovalError::AlreadyApproved("lead@acme".into()))
    );

    let after = now() + Duration::days(30);
    assert_eq!(approved.status(after), ExemptionStatus::Expired);
    assert!(!approved.covers("cap", "pipe-1", after));
    assert_eq!(
        exemption.approve("lead@acme", after),
        Err(ApprovalError::Expired("2025-06-29T22:00:00Z".into()))
    );
}

#[test]
fn requests_are_checked_field_by_field() {
    let problems = |request: ExemptionRequest| -> Vec<(String, String)> {
        Exemption::requested("e1", request, "dev@acme", now())
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    };
    assert_eq!(
        problems(request("2025-06-01T12:00:00Z")),
        [("expiresAt".to_string(), "must be in the future".to_string())]
    );
    assert_eq!(
        problems(request("2026-06-02T12:00:00Z")),
        [(
            "expiresAt".to_string(),
            "at most 365 days from now".to_string()
        )]
    );
    assert_eq!(
        problems(request("next week")),
        [(
            "expiresAt".to_string(),
            "must be an RFC 3339 timestamp".to_string()
        )]
    );
    let bad = ExemptionRequest {
        rule_id: " ".into(),
        entity: "pipe 1".into(),
        reason: "".into(),
        ..request("2025-06-02T00:00:00Z")
    };
    let fields: Vec<String> = problems(bad).into_iter().map(|p| p.0).collect();
    assert_eq!(fields, ["ruleId", "entity", "reason"]);
}

#[test]
fn an_expiry_that_does_not_parse_counts_as_expired() {
    let mut exemption =
        Exemption::requested("e1", request("2025-06-30T00:00:00Z"), "dev@acme", now())
            .unwrap()
            .approve("lead@acme", now())
            .unwrap();
    exemption.expires_at = "garbage".into();
    assert_eq!(exemption.status(now()), ExemptionStatus::Expired);
    assert!(!exemption.covers("cap", "pipe-1", now()));
}
