//! The history of a pipeline's runs (`/api/pipelines/{id}/executions…`, reads): every execution
//! the ingest stored, newest first, and one execution with each stage and action attempt.
//! History ends where the raw items' TTL ends it (`RAW_RETENTION_DAYS`, 90 days).

use pb_domain::wire::executions::{
    ActionAttempt, ErrorView, ExecutionDetail, ExecutionList, ExecutionSummary, FailureView,
    PluginView, StageAttempt, StageView, TriggerView,
};
use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, SecondsFormat};
use pb_aws::history::{HistoryError, HistoryFilter};
use pb_aws::starters::Starter;
use pb_domain::execution::{ActionError, Failure, ItemState};
use pb_domain::reports::parse_window;

use crate::auth::{Authorized, PipelinesRead};
use crate::paging::{ListRequest, PageParams};
use crate::params::{PathParams, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::routes::deployments::own_pipeline;
use crate::routes::runs::check_execution_id;
use crate::state::AppState;

/// Longest branch name a filter may name (git's own limit on a ref name's length is the file
/// system's; 255 is what hosting services accept).
pub const MAX_BRANCH_CHARS: usize = 255;

/// Longest execution state a filter may name: CodePipeline's are short upper-case words
/// (`SUCCEEDED`, `STOPPING`, …), and one it adds later is stored and filtered like the others.
const MAX_STATUS_CHARS: usize = 40;

/// The shape of an execution state (see [`MAX_STATUS_CHARS`]), for the API document.
pub const STATUS_PATTERN: &str = "^[A-Z][A-Z_]{0,39}$";

fn instant(ms: Option<i64>) -> Option<String> {
    ms.and_then(DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn error_view(error: &ActionError) -> ErrorView {
    ErrorView {
        category: error.category.as_str().to_string(),
        code: error.code.clone(),
        message: error.message.clone(),
        external_url: error.external_url.clone(),
    }
}

fn failure_view(failure: &Failure) -> FailureView {
    FailureView {
        attempt: failure.attempt,
        stage: failure.stage.clone(),
        action: failure.action.clone(),
        error: failure.error.as_ref().map(error_view),
    }
}

fn summary(item: &ItemState, starter: Option<&Starter>) -> ExecutionSummary {
    ExecutionSummary {
        execution_id: item.execution_id.clone(),
        status: item.status.clone(),
        attempt: item.attempt,
        started_at: instant(item.execution_started_at),
        completed_at: instant(item.completed_at),
        duration_ms: item.duration_ms,
        trigger: item.trigger.as_ref().map(|t| TriggerView {
            trigger_type: t.trigger_type.clone(),
            provider: t.provider.clone(),
            repository: t.repository.clone(),
            commit_id: t.commit_id.clone(),
            branch: t.branch.clone(),
            tag: t.tag.clone(),
        }),
        source_revision: item.source_revision.as_ref().map(|r| r.revision.clone()),
        failure: item.failure.as_ref().map(failure_view),
        started_by: starter.map(|s| s.principal.clone()),
    }
}

fn action_attempt(item: &ItemState) -> ActionAttempt {
    ActionAttempt {
        action: item.action.clone().unwrap_or_default(),
        status: item.status.clone(),
        started_at: instant(item.started_at),
        completed_at: instant(item.completed_at),
        duration_ms: item.duration_ms,
        category: item.action_category.clone(),
        provider: item.action_provider.clone(),
        region: item.action_region.clone(),
        plugin: item.plugin.as_ref().map(|p| PluginView {
            name: p.name.clone(),
            version: p.version.clone(),
        }),
        error: item.error.as_ref().map(error_view),
    }
}

/// Stage and action items grouped into stages, attempts and actions. A stage or attempt known
/// only from its actions' events still appears.
fn stages(items: &[ItemState]) -> Vec<StageView> {
    let mut attempts: BTreeMap<(String, u32), StageAttempt> = BTreeMap::new();
    for item in items.iter().filter(|i| i.stage.is_some()) {
        let key = (
            item.stage.clone().unwrap_or_default(),
            item.attempt.unwrap_or(1),
        );
        let attempt = attempts.entry(key.clone()).or_insert_with(|| StageAttempt {
            attempt: key.1,
            status: None,
            started_at: None,
            completed_at: None,
            duration_ms: None,
            actions: Vec::new(),
        });
        if item.action.is_some() {
            attempt.actions.push(action_attempt(item));
        } else {
            attempt.status.clone_from(&item.status);
            attempt.started_at = instant(item.started_at);
            attempt.completed_at = instant(item.completed_at);
            attempt.duration_ms = item.duration_ms;
        }
    }
    let mut by_stage: BTreeMap<String, Vec<StageAttempt>> = BTreeMap::new();
    for ((stage, _), mut attempt) in attempts {
        attempt
            .actions
            .sort_by(|a, b| (&a.started_at, &a.action).cmp(&(&b.started_at, &b.action)));
        by_stage.entry(stage).or_default().push(attempt);
    }
    let mut stages: Vec<StageView> = by_stage
        .into_iter()
        .map(|(name, attempts)| StageView { name, attempts })
        .collect();
    stages.sort_by_key(|stage| (first_start(stage), stage.name.clone()));
    stages
}

/// When a stage first started (RFC 3339 in UTC with milliseconds sorts as time); stages that
/// never reported a start come last.
fn first_start(stage: &StageView) -> (bool, String) {
    let start = stage
        .attempts
        .iter()
        .flat_map(|a| {
            a.started_at
                .iter()
                .chain(a.actions.iter().flat_map(|x| x.started_at.iter()))
        })
        .min()
        .cloned();
    (start.is_none(), start.unwrap_or_default())
}

fn history_error(error: HistoryError) -> ApiError {
    match error {
        HistoryError::InvalidPosition(_) => ApiError::InvalidCursor,
        HistoryError::InvalidLimit(limit) => ApiError::InvalidParameter {
            name: "limit".into(),
            message: format!("{limit} is out of range"),
        },
        HistoryError::Aws(aws) => ApiError::Aws(aws),
    }
}

fn status_filter(text: Option<&str>) -> Result<Option<String>, ApiError> {
    match text {
        Some(status)
            if status.len() > MAX_STATUS_CHARS
                || !status.starts_with(|c: char| c.is_ascii_uppercase())
                || !status.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
        {
            Err(ApiError::InvalidParameter {
                name: "status".into(),
                message: format!("'{status}' is not an execution state (e.g. SUCCEEDED, FAILED)"),
            })
        }
        other => Ok(other.map(str::to_string)),
    }
}

fn branch_filter(text: Option<&str>) -> Result<Option<String>, ApiError> {
    match text {
        Some(branch)
            if branch.is_empty()
                || branch.chars().count() > MAX_BRANCH_CHARS
                || branch.chars().any(char::is_control) =>
        {
            Err(ApiError::InvalidParameter {
                name: "branch".into(),
                message: format!("1-{MAX_BRANCH_CHARS} characters without control characters"),
            })
        }
        other => Ok(other.map(str::to_string)),
    }
}

fn history_filter(list: &ListRequest) -> Result<HistoryFilter, ApiError> {
    let (from_ms, to_ms) = parse_window(list.filter("from"), list.filter("to")).map_err(|e| {
        ApiError::InvalidParameter {
            name: e.parameter.into(),
            message: e.message,
        }
    })?;
    Ok(HistoryFilter {
        status: status_filter(list.filter("status"))?,
        branch: branch_filter(list.filter("branch"))?,
        from_ms,
        to_ms,
    })
}

/// The pipeline's executions, newest first (by start), as the ingest stored them: every page is
/// `limit` executions or the last one. Filters: `status` (the execution's current one), `branch`
/// (of the trigger), `from`/`to` (the start, inclusive; a date covers its whole UTC day).
#[utoipa::path(get, path = "/api/pipelines/{id}/executions", tag = "executions",
    params(
        ("id" = String, Path),
        ("status" = Option<String>, Query, description = "The execution's current state: STARTED, RESUMED, STOPPING, STOPPED, SUCCEEDED, FAILED, CANCELED, SUPERSEDED, or one CodePipeline adds"),
        ("branch" = Option<String>, Query, description = "The branch that triggered it"),
        ("from" = Option<String>, Query, description = "Started at or after (date or RFC 3339 instant)"),
        ("to" = Option<String>, Query, description = "Started at or before (a date: by the end of that day)"),
        PageParams,
    ),
    responses((status = 200, body = ExecutionList), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = ["pipelines:read"])))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesRead>,
    PathParams(id): PathParams<String>,
    params: QueryParams,
) -> Result<Json<ExecutionList>, ApiError> {
    let list = ListRequest::read(
        &state,
        caller.org(),
        params,
        &format!("executions/{id}"),
        &["status", "branch", "from", "to"],
    )
    .await?;
    let filter = history_filter(&list)?;
    own_pipeline(&state, caller.org(), &id).await?;
    let page = state
        .history
        .page(
            &id,
            &filter,
            list.paging.limit,
            list.paging.after.as_deref(),
        )
        .await
        .map_err(history_error)?;
    let ids: Vec<&str> = page.items.iter().map(|i| i.execution_id.as_str()).collect();
    let starters: HashMap<String, Starter> =
        state.starters.get_many(caller.org(), &id, &ids).await?;
    Ok(Json(ExecutionList {
        items: page
            .items
            .iter()
            .filter(|item| item.org_id == caller.org())
            .map(|item| summary(item, starters.get(&item.execution_id)))
            .collect(),
        next_cursor: page.next.map(|next| list.cursor_after(&next)),
        retention_days: state.config.retention_days,
    }))
}

