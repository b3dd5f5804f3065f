//! The deployment registry (`/api/registry…`): which pipeline is deployed as which stack where.
//! The ingest function takes an execution's org from here, so ownership is enforced on write.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pb_aws::registry::RegistryEntry;
use pb_domain::event::is_codepipeline_name;
use pb_domain::plugin::FieldError;
use pb_domain::region::RegionPolicy;
use pb_domain::wire::registry::{RegistryList, RegistryView};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Authorized, RegistryRead, RegistryWrite};
use crate::body::JsonBody;
use crate::paging::{ListRequest, Order, Page, PageParams};
use crate::params::{PathParams, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::routes::plugins::now_rfc3339;
use crate::state::AppState;

pub(crate) const MAX_STACK_NAME_CHARS: usize = 128;
/// Pipeline ids are `pl-` and 32 hex digits; anything far outside that names no pipeline.
pub(crate) const MAX_PIPELINE_ID_CHARS: usize = 64;

/// A deploy report. On an update, fields left out keep their stored value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryWriteRequest {
    pub pipeline_id: String,
    pub pipeline_name: Option<String>,
    pub stack_name: Option<String>,
    pub region: Option<String>,
}

/// Records a deploy of one of the org's pipelines (create or update).
#[utoipa::path(post, path = "/api/registry", tag = "registry",
    request_body = RegistryWriteRequest,
    responses(
        (status = 200, body = RegistryView),
        (status = 404, body = Problem, description = "No such pipeline in the caller's org"),
        (status = 409, body = Problem, description = "The pipeline id is registered to another org"),
        (status = 422, body = Problem),
    ),
    security(("bearer" = ["registry:write"])))]
pub async fn upsert(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<RegistryWrite>,
    JsonBody(request): JsonBody<RegistryWriteRequest>,
) -> Result<Json<RegistryView>, ApiError> {
    check_key_fields(&request)?;
    let pipeline = state
        .pipelines
        .get(caller.org(), &request.pipeline_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("pipeline {}", request.pipeline_id)))?;
    let stored = state.registry.get(&request.pipeline_id).await?;
    if stored.as_ref().is_some_and(|e| e.org_id != caller.org()) {
        return Err(registered_elsewhere(&request.pipeline_id));
    }
    let regions = state.config.deploy_regions.policy();
    let entry = merge(request, stored, caller.org(), &pipeline.spec.name, &regions)?;
    if !state.registry.put_owned(&entry).await? {
        return Err(registered_elsewhere(&entry.pipeline_id));
    }
    Ok(Json(view(entry)))
}

/// Pages through the org's registry entries (every entry, no cap).
#[utoipa::path(get, path = "/api/registry", tag = "registry",
    params(PageParams),
    responses((status = 200, body = RegistryList), (status = 400, body = Problem)),
    security(("bearer" = ["registry:read"])))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<RegistryRead>,
    params: QueryParams,
) -> Result<Json<RegistryList>, ApiError> {
    let list = ListRequest::read(&state, caller.org(), params, "registry", &[]).await?;
    let mut entries: Vec<RegistryView> = state
        .registry
        .org_entries(caller.org())
        .await?
        .into_iter()
        .map(view)
        .collect();
    entries.sort_by(|a, b| a.pipeline_id.cmp(&b.pipeline_id));
    let order = Order {
        key: |e: &RegistryView| e.pipeline_id.clone(),
        is_after: |e: &RegistryView, after: &str| e.pipeline_id.as_str() > after,
    };
    let Page { items, next_cursor } = list.page(entries, order);
    Ok(Json(RegistryList { items, next_cursor }))
}

/// One of the org's entries.
#[utoipa::path(get, path = "/api/registry/{pipelineId}", tag = "registry",
    params(("pipelineId" = String, Path)),
    responses((status = 200, body = RegistryView), (status = 404, body = Problem)),
    security(("bearer" = ["registry:read"])))]
