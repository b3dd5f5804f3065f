//! Pipeline definitions (`/api/pipelines…`): written with every plugin reference resolved and
//! pinned, versioned with ETags so concurrent edits cannot silently overwrite each other.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pb_aws::pipelines::{PipelineRecord, WriteError};
use pb_domain::compliance::{Target, Violation};
use pb_domain::pipeline::{resolve_templates, PinnedStep, PipelineSpec};
use pb_domain::plugin::AccessModifier;
use pb_domain::wire::pipelines::{PipelineList, PipelineSummary, PipelineView};
use pb_domain::wire::plugins::Source;

use crate::auth::{
    Authorized, Caller, Permission, PipelinesCreate, PipelinesDelete, PipelinesDeploy,
    PipelinesPublish, PipelinesRead, PipelinesUpdate,
};
use crate::body::JsonOrYaml;
use crate::paging::{ListRequest, Order, Page, PageParams};
use crate::params::{PathParams, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::routes::plugins::now_rfc3339;
use crate::services::definitions::check_pipeline;
use crate::services::{compliance, deployments};
use crate::state::AppState;
use crate::tokens::random_id;

/// A definition ready to store: validated, templates checked, every step pinned, compliant.
struct Checked {
    pinned: Vec<PinnedStep>,
    warnings: Vec<Violation>,
}

/// Creates a pipeline from a definition (JSON or YAML).
#[utoipa::path(post, path = "/api/pipelines", tag = "pipelines",
    request_body(content((PipelineSpec = "application/json"), (PipelineSpec = "application/yaml"))),
    responses(
        (status = 201, body = PipelineView, headers(("ETag" = String), ("Location" = String))),
        (status = 403, body = Problem, description = "Missing permission, or a compliance rule blocks it (compliance_violation, with every violation)"),
        (status = 409, body = Problem, description = "Another pipeline of the org has this name (the detail names it)"),
        (status = 422, body = Problem, description = "Invalid fields, template errors or unresolved plugins"),
    ),
    security(("bearer" = ["pipelines:create"])))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesCreate>,
    JsonOrYaml(spec): JsonOrYaml<PipelineSpec>,
) -> Result<Response, ApiError> {
    require_publish_for_public(&caller, &spec)?;
    // The id exists before the check: exemptions are granted per pipeline id.
    let id = new_pipeline_id()?;
    let checked = check(&state, &caller, &spec, &id).await?;
    let now = now_rfc3339();
    let record = PipelineRecord {
        id,
        org: caller.org().to_string(),
        version: 1,
        spec,
        pinned: checked.pinned,
        created_at: now.clone(),
        created_by: caller.claims.sub.clone(),
        updated_at: now,
        updated_by: caller.claims.sub.clone(),
    };
    state.pipelines.create(&record).await.map_err(write_error)?;
    let location = format!("/api/pipelines/{}", record.id);
    let view = PipelineView {
        compliance_warnings: checked.warnings,
        ..view(&caller, record, false)
    };
    Ok(written(StatusCode::CREATED, Some(&location), view))
}

/// Lists the org's pipelines and the public ones of other orgs.
#[utoipa::path(get, path = "/api/pipelines", tag = "pipelines",
    params(
        ("name" = Option<String>, Query, description = "The exact name: at most one of the org's own pipelines, and other orgs' public ones"),
        ("project" = Option<String>, Query),
        ("environment" = Option<String>, Query, description = "A stage environment"),
        ("plugin" = Option<String>, Query, description = "A plugin name some step uses"),
        PageParams,
    ),
    responses((status = 200, body = PipelineList), (status = 400, body = Problem)),
    security(("bearer" = ["pipelines:read"])))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesRead>,
    params: QueryParams,
) -> Result<Json<PipelineList>, ApiError> {
    let list = ListRequest::read(
        &state,
        caller.org(),
        params,
        "pipelines",
        &["name", "project", "environment", "plugin"],
    )
    .await?;
    let (name, project, environment, plugin) = (
        list.filter("name"),
        list.filter("project"),
        list.filter("environment"),
        list.filter("plugin"),
    );
    let mut records = state.pipelines.org_pipelines(caller.org()).await?;
    records.extend(
        state
            .pipelines
            .public_pipelines()
            .await?
            .into_iter()
            .filter(|r| r.org != caller.org()),
    );
    let mut summaries: Vec<PipelineSummary> = records
        .iter()
        .map(|r| summary(&caller, r))
        .filter(|s| name.is_none_or(|n| s.name == n))
        .filter(|s| project.is_none_or(|p| s.project == p))
        .filter(|s| environment.is_none_or(|e| s.environments.iter().any(|x| x == e)))
        .filter(|s| plugin.is_none_or(|p| s.plugins.iter().any(|x| x == p)))
        .collect();
    summaries.sort_by_key(sort_key);
    let order = Order {
        key: sort_key,
        is_after: |s: &PipelineSummary, after: &str| sort_key(s).as_str() > after,
    };
    let Page { items, next_cursor } = list.page(summaries, order);
    Ok(Json(PipelineList { items, next_cursor }))
}