/// One execution with every stage and action attempt: states, times, durations, the failing
/// action's error category and (scrubbed) message, the plugin version of each step, the trigger
/// and commit, and who started it through the platform.
#[utoipa::path(get, path = "/api/pipelines/{id}/executions/{executionId}", tag = "executions",
    params(("id" = String, Path), ("executionId" = String, Path)),
    responses((status = 200, body = ExecutionDetail), (status = 404, body = Problem)),
    security(("bearer" = ["pipelines:read"])))]
pub async fn get(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesRead>,
    PathParams((id, execution_id)): PathParams<(String, String)>,
) -> Result<Json<ExecutionDetail>, ApiError> {
    check_execution_id(&execution_id)?;
    own_pipeline(&state, caller.org(), &id).await?;
    let items: Vec<ItemState> = state
        .executions
        .execution_items(&id, &execution_id)
        .await?
        .into_iter()
        .map(|(_, item)| item)
        .filter(|item| item.org_id == caller.org())
        .collect();
    let execution = items
        .iter()
        .find(|item| item.stage.is_none())
        .ok_or_else(|| ApiError::NotFound(format!("execution {execution_id}")))?;
    let starter = state.starters.get(caller.org(), &id, &execution_id).await?;
    Ok(Json(ExecutionDetail {
        summary: summary(execution, starter.as_ref()),
        stages: stages(&items),
    }))
}
