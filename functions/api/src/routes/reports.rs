//! Reports (`/api/reports…`): execution and plugin reports answered from the daily rollups
//! and the plugin catalog, never by scanning raw executions. Every route needs
//! `reports:read` and sees only the caller's org.

use std::collections::HashSet;
use std::marker::PhantomData;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::Json;
use pb_aws::dora_settings::DoraSettingsRecord;
use pb_domain::dora::{
    EnvironmentsError, ProductionEnvironments, ENVIRONMENT_PATTERN, MAX_ENVIRONMENT_LENGTH,
    MAX_PRODUCTION_ENVIRONMENTS,
};
use pb_domain::event::is_codepipeline_name;
use pb_domain::pipeline::MAX_PROJECT_CHARS;
use pb_domain::plugin::{FieldError, PluginSpec};
use pb_domain::reports::{
    self, ActionFailureReport, BuildDurationReport, BuildFailureReport, BuildSuccessReport,
    DoraReport, DurationReport, ErrorReport, ExecutionCountReport, Interval, ParamError,
    PluginDistributionReport, PluginSummaryReport, PluginVersionsReport, ReportRange,
    StageBottleneckReport, StageFailureReport, SuccessRateReport,
};
use pb_domain::rollup::{Facet, Rollup};
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{Array, ArrayBuilder, ObjectBuilder};
use utoipa::openapi::Type;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Authorized, Caller, ReportsConfigure, ReportsRead};
use crate::body::JsonBody;
use crate::params::{optional_query_parameter, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// The query parameters each kind of report takes, documented once in [`report_parameter`].
pub trait Shape {
    const NAMES: &'static [&'static str];
}

macro_rules! shapes {
    ($($(#[$doc:meta])* $shape:ident => [$($name:literal),*];)*) => {
        $(
            $(#[$doc])*
            pub struct $shape;
            impl Shape for $shape {
                const NAMES: &'static [&'static str] = &[$($name),*];
            }
        )*
    };
}

shapes! {
    /// The DORA report: one series, narrowed to a pipeline or a project.
    Dora => ["from", "to", "interval", "pipelineId", "project"];
    /// Rows per pipeline, stage, action or error category.
    List => ["from", "to", "limit", "pipelineId"];
    /// One series of interval buckets.
    Series => ["from", "to", "interval", "pipelineId"];
    /// A series per row: the heatmap.
    SeriesList => ["from", "to", "interval", "limit", "pipelineId"];
    /// Rows per plugin.
    PluginList => ["from", "to", "limit"];
    /// A series per plugin.
    PluginSeries => ["from", "to", "interval", "limit"];
    /// The inventory, paged by name.
    Inventory => ["limit"];
    /// The inventory as a whole.
    Whole => [];
}

/// A report's query: exactly the parameters of its shape, each at most once.
pub struct ReportQuery<S>(QueryParams, PhantomData<S>);

impl<S: Shape, St: Send + Sync> FromRequestParts<St> for ReportQuery<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        let params = QueryParams::from_request_parts(parts, state).await?;
        Ok(ReportQuery(params.only(S::NAMES)?, PhantomData))
    }
}

impl<S: Shape> IntoParams for ReportQuery<S> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        S::NAMES.iter().map(|name| report_parameter(name)).collect()
    }
}

/// Every report parameter, described once; their limits are stated with the other parameters'.
fn report_parameter(name: &str) -> Parameter {
    let (description, schema_type) = match name {
        "from" => (
            "Date (2026-11-01) or RFC 3339 instant; widened to the start of its UTC day. \
             Default: 30 days before `to`",
            Type::String,
        ),
        "to" => (
            "Date (inclusive) or RFC 3339 instant, widened to the end of its UTC day. Default: \
             the end of today (UTC)",
            Type::String,
        ),
        "interval" => (
            "day | week (ISO, from Monday) | month; default week",
            Type::String,
        ),
        "limit" => (
            "Rows, 1-100, default 20; the route says which come first",
            Type::Integer,
        ),
        "project" => (
            "Only the pipelines whose definition names this project",
            Type::String,
        ),
        _ => ("Only this pipeline", Type::String),
    };
    optional_query_parameter(name, description, schema_type)
}

