//! Every route, its handler and the permission it checks.

pub mod audit;
pub mod compliance;
pub mod meta;
pub mod pipelines;
pub mod plugins;
pub mod registry;
pub mod reports;
pub mod tokens;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::app::AppState;
use crate::auth::{AuditRead, ReportsRead};
use crate::auth::{
    ComplianceApprove, ComplianceRead, ComplianceWrite, Permission, PipelinesCreate,
    PipelinesDelete, PipelinesRead, PipelinesUpdate, PluginsCreate, PluginsRead, PluginsUpdate,
    RegistryRead, RegistryWrite, TokensCreate, TokensRead, TokensRevoke,
};

/// A route as documented: OpenAPI path syntax and the permission its handler requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    /// `None` only for the unauthenticated health check and API description.
    pub permission: Option<&'static str>,
}

const fn route(
    method: &'static str,
    path: &'static str,
    permission: Option<&'static str>,
) -> RouteDoc {
    RouteDoc {
        method,
        path,
        permission,
    }
}

/// The route table the tests hold the router and the OpenAPI document to.
pub const ROUTES: &[RouteDoc] = &[
    route("GET", "/health", None),
    route("GET", "/openapi.json", None),
    route("POST", "/api/tokens", Some(TokensCreate::NAME)),
    route("GET", "/api/tokens", Some(TokensRead::NAME)),
    route("DELETE", "/api/tokens/{jti}", Some(TokensRevoke::NAME)),
    route("GET", "/api/plugins", Some(PluginsRead::NAME)),
    route("POST", "/api/plugins", Some(PluginsCreate::NAME)),
    route("POST", "/api/plugins/lookup", Some(PluginsRead::NAME)),
    route("GET", "/api/plugins/{name}", Some(PluginsRead::NAME)),
    route(
        "GET",
        "/api/plugins/{name}/{version}",
        Some(PluginsRead::NAME),
    ),
    route(
        "PATCH",
        "/api/plugins/{name}/{version}",
        Some(PluginsUpdate::NAME),
    ),
    // audit
    route("GET", "/api/audit/runs", Some(AuditRead::NAME)),
    route("GET", "/api/audit/runs/latest", Some(AuditRead::NAME)),
    // pipelines
    route("POST", "/api/pipelines", Some(PipelinesCreate::NAME)),
    route("GET", "/api/pipelines", Some(PipelinesRead::NAME)),
    route("GET", "/api/pipelines/{id}", Some(PipelinesRead::NAME)),
    route("PUT", "/api/pipelines/{id}", Some(PipelinesUpdate::NAME)),
    route("DELETE", "/api/pipelines/{id}", Some(PipelinesDelete::NAME)),
    // registry
    route("POST", "/api/registry", Some(RegistryWrite::NAME)),
    route("GET", "/api/registry", Some(RegistryRead::NAME)),
    route(
        "GET",
        "/api/registry/{pipelineId}",
        Some(RegistryRead::NAME),
    ),
    route(
        "DELETE",
        "/api/registry/{pipelineId}",
        Some(RegistryWrite::NAME),
    ),
    // compliance
    route("POST", "/api/compliance/rules", Some(ComplianceWrite::NAME)),
    route("GET", "/api/compliance/rules", Some(ComplianceRead::NAME)),
    route(
        "GET",
        "/api/compliance/rules/{id}",
        Some(ComplianceRead::NAME),
    ),
    route(
        "PUT",
        "/api/compliance/rules/{id}",
        Some(ComplianceWrite::NAME),
    ),
    route(
        "DELETE",
        "/api/compliance/rules/{id}",
        Some(ComplianceWrite::NAME),
    ),
    route(
        "POST",
        "/api/compliance/validate",
        Some(ComplianceRead::NAME),
    ),
    route(
        "POST",
        "/api/compliance/exemptions",
        Some(ComplianceWrite::NAME),
    ),
    route(
        "GET",
        "/api/compliance/exemptions",
        Some(ComplianceRead::NAME),
    ),
    route(
        "POST",
        "/api/compliance/exemptions/{id}/approve",
        Some(ComplianceApprove::NAME),
    ),
    // reports
    route(
        "GET",
        "/api/reports/execution/count",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/execution/success-rate",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/execution/timeline",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/execution/duration",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/execution/stage-failures",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/execution/stage-bottlenecks",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/execution/action-failures",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/execution/errors",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/plugins/summary",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/plugins/distribution",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/plugins/versions",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/plugins/build-success-rate",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/plugins/build-duration",
        Some(ReportsRead::NAME),
    ),
    route(
        "GET",
        "/api/reports/plugins/build-failures",
        Some(ReportsRead::NAME),
    ),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(meta::health))
        .route("/openapi.json", get(meta::openapi))
        .route("/api/tokens", get(tokens::list).post(tokens::create))
        .route("/api/tokens/{jti}", delete(tokens::revoke))
        .route("/api/plugins", get(plugins::list).post(plugins::publish))
        .route("/api/plugins/lookup", post(plugins::lookup))
        .route("/api/plugins/{name}", get(plugins::versions))
        .route(
            "/api/plugins/{name}/{version}",
            get(plugins::get_version).patch(plugins::update_status),
        )
        // audit
        .route("/api/audit/runs", get(audit::list))
        .route("/api/audit/runs/latest", get(audit::latest))
        // pipelines
        .route(
            "/api/pipelines",
            get(pipelines::list).post(pipelines::create),
        )
        .route(
            "/api/pipelines/{id}",
            get(pipelines::get)
                .put(pipelines::update)
                .delete(pipelines::delete),
        )
        // registry
        .route("/api/registry", get(registry::list).post(registry::upsert))
        .route(
            "/api/registry/{pipeline_id}",
            get(registry::get).delete(registry::delete),
        )
        // compliance
        .route(
            "/api/compliance/rules",
            get(compliance::list_rules).post(compliance::create_rule),
        )
        .route(
            "/api/compliance/rules/{id}",
            get(compliance::get_rule)
                .put(compliance::update_rule)
                .delete(compliance::delete_rule),
        )
        .route("/api/compliance/validate", post(compliance::validate))
        .route(
            "/api/compliance/exemptions",
            get(compliance::list_exemptions).post(compliance::create_exemption),
        )
        .route(
            "/api/compliance/exemptions/{id}/approve",
            post(compliance::approve_exemption),
        )
        // reports
        .route(
            "/api/reports/execution/count",
            get(reports::execution_count),
        )
        .route(
            "/api/reports/execution/success-rate",
            get(reports::success_rate),
        )
        .route("/api/reports/execution/timeline", get(reports::timeline))
        .route("/api/reports/execution/duration", get(reports::duration))
        .route(
            "/api/reports/execution/stage-failures",
            get(reports::stage_failures),
        )
        .route(
            "/api/reports/execution/stage-bottlenecks",
            get(reports::stage_bottlenecks),
        )
        .route(
            "/api/reports/execution/action-failures",
            get(reports::action_failures),
        )
        .route("/api/reports/execution/errors", get(reports::errors))
        .route(
            "/api/reports/plugins/summary",
            get(reports::plugins_summary),
        )
        .route(
            "/api/reports/plugins/distribution",
            get(reports::plugins_distribution),
        )
        .route(
            "/api/reports/plugins/versions",
            get(reports::plugins_versions),
        )
        .route(
            "/api/reports/plugins/build-success-rate",
            get(reports::build_success_rate),
        )
        .route(
            "/api/reports/plugins/build-duration",
            get(reports::build_duration),
        )
        .route(
            "/api/reports/plugins/build-failures",
            get(reports::build_failures),
        )
}
