//! Every route, once: the router and the OpenAPI document are both built from [`api`], and each
//! handler's annotation names the permission its `Authorized<…>` extractor checks.

pub mod audit;
pub mod compliance;
pub mod meta;
pub mod pipelines;
pub mod plugins;
pub mod registry;
pub mod reports;
pub mod tokens;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::openapi::ApiDoc;
use crate::state::AppState;

/// The routes with their documentation; [`crate::openapi::document`] finishes the document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(<ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(meta::health))
        .routes(routes!(meta::openapi))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(plugins::list, plugins::publish))
        .routes(routes!(plugins::lookup))
        .routes(routes!(plugins::versions))
        .routes(routes!(plugins::get_version, plugins::update_status))
        .routes(routes!(audit::list))
        .routes(routes!(audit::latest))
        .routes(routes!(pipelines::create, pipelines::list))
        .routes(routes!(
            pipelines::get,
            pipelines::update,
            pipelines::delete
        ))
        .routes(routes!(registry::upsert, registry::list))
        .routes(routes!(registry::get, registry::delete))
        .routes(routes!(compliance::create_rule, compliance::list_rules))
        .routes(routes!(
            compliance::get_rule,
            compliance::update_rule,
            compliance::delete_rule
        ))
        .routes(routes!(compliance::validate))
        .routes(routes!(
            compliance::create_exemption,
            compliance::list_exemptions
        ))
        .routes(routes!(compliance::approve_exemption))
        .routes(routes!(reports::execution_count))
        .routes(routes!(reports::success_rate))
        .routes(routes!(reports::timeline))
        .routes(routes!(reports::duration))
        .routes(routes!(reports::stage_failures))
        .routes(routes!(reports::stage_bottlenecks))
        .routes(routes!(reports::action_failures))
        .routes(routes!(reports::errors))
        .routes(routes!(reports::plugins_summary))
        .routes(routes!(reports::plugins_distribution))
        .routes(routes!(reports::plugins_versions))
        .routes(routes!(reports::build_success_rate))
        .routes(routes!(reports::build_duration))
        .routes(routes!(reports::build_failures))
}
