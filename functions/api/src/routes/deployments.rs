//! Deployments of a pipeline (`/api/pipelines/{id}/deployments…`): the platform deploys the
//! synthesized template as a CloudFormation stack and tracks it by its status.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pb_aws::deployments::DeploymentRecord;
use pb_domain::deployment::DeploymentStatus;
use pb_domain::wire::deployments::{ChangeSetView, DeploymentList, DeploymentView};

use crate::auth::{Authorized, PipelinesDeploy, PipelinesRead};
use crate::params::{PathParams, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::routes::pipelines::if_match;
use crate::services::deployments::{changes, current, deploy};
use crate::state::AppState;

/// Most deployments one list answers.
pub const MAX_DEPLOYMENTS_LISTED: usize = 50;

fn view(record: DeploymentRecord, change_set: Option<ChangeSetView>) -> DeploymentView {
    DeploymentView {
        id: record.id,
        pipeline_id: record.pipeline_id,
        definition_version: record.definition_version,
        template_hash: record.template_hash,
        stack_name: record.stack_name,
        region: record.region,
        stack_id: record.stack_id,
        status: record.status,
        action: record.action,
        stack_status: record.stack_status,
        reason: record.reason,
        requested_by: record.requested_by,
        requested_at: record.requested_at,
        updated_at: record.updated_at,
        change_set,
    }
}

/// Deploys the pipeline's current definition (or, with `preview=true`, creates a change set to
/// review and never executes it). Compliance is checked against the current rules first. Answers
/// at once: 202 while CloudFormation works, 200 when the template is the one last deployed.
#[utoipa::path(post, path = "/api/pipelines/{id}/deployments", tag = "deployments",
    params(
        ("id" = String, Path),
        ("preview" = Option<bool>, Query, description = "Create a change set for review instead"),
        ("If-Match" = Option<String>, Header, description = "Deploy only if the definition is still at this version"),
    ),
    responses(
        (status = 200, body = DeploymentView, description = "Unchanged: the template is the one last deployed"),
        (status = 202, body = DeploymentView, headers(("Location" = String))),
        (status = 403, body = Problem, description = "Missing permission, or a compliance rule blocks it (compliance_violation)"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "A deployment is in progress, the stack is busy, or a stack of that name is not this pipeline's"),
        (status = 412, body = Problem, description = "The definition changed since that version"),
        (status = 422, body = Problem, description = "The definition cannot be synthesized"),
    ),
    security(("bearer" = ["pipelines:deploy"])))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesDeploy>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let params = params.only(&["preview"])?;
    let preview = match params.text("preview") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::InvalidParameter {
                name: "preview".into(),
                message: format!("'{other}' is not true or false"),
            })
        }
    };
    let pipeline = state
        .pipelines
        .get(caller.org(), &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("pipeline {id}")))?;
    if let Some(Some(expected)) = if_match(&headers)? {
        if expected != pipeline.version {
            return Err(ApiError::PreconditionFailed);
        }
    }
    let deployment = deploy(&state, &caller.claims.sub, &pipeline, preview).await?;
    let status = if deployment.status == DeploymentStatus::Unchanged {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let location = format!("/api/pipelines/{id}/deployments/{}", deployment.id);
    let mut response = (status, Json(view(deployment, None))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// The pipeline's deployments, newest first (at most 50).
#[utoipa::path(get, path = "/api/pipelines/{id}/deployments", tag = "deployments",
    params(("id" = String, Path)),
    responses((status = 200, body = DeploymentList), (status = 404, body = Problem)),
    security(("bearer" = ["pipelines:read"])))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<DeploymentList>, ApiError> {
    own_pipeline(&state, caller.org(), &id).await?;
    let records = state
        .deployments
        .list(caller.org(), &id, MAX_DEPLOYMENTS_LISTED)
        .await?;
    Ok(Json(DeploymentList {
        items: records.into_iter().map(|r| view(r, None)).collect(),
    }))
}

/// One deployment. One under way that has heard no stack event for a while reads its stack's
/// status; a preview shows its change set's proposed changes.
#[utoipa::path(get, path = "/api/pipelines/{id}/deployments/{deploymentId}", tag = "deployments",
    params(("id" = String, Path), ("deploymentId" = String, Path)),
    responses((status = 200, body = DeploymentView), (status = 404, body = Problem)),
    security(("bearer" = ["pipelines:read"])))]
pub async fn get(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesRead>,
    PathParams((id, deployment_id)): PathParams<(String, String)>,
) -> Result<Json<DeploymentView>, ApiError> {
    own_pipeline(&state, caller.org(), &id).await?;
    let record = state
        .deployments
        .get(caller.org(), &id, &deployment_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("deployment {deployment_id}")))?;
    let record = current(&state, record).await?;
    let change_set = changes(&state, &record).await?;
    Ok(Json(view(record, change_set)))
}

/// The caller's own pipeline exists (another org's, public or not, is not found).
pub async fn own_pipeline(state: &AppState, org: &str, id: &str) -> Result<(), ApiError> {
    state
        .pipelines
        .get(org, id)
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::NotFound(format!("pipeline {id}")))
}