fn invalid(error: ParamError) -> ApiError {
    ApiError::InvalidParameter {
        name: error.parameter.to_string(),
        message: error.message,
    }
}

fn range(params: &QueryParams) -> Result<ReportRange, ApiError> {
    ReportRange::parse(params.text("from"), params.text("to"), chrono::Utc::now()).map_err(invalid)
}

fn interval(params: &QueryParams) -> Result<Interval, ApiError> {
    Interval::parse(params.text("interval")).map_err(invalid)
}

fn limit(params: &QueryParams) -> Result<usize, ApiError> {
    reports::parse_limit(params.text("limit")).map_err(invalid)
}

/// The org's rollups of every day in the range, holding the counters of `facets` only (one query
/// per day and facet), narrowed to one pipeline when `pipelineId` is given. Another org's
/// pipeline id simply matches nothing.
async fn rollups(
    state: &AppState,
    caller: &Caller,
    params: &QueryParams,
    range: &ReportRange,
    facets: &[Facet],
) -> Result<Vec<Rollup>, ApiError> {
    let days: Vec<String> = range
        .days()
        .iter()
        .map(|day| day.format("%Y-%m-%d").to_string())
        .collect();
    let mut rollups = state.rollups.read(caller.org(), &days, facets).await?;
    if let Some(pipeline_id) = params.text("pipelineId") {
        rollups.retain(|rollup| rollup.pipeline_id == pipeline_id);
    }
    Ok(rollups)
}

/// The org's own published versions (the inventory reports do not count other orgs' plugins).
async fn own_specs(state: &AppState, caller: &Caller) -> Result<Vec<PluginSpec>, ApiError> {
    Ok(state
        .catalog
        .org_plugins(caller.org())
        .await?
        .into_iter()
        .map(|record| record.spec)
        .collect())
}