/// One pipeline: the org's own, or another org's public one.
#[utoipa::path(get, path = "/api/pipelines/{id}", tag = "pipelines",
    params(("id" = String, Path), ("resolve" = Option<bool>, Query, description = "Also return the definition with templates expanded")),
    responses((status = 200, body = PipelineView, headers(("ETag" = String))), (status = 404, body = Problem)),
    security(("bearer" = ["pipelines:read"])))]
pub async fn get(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesRead>,
    PathParams(id): PathParams<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let params = params.only(&["resolve"])?;
    let resolve = match params.text("resolve") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::InvalidParameter {
                name: "resolve".into(),
                message: format!("'{other}' is not true or false"),
            })
        }
    };
    let record = visible(&state, &caller, &id).await?;
    Ok(written(
        StatusCode::OK,
        None,
        view(&caller, record, resolve),
    ))
}

/// Replaces a pipeline's definition. `If-Match` with the current ETag is required.
#[utoipa::path(put, path = "/api/pipelines/{id}", tag = "pipelines",
    params(("id" = String, Path), ("If-Match" = String, Header, description = "ETag of the version being replaced")),
    request_body(content((PipelineSpec = "application/json"), (PipelineSpec = "application/yaml"))),
    responses(
        (status = 200, body = PipelineView, headers(("ETag" = String))),
        (status = 403, body = Problem, description = "Missing permission, or a compliance rule blocks it (compliance_violation, with every violation)"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Another pipeline of the org has this name (the detail names it)"),
        (status = 412, body = Problem, description = "Changed since that ETag"),
        (status = 422, body = Problem, description = "Invalid fields, template errors or unresolved plugins"),
        (status = 428, body = Problem, description = "No If-Match"),
    ),
    security(("bearer" = ["pipelines:update"])))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesUpdate>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    JsonOrYaml(spec): JsonOrYaml<PipelineSpec>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?.ok_or(ApiError::PreconditionRequired)?;
    let current = own(&state, &caller, &id).await?;
    let expected = expected.unwrap_or(current.version);
    if expected != current.version {
        return Err(ApiError::PreconditionFailed);
    }
    require_publish_for_public(&caller, &spec)?;
    let checked = check(&state, &caller, &spec, &id).await?;
    let record = PipelineRecord {
        version: current.version + 1,
        spec,
        pinned: checked.pinned,
        updated_at: now_rfc3339(),
        updated_by: caller.claims.sub.clone(),
        ..current.clone()
    };
    state
        .pipelines
        .replace(&current, &record)
        .await
        .map_err(write_error)?;
    let view = PipelineView {
        compliance_warnings: checked.warnings,
        ..view(&caller, record, false)
    };
    Ok(written(StatusCode::OK, None, view))
}