pub async fn get(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<RegistryRead>,
    PathParams(pipeline_id): PathParams<String>,
) -> Result<Json<RegistryView>, ApiError> {
    state
        .registry
        .get(&pipeline_id)
        .await?
        .filter(|entry| entry.org_id == caller.org())
        .map(|entry| Json(view(entry)))
        .ok_or_else(|| ApiError::NotFound(format!("registry entry {pipeline_id}")))
}

/// Removes one of the org's entries (after the stack was torn down).
#[utoipa::path(delete, path = "/api/registry/{pipelineId}", tag = "registry",
    params(("pipelineId" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)),
    security(("bearer" = ["registry:write"])))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<RegistryWrite>,
    PathParams(pipeline_id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .registry
        .delete_owned(caller.org(), &pipeline_id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("registry entry {pipeline_id}")))
    }
}

fn registered_elsewhere(pipeline_id: &str) -> ApiError {
    ApiError::Conflict(format!(
        "pipeline {pipeline_id} is registered to another org"
    ))
}

/// The stored entry with the request's fields applied; a new entry needs a stack and a region.
fn merge(
    request: RegistryWriteRequest,
    stored: Option<RegistryEntry>,
    org: &str,
    pipeline_name: &str,
    regions: &RegionPolicy,
) -> Result<RegistryEntry, ApiError> {
    let stack_name = request
        .stack_name
        .or_else(|| stored.as_ref().map(|e| e.stack_name.clone()));
    let region = request
        .region
        .or_else(|| stored.as_ref().map(|e| e.region.clone()));
    let pipeline_name = request
        .pipeline_name
        .or_else(|| stored.as_ref().map(|e| e.pipeline_name.clone()))
        .unwrap_or_else(|| pipeline_name.to_string());
    let mut problems = Vec::new();
    match &stack_name {
        Some(name) if is_stack_name(name) => {}
        _ => problems.push(FieldError {
            field: "stackName".into(),
            message: format!(
                "a CloudFormation stack name (letter first, 1-{MAX_STACK_NAME_CHARS} letters, digits and '-') is required"
            ),
        }),
    }
    let region_problem = match &region {
        Some(region) => regions.check(region).err().map(|e| e.to_string()),
        None => Some("an AWS region such as us-east-1 is required".into()),
    };
    if let Some(message) = region_problem {
        problems.push(FieldError {
            field: "region".into(),
            message,
        });
    }
    match (stack_name, region) {
        (Some(stack_name), Some(region)) if problems.is_empty() => Ok(RegistryEntry {
            pipeline_id: request.pipeline_id,
            org_id: org.to_string(),
            pipeline_name,
            stack_name,
            region,
            last_deployed: now_rfc3339(),
            stack_id: None,
            account: None,
            definition_version: None,
        }),
        _ => Err(ApiError::Validation(problems)),
    }
}

/// The fields that become key parts or must match CodePipeline's events, checked before any key
/// is built from them.
fn check_key_fields(request: &RegistryWriteRequest) -> Result<(), ApiError> {
    let mut problems = Vec::new();
    if !is_pipeline_id(&request.pipeline_id) {
        problems.push(FieldError {
            field: "pipelineId".into(),
            message: format!(
                "a pipeline id: 1-{MAX_PIPELINE_ID_CHARS} letters, digits, '-' or '_'"
            ),
        });
    }
    if let Some(name) = &request.pipeline_name {
        if !is_codepipeline_name(name) {
            problems.push(FieldError {
                field: "pipelineName".into(),
                message: "the CodePipeline's name: 1-100 of A-Z a-z 0-9 . @ _ -".into(),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(problems))
    }
}

fn is_pipeline_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_PIPELINE_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_stack_name(name: &str) -> bool {
    name.len() <= MAX_STACK_NAME_CHARS
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn view(entry: RegistryEntry) -> RegistryView {
    RegistryView {
        pipeline_id: entry.pipeline_id,
        pipeline_name: entry.pipeline_name,
        stack_name: entry.stack_name,
        region: entry.region,
        last_deployed: entry.last_deployed,
        stack_id: entry.stack_id,
        account: entry.account,
        definition_version: entry.definition_version,
    }
}