/// Executions per pipeline by final status, with the first and last execution of the range.
/// Rows are pipelines, the most executions first.
#[utoipa::path(get, path = "/api/reports/execution/count", tag = "reports",
    params(ReportQuery<List>),
    responses((status = 200, body = ExecutionCountReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn execution_count(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<List>,
) -> Result<Json<ExecutionCountReport>, ApiError> {
    let (range, limit) = (range(&params)?, limit(&params)?);
    let rollups = rollups(
        &state,
        &caller,
        &params,
        &range,
        &[Facet::Executions, Facet::StartMinutes],
    )
    .await?;
    Ok(Json(reports::execution_counts(&rollups, &range, limit)))
}

/// Executions per interval bucket: counts by status and success % (succeeded ÷ (succeeded +
/// failed); canceled, superseded and stopped are reported beside it).
#[utoipa::path(get, path = "/api/reports/execution/success-rate", tag = "reports",
    params(ReportQuery<Series>),
    responses((status = 200, body = SuccessRateReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn success_rate(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<Series>,
) -> Result<Json<SuccessRateReport>, ApiError> {
    success_series(state, caller, params).await
}

/// The same series as `/api/reports/execution/success-rate`.
#[utoipa::path(get, path = "/api/reports/execution/timeline", tag = "reports",
    params(ReportQuery<Series>),
    responses((status = 200, body = SuccessRateReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn timeline(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<Series>,
) -> Result<Json<SuccessRateReport>, ApiError> {
    success_series(state, caller, params).await
}

async fn success_series(
    state: AppState,
    caller: Caller,
    params: QueryParams,
) -> Result<Json<SuccessRateReport>, ApiError> {
    let (range, interval) = (range(&params)?, interval(&params)?);
    let rollups = rollups(&state, &caller, &params, &range, &[Facet::Executions]).await?;
    Ok(Json(reports::success_series(&rollups, &range, interval)))
}

/// Execution durations per pipeline: exact count and average; min, max and percentiles from
/// merged histograms (at most 1.96 % off).
/// Rows are pipelines, the slowest p95 first.
#[utoipa::path(get, path = "/api/reports/execution/duration", tag = "reports",
    params(ReportQuery<List>),
    responses((status = 200, body = DurationReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn duration(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<List>,
) -> Result<Json<DurationReport>, ApiError> {
    let (range, limit) = (range(&params)?, limit(&params)?);
    let rollups = rollups(
        &state,
        &caller,
        &params,
        &range,
        &[Facet::ExecutionDurations],
    )
    .await?;
    Ok(Json(reports::execution_durations(&rollups, &range, limit)))
}

/// Heatmap of stage attempt failures: stage × interval bucket, failures and failure %.
/// Rows are stages, the most failures first.
#[utoipa::path(get, path = "/api/reports/execution/stage-failures", tag = "reports",
    params(ReportQuery<SeriesList>),
    responses((status = 200, body = StageFailureReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn stage_failures(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<SeriesList>,
) -> Result<Json<StageFailureReport>, ApiError> {
    let (range, interval, limit) = (range(&params)?, interval(&params)?, limit(&params)?);
    let rollups = rollups(&state, &caller, &params, &range, &[Facet::Stages]).await?;
    Ok(Json(reports::stage_failures(
        &rollups, &range, interval, limit,
    )))
}

/// The slowest stages of each pipeline: average and p95 attempt duration.
/// Rows are pipelines, the slowest stage first.
#[utoipa::path(get, path = "/api/reports/execution/stage-bottlenecks", tag = "reports",
    params(ReportQuery<List>),
    responses((status = 200, body = StageBottleneckReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn stage_bottlenecks(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<List>,
) -> Result<Json<StageBottleneckReport>, ApiError> {
    let (range, limit) = (range(&params)?, limit(&params)?);
    let rollups = rollups(&state, &caller, &params, &range, &[Facet::StageDurations]).await?;
    Ok(Json(reports::stage_bottlenecks(&rollups, &range, limit)))
}

/// Failures per action (with its CodePipeline category): failed and finished attempts and %.
/// Rows are actions, the most failures first.
#[utoipa::path(get, path = "/api/reports/execution/action-failures", tag = "reports",
    params(ReportQuery<List>),
    responses((status = 200, body = ActionFailureReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn action_failures(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<List>,
) -> Result<Json<ActionFailureReport>, ApiError> {
    let (range, limit) = (range(&params)?, limit(&params)?);
    let rollups = rollups(&state, &caller, &params, &range, &[Facet::Actions]).await?;
    Ok(Json(reports::action_failures(&rollups, &range, limit)))
}

/// The top error categories of failed actions, with the pipelines affected and a recent
/// scrubbed sample message.
/// Rows are error categories, the most frequent first.
#[utoipa::path(get, path = "/api/reports/execution/errors", tag = "reports",
    params(ReportQuery<List>),
    responses((status = 200, body = ErrorReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn errors(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<List>,
) -> Result<Json<ErrorReport>, ApiError> {
    let (range, limit) = (range(&params)?, limit(&params)?);
    let rollups = rollups(&state, &caller, &params, &range, &[Facet::Actions]).await?;
    Ok(Json(reports::error_categories(&rollups, &range, limit)))
}

/// The org's plugin inventory: plugins, versions, active, public/private, by category.
#[utoipa::path(get, path = "/api/reports/plugins/summary", tag = "reports",
    params(ReportQuery<Whole>),
    responses((status = 200, body = PluginSummaryReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn plugins_summary(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    _: ReportQuery<Whole>,
) -> Result<Json<PluginSummaryReport>, ApiError> {
    let specs = own_specs(&state, &caller).await?;
    Ok(Json(reports::plugin_summary(&specs)))
}

/// The org's plugins by plugin type and compute type.
#[utoipa::path(get, path = "/api/reports/plugins/distribution", tag = "reports",
    params(ReportQuery<Whole>),
    responses((status = 200, body = PluginDistributionReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn plugins_distribution(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    _: ReportQuery<Whole>,
) -> Result<Json<PluginDistributionReport>, ApiError> {
    let specs = own_specs(&state, &caller).await?;
    Ok(Json(reports::plugin_distribution(&specs)))
}

/// The versions of each of the org's plugins, highest first, and the one `latest` resolves to.
/// Rows are plugins, by name.
#[utoipa::path(get, path = "/api/reports/plugins/versions", tag = "reports",
    params(ReportQuery<Inventory>),
    responses((status = 200, body = PluginVersionsReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn plugins_versions(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<Inventory>,
) -> Result<Json<PluginVersionsReport>, ApiError> {
    let limit = limit(&params)?;
    let specs = own_specs(&state, &caller).await?;
    Ok(Json(reports::plugin_versions(&specs, limit)))
}

/// Per interval, the success % of the pipeline steps that ran each plugin (attributed at ingest
/// through each step's pinned plugin version), with a per-version total.
/// Rows are plugins, the most runs first.
#[utoipa::path(get, path = "/api/reports/plugins/build-success-rate", tag = "reports",
    params(ReportQuery<PluginSeries>),
    responses((status = 200, body = BuildSuccessReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn build_success_rate(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<PluginSeries>,
) -> Result<Json<BuildSuccessReport>, ApiError> {
    let (range, interval, limit) = (range(&params)?, interval(&params)?, limit(&params)?);
    let rollups = rollups(&state, &caller, &params, &range, &[Facet::Plugins]).await?;
    Ok(Json(reports::build_success(
        &rollups, &range, interval, limit,
    )))
}

/// Step durations per plugin (and version): average and p95.
/// Rows are plugins, the slowest p95 first.
#[utoipa::path(get, path = "/api/reports/plugins/build-duration", tag = "reports",
    params(ReportQuery<PluginList>),
    responses((status = 200, body = BuildDurationReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn build_duration(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<PluginList>,
) -> Result<Json<BuildDurationReport>, ApiError> {
    let (range, limit) = (range(&params)?, limit(&params)?);
    let rollups = rollups(&state, &caller, &params, &range, &[Facet::PluginDurations]).await?;
    Ok(Json(reports::build_durations(&rollups, &range, limit)))
}

/// Failed steps per plugin with their top error categories.
/// Rows are plugins, the most failures first.
#[utoipa::path(get, path = "/api/reports/plugins/build-failures", tag = "reports",
    params(ReportQuery<PluginList>),
    responses((status = 200, body = BuildFailureReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn build_failures(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<PluginList>,
) -> Result<Json<BuildFailureReport>, ApiError> {
    let (range, limit) = (range(&params)?, limit(&params)?);
    let rollups = rollups(&state, &caller, &params, &range, &[Facet::Plugins]).await?;
    Ok(Json(reports::build_failures(&rollups, &range, limit)))
}

/// DORA's four keys over the org's production deployments: deployment frequency, change failure
/// rate, lead time for changes and time to restore (p50/p90), each with its performance tier, and
/// a series per interval bucket. Counted at ingest from executions of pipelines with a stored
/// definition; what counts as production is the org's setting (`/api/reports/dora/settings`).
#[utoipa::path(get, path = "/api/reports/dora", tag = "reports", operation_id = "dora_report",
    params(ReportQuery<Dora>),
    responses((status = 200, body = DoraReport), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn dora(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
    ReportQuery(params, _): ReportQuery<Dora>,
) -> Result<Json<DoraReport>, ApiError> {
    let (range, interval) = (range(&params)?, interval(&params)?);
    let mut rollups = rollups(&state, &caller, &params, &range, &[Facet::Deployments]).await?;
    if let Some(project) = project(&params)? {
        let members = project_pipelines(&state, &caller, project).await?;
        rollups.retain(|rollup| members.contains(&rollup.pipeline_id));
    }
    Ok(Json(reports::dora(&rollups, &range, interval)))
}

/// A project is named like a pipeline's (`project` in its definition).
fn project(params: &QueryParams) -> Result<Option<&str>, ApiError> {
    let Some(project) = params.text("project") else {
        return Ok(None);
    };
    if project.chars().count() > MAX_PROJECT_CHARS || !is_codepipeline_name(project) {
        return Err(ApiError::InvalidParameter {
            name: "project".into(),
            message: format!("1-{MAX_PROJECT_CHARS} characters of letters, digits and '.@-_'"),
        });
    }
    Ok(Some(project))
}

/// The ids of the org's pipelines whose definition names `project`.
async fn project_pipelines(
    state: &AppState,
    caller: &Caller,
    project: &str,
) -> Result<HashSet<String>, ApiError> {
    Ok(state
        .pipelines
        .org_pipelines(caller.org())
        .await?
        .into_iter()
        .filter(|record| record.spec.project == project)
        .map(|record| record.id)
        .collect())
}

/// The environments an org counts as production, and who set them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoraSettingsView {
    pub production_environments: Vec<String>,
    /// `false` while the org uses the defaults (`production`, `prod`).
    pub customized: bool,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

/// The org's production environments; names compare without regard to case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DoraSettingsRequest {
    #[schema(schema_with = environment_names)]
    pub production_environments: Vec<String>,
}

fn environment_names() -> Array {
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_ENVIRONMENT_LENGTH))
        .pattern(Some(ENVIRONMENT_PATTERN));
    ArrayBuilder::new()
        .items(name)
        .min_items(Some(1))
        .max_items(Some(MAX_PRODUCTION_ENVIRONMENTS))
        .build()
}

/// Which stage environments count as production for the DORA report.
#[utoipa::path(get, path = "/api/reports/dora/settings", tag = "reports", operation_id = "get_dora_settings",
    responses((status = 200, body = DoraSettingsView), (status = 403, body = Problem)),
    security(("bearer" = ["reports:read"])))]
pub async fn dora_settings(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsRead>,
) -> Result<Json<DoraSettingsView>, ApiError> {
    let view = match state.dora_settings.get(caller.org()).await? {
        Some(record) => DoraSettingsView::from(record),
        None => DoraSettingsView {
            production_environments: ProductionEnvironments::default().names().to_vec(),
            customized: false,
            updated_at: None,
            updated_by: None,
        },
    };
    Ok(Json(view))
}

/// Replaces the environments counted as production. The ingest applies them to events it
/// receives afterwards (within its cache lifetime, 5 minutes by default): deployments already
/// counted keep the environments they were counted with.
#[utoipa::path(put, path = "/api/reports/dora/settings", tag = "reports", operation_id = "replace_dora_settings",
    request_body = DoraSettingsRequest,
    responses((status = 200, body = DoraSettingsView), (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = ["reports:configure"])))]
pub async fn replace_dora_settings(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<ReportsConfigure>,
    JsonBody(request): JsonBody<DoraSettingsRequest>,
) -> Result<Json<DoraSettingsView>, ApiError> {
    let environments = ProductionEnvironments::new(request.production_environments)
        .map_err(invalid_environments)?;
    let record = DoraSettingsRecord {
        production_environments: environments.names().to_vec(),
        updated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        updated_by: caller.claims.sub.clone(),
    };
    state.dora_settings.put(caller.org(), &record).await?;
    Ok(Json(DoraSettingsView::from(record)))
}

fn invalid_environments(error: EnvironmentsError) -> ApiError {
    let field = match error {
        EnvironmentsError::Count(_) => "productionEnvironments".to_string(),
        EnvironmentsError::Name { index } => format!("productionEnvironments[{index}]"),
    };
    ApiError::Validation(vec![FieldError {
        field,
        message: error.to_string(),
    }])
}

impl From<DoraSettingsRecord> for DoraSettingsView {
    fn from(record: DoraSettingsRecord) -> Self {
        DoraSettingsView {
            production_environments: record.production_environments,
            customized: true,
            updated_at: Some(record.updated_at),
            updated_by: Some(record.updated_by),
        }
    }
}
