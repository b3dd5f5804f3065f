//! Steering runs of a deployed pipeline (`/api/pipelines/{id}/executions…`, writes): start,
//! stop, retry a stage, decide a manual approval — each one CodePipeline call on the pipeline
//! the platform deployed.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pb_domain::control::{ApprovalRequest, Decision, RetryRequest, StartRequest, StopRequest};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Authorized, PipelinesApprove, PipelinesExecute};
use crate::body::{JsonBody, OptionalJsonBody};
use crate::params::PathParams;
use crate::problem::{ApiError, Problem};
use crate::services::runs::{decide_approval, deployed, retry, start, stop};
use crate::state::AppState;

/// A run the platform started.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartedRun {
    pub execution_id: String,
    pub pipeline_id: String,
    /// The person who answers for the caller (the root of a machine token's chain).
    pub started_by: String,
    pub started_at: String,
}

/// A request CodePipeline accepted for a run.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunRequestAccepted {
    pub execution_id: String,
    /// `stop`, `abandon` or `retry`.
    pub requested: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalDecided {
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    pub decision: Decision,
}

/// What the API document says of `executionId`: see [`check_execution_id`].
pub const EXECUTION_ID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// CodePipeline execution ids are UUIDs; anything else names no execution, and is refused
/// before a call is made.
pub fn check_execution_id(execution_id: &str) -> Result<(), ApiError> {
    let is_uuid = execution_id.len() == 36
        && execution_id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if is_uuid {
        Ok(())
    } else {
        Err(ApiError::InvalidParameter {
            name: "executionId".into(),
            message: "is a CodePipeline execution id (a UUID)".into(),
        })
    }
}

/// CodePipeline's limit on stage and action names.
pub const MAX_STAGE_OR_ACTION_CHARS: usize = 100;

/// Stage and action names as CodePipeline accepts them.
fn check_name(name: &str, what: &str) -> Result<(), ApiError> {
    let valid = (1..=MAX_STAGE_OR_ACTION_CHARS).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".@-_".contains(c));
    if valid {
        Ok(())
    } else {
        Err(ApiError::InvalidParameter {
            name: what.into(),
            message: "1-100 characters of letters, digits and '.@-_'".into(),
        })
    }
}

/// Starts a run of the deployed pipeline, optionally at a given source revision and with
/// values for the variables the pipeline declares. The body may be left out.
#[utoipa::path(post, path = "/api/pipelines/{id}/executions", tag = "executions",
    params(("id" = String, Path)),
    request_body(content = StartRequest, description = "Optional"),
    responses(
        (status = 202, body = StartedRun, headers(("Location" = String))),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Not deployed by the platform (not_deployed), or too many runs in progress (too_many_runs)"),
        (status = 422, body = Problem, description = "An undeclared variable, or a revision the source cannot produce"),
        (status = 503, body = Problem, description = "CodePipeline is throttling; retry after Retry-After"),
    ),
    security(("bearer" = ["pipelines:execute"])))]
pub async fn start_run(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesExecute>,
    PathParams(id): PathParams<String>,
    OptionalJsonBody(request): OptionalJsonBody<StartRequest>,
) -> Result<Response, ApiError> {
    let deployed = deployed(&state, &caller, &id).await?;
    let (execution_id, starter) = start(&state, &caller, &deployed, &request).await?;
    let location = format!("/api/pipelines/{id}/executions/{execution_id}");
    let body = StartedRun {
        execution_id,
        pipeline_id: id,
        started_by: starter.principal,
        started_at: starter.started_at,
    };
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Stops a run: actions in progress finish first, unless `abandon` is set. The body may be left
/// out.
#[utoipa::path(post, path = "/api/pipelines/{id}/executions/{executionId}/stop", tag = "executions",
    params(("id" = String, Path), ("executionId" = String, Path)),
    request_body(content = StopRequest, description = "Optional"),
    responses(
        (status = 202, body = RunRequestAccepted),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Not deployed, already finished (execution_not_stoppable) or already stopping (stop_already_requested)"),
        (status = 503, body = Problem),
    ),
    security(("bearer" = ["pipelines:execute"])))]
pub async fn stop_run(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesExecute>,
    PathParams((id, execution_id)): PathParams<(String, String)>,
    OptionalJsonBody(request): OptionalJsonBody<StopRequest>,
) -> Result<(StatusCode, Json<RunRequestAccepted>), ApiError> {
    check_execution_id(&execution_id)?;
    let deployed = deployed(&state, &caller, &id).await?;
    stop(&state, &deployed, &execution_id, &request).await?;
    let requested = if request.abandon { "abandon" } else { "stop" };
    Ok((
        StatusCode::ACCEPTED,
        Json(RunRequestAccepted {
            execution_id,
            requested: requested.into(),
        }),
    ))
}

/// Retries a failed stage of a run: its failed actions (the default) or all of them.
#[utoipa::path(post, path = "/api/pipelines/{id}/executions/{executionId}/stages/{stage}/retry", tag = "executions",
    params(("id" = String, Path), ("executionId" = String, Path), ("stage" = String, Path)),
    request_body(content = RetryRequest, description = "Optional"),
    responses(
        (status = 202, body = RunRequestAccepted),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Not deployed, the stage has not failed (stage_not_retryable), or a later run has reached it (not_latest_execution)"),
        (status = 503, body = Problem),
    ),
    security(("bearer" = ["pipelines:execute"])))]
pub async fn retry_stage(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesExecute>,
    PathParams((id, execution_id, stage)): PathParams<(String, String, String)>,
    OptionalJsonBody(request): OptionalJsonBody<RetryRequest>,
) -> Result<(StatusCode, Json<RunRequestAccepted>), ApiError> {
    check_execution_id(&execution_id)?;
    check_name(&stage, "stage")?;
    let deployed = deployed(&state, &caller, &id).await?;
    retry(&state, &deployed, &execution_id, &stage, &request).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RunRequestAccepted {
            execution_id,
            requested: "retry".into(),
        }),
    ))
}

/// Approves or rejects a manual approval waiting in a run. Where the pipeline's metadata sets
/// `separationOfDuties: "true"`, the person who started the run through the platform cannot
/// decide it, with any of their tokens.
#[utoipa::path(post, path = "/api/pipelines/{id}/executions/{executionId}/approvals/{stage}/{action}", tag = "executions",
    params(("id" = String, Path), ("executionId" = String, Path), ("stage" = String, Path), ("action" = String, Path)),
    request_body = ApprovalRequest,
    responses(
        (status = 200, body = ApprovalDecided),
        (status = 403, body = Problem, description = "Missing permission, or the run's starter under separation of duties (self_approval)"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Not deployed, nothing waiting (approval_not_waiting) or already decided (approval_already_decided)"),
        (status = 422, body = Problem),
        (status = 503, body = Problem),
    ),
    security(("bearer" = ["pipelines:approve"])))]
pub async fn decide(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesApprove>,
    PathParams((id, execution_id, stage, action)): PathParams<(String, String, String, String)>,
    JsonBody(request): JsonBody<ApprovalRequest>,
) -> Result<Json<ApprovalDecided>, ApiError> {
    check_execution_id(&execution_id)?;
    check_name(&stage, "stage")?;
    check_name(&action, "action")?;
    let deployed = deployed(&state, &caller, &id).await?;
    decide_approval(
        &state,
        &caller,
        &deployed,
        &execution_id,
        (&stage, &action),
        &request,
    )
    .await?;
    Ok(Json(ApprovalDecided {
        execution_id,
        stage,
        action,
        decision: request.decision,
    }))
}