/// Deletes a pipeline. One still in the deployment registry is refused unless `force=true`
/// (which leaves the deployed stack alone) or `deleteStack=true` (which also needs
/// `pipelines:deploy`: the stack's delete is started and the registry entry removed first).
#[utoipa::path(delete, path = "/api/pipelines/{id}", tag = "pipelines",
    params(
        ("id" = String, Path),
        ("force" = Option<bool>, Query),
        ("deleteStack" = Option<bool>, Query, description = "Also delete the deployed stack (needs pipelines:deploy)"),
        ("If-Match" = Option<String>, Header),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Still registered as deployed, a deployment is in progress, a stack of its name is not this pipeline's, or changed while being deleted without If-Match"),
        (status = 412, body = Problem),
    ),
    security(("bearer" = ["pipelines:delete"])))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesDelete>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    params: QueryParams,
) -> Result<StatusCode, ApiError> {
    let params = params.only(&["force", "deleteStack"])?;
    let delete_stack = params.text("deleteStack") == Some("true");
    let force = params.text("force") == Some("true") || delete_stack;
    let expected = if_match(&headers)?.flatten();
    if delete_stack {
        caller.require(PipelinesDeploy::NAME)?;
        let pipeline = own(&state, &caller, &id).await?;
        if expected.is_some_and(|version| version != pipeline.version) {
            return Err(ApiError::PreconditionFailed);
        }
        deployments::delete_stack(&state, &pipeline).await?;
    }
    state
        .pipelines
        .delete(caller.org(), &id, expected, force)
        .await
        .map_err(|error| match error {
            WriteError::NotFound => ApiError::NotFound(format!("pipeline {id}")),
            WriteError::Registered => ApiError::Conflict(format!(
                "pipeline {id} is still registered as deployed; delete its registry entry first, or pass force=true"
            )),
            // Without If-Match the delete applies to the version it read; an edit landed since.
            WriteError::Stale { .. } if expected.is_none() => ApiError::Conflict(format!(
                "pipeline {id} changed while it was being deleted; try again"
            )),
            other => write_error(other),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every check a write runs, compliance last: rules see the pinned plugins.
async fn check(
    state: &AppState,
    caller: &Caller,
    spec: &PipelineSpec,
    id: &str,
) -> Result<Checked, ApiError> {
    let checked = check_pipeline(state, caller.org(), spec).await?;
    let warnings = compliance::check(
        state,
        caller.org(),
        Target::Pipeline,
        id,
        &checked.attributes,
    )
    .await?;
    Ok(Checked {
        pinned: checked.pinned,
        warnings,
    })
}

fn require_publish_for_public(caller: &Caller, spec: &PipelineSpec) -> Result<(), ApiError> {
    if spec.access_modifier == AccessModifier::Public {
        caller.require(PipelinesPublish::NAME)?;
    }
    Ok(())
}

async fn own(state: &AppState, caller: &Caller, id: &str) -> Result<PipelineRecord, ApiError> {
    state
        .pipelines
        .get(caller.org(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("pipeline {id}")))
}

async fn visible(state: &AppState, caller: &Caller, id: &str) -> Result<PipelineRecord, ApiError> {
    if let Some(record) = state.pipelines.get(caller.org(), id).await? {
        return Ok(record);
    }
    state
        .pipelines
        .get_public(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("pipeline {id}")))
}

/// `If-Match`: absent → `None`; `*` → `Some(None)` (any version); `"7"` → `Some(Some(7))`. A
/// weak or unknown tag never matches (RFC 9110 strong comparison).
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<Option<u64>>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::PreconditionFailed)?
        .trim();
    if text == "*" {
        return Ok(Some(None));
    }
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse().ok())
        .map(|version| Some(Some(version)))
        .ok_or(ApiError::PreconditionFailed)
}

pub(crate) fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

fn written(status: StatusCode, location: Option<&str>, view: PipelineView) -> Response {
    let mut response = (status, Json(&view)).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag(view.version)) {
        headers.insert(header::ETAG, value);
    }
    if let Some(value) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, value);
    }
    response
}

fn write_error(error: WriteError) -> ApiError {
    match error {
        WriteError::NotFound => ApiError::NotFound("pipeline".into()),
        WriteError::Stale { .. } => ApiError::PreconditionFailed,
        WriteError::Registered => {
            ApiError::Conflict("the pipeline is registered as deployed".into())
        }
        taken @ WriteError::NameTaken { .. } => {
            ApiError::Conflict(format!("{taken}; pipeline names are unique within an org"))
        }
        WriteError::Aws(aws) => ApiError::Aws(aws),
    }
}

fn new_pipeline_id() -> Result<String, ApiError> {
    random_id()
        .map(|id| format!("pl-{id}"))
        .ok_or(ApiError::Internal)
}

fn view(caller: &Caller, record: PipelineRecord, resolve: bool) -> PipelineView {
    let own = record.org == caller.org();
    PipelineView {
        resolved: resolve
            .then(|| resolve_templates(&record.spec).ok())
            .flatten(),
        id: record.id,
        version: record.version,
        source: if own { Source::Org } else { Source::Public },
        spec: record.spec,
        pinned: record.pinned,
        created_at: record.created_at,
        updated_at: record.updated_at,
        created_by: own.then_some(record.created_by),
        updated_by: own.then_some(record.updated_by),
        compliance_warnings: Vec::new(),
    }
}

fn summary(caller: &Caller, record: &PipelineRecord) -> PipelineSummary {
    let spec = &record.spec;
    let mut environments: Vec<String> = spec
        .stages
        .iter()
        .filter_map(|s| s.environment.clone())
        .collect();
    environments.dedup();
    let mut plugins: Vec<String> = record.pinned.iter().map(|p| p.plugin.clone()).collect();
    plugins.sort();
    plugins.dedup();
    PipelineSummary {
        id: record.id.clone(),
        name: spec.name.clone(),
        project: spec.project.clone(),
        description: spec.description.clone(),
        access_modifier: spec.access_modifier,
        source: if record.org == caller.org() {
            Source::Org
        } else {
            Source::Public
        },
        version: record.version,
        environments,
        plugins,
        updated_at: record.updated_at.clone(),
    }
}

/// Listing order: by name, then id (ids are unique, so the key is too).
fn sort_key(summary: &PipelineSummary) -> String {
    format!("{}\u{0}{}", summary.name, summary.id)
}
