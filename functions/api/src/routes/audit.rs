//! Results of the nightly stack audit (`/api/audit/runs…`). Runs are platform-wide; a caller
//! sees only the findings of its own org, and counts computed from those.

use pb_domain::wire::audit::{AuditRunList, OrgAuditRun, Unscanned};
use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use pb_domain::drift::{AuditRun, Finding, RunError, RunStatus};

use crate::auth::Authorized;
use crate::auth::{AuditRead, Caller};
use crate::paging::{ListRequest, PageParams};
use crate::params::QueryParams;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Audit runs, newest first.
#[utoipa::path(get, path = "/api/audit/runs", tag = "audit",
    params(PageParams),
    responses((status = 200, body = AuditRunList), (status = 400, body = Problem)),
    security(("bearer" = ["audit:read"])))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<AuditRead>,
    params: QueryParams,
) -> Result<Json<AuditRunList>, ApiError> {
    let list = ListRequest::read(&state, caller.org(), params, "audit/runs", &[]).await?;
    let page = state
        .audit_runs
        .list(list.paging.limit, list.paging.after.as_deref())
        .await?;
    Ok(Json(AuditRunList {
        items: page.runs.iter().map(|run| org_view(&caller, run)).collect(),
        next_cursor: page.next_after.map(|after| list.cursor_after(&after)),
    }))
}

/// The most recent run.
#[utoipa::path(get, path = "/api/audit/runs/latest", tag = "audit",
    responses((status = 200, body = OrgAuditRun), (status = 404, body = Problem, description = "No run yet")),
    security(("bearer" = ["audit:read"])))]
pub async fn latest(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<AuditRead>,
) -> Result<Json<OrgAuditRun>, ApiError> {
    state
        .audit_runs
        .latest()
        .await?
        .map(|run| Json(org_view(&caller, &run)))
        .ok_or_else(|| ApiError::NotFound("an audit run".into()))
}

fn org_view(caller: &Caller, run: &AuditRun) -> OrgAuditRun {
    let own = |findings: &[Finding]| -> Vec<Finding> {
        findings
            .iter()
            .filter(|f| f.org.as_deref() == Some(caller.org()))
            .cloned()
            .collect()
    };
    let findings = own(&run.findings);
    let mut counts = BTreeMap::new();
    for finding in &findings {
        *counts.entry(finding.kind).or_insert(0) += 1;
    }
    let own_errors: Vec<&RunError> = run
        .errors
        .iter()
        .filter(|e| e.concerns(caller.org()))
        .collect();
    let status = if !own_errors.is_empty() {
        RunStatus::Failed
    } else if findings.is_empty() {
        RunStatus::Clean
    } else {
        RunStatus::Drift
    };
    OrgAuditRun {
        started_at: run.started_at.clone(),
        finished_at: run.finished_at.clone(),
        status,
        trigger: run.trigger.clone(),
        regions: run.regions.clone(),
        // Error messages may name other orgs' stacks; the kind is what a caller can act on.
        unscanned: own_errors
            .into_iter()
            .map(|e| Unscanned {
                region: e.region.clone(),
                kind: e.kind.clone(),
            })
            .collect(),
        in_progress: own(&run.in_progress),
        findings,
        counts,
        expiring_tokens: run
            .expiring_tokens
            .iter()
            .filter(|t| t.org == caller.org())
            .cloned()
            .collect(),
        stored_tokens_unread: run.token_errors.iter().any(|e| e.org == caller.org()),
    }
}
