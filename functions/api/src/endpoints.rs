//! Every route, once: the router and the OpenAPI document are both built from [`api`].

use std::sync::OnceLock;

use axum::Json;
use utoipa::Modify;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::openapi::{ApiDoc, BearerAuth, BodyLimits, ParameterLimits, ProblemResponses};
use crate::routes::{
    audit, compliance, deployments, executions, me, meta, notifications, pipelines, plugins,
    registry, reports, runs, templates, tokens,
};
use crate::state::AppState;

/// The routes with their documentation; [`document`] finishes the document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(<ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(meta::health))
        .routes(routes!(openapi))
        .routes(routes!(me::whoami))
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
        .routes(routes!(templates::template))
        .routes(routes!(templates::synth))
        .routes(routes!(deployments::create, deployments::list))
        .routes(routes!(deployments::get))
        .routes(routes!(executions::list, runs::start_run))
        .routes(routes!(executions::get))
        .routes(routes!(runs::stop_run))
        .routes(routes!(runs::retry_stage))
        .routes(routes!(runs::decide))
        .routes(routes!(notifications::create, notifications::list))
        .routes(routes!(
            notifications::get,
            notifications::replace,
            notifications::delete
        ))
        .routes(routes!(notifications::test))
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
        .routes(routes!(reports::dora))
        .routes(routes!(
            reports::dora_settings,
            reports::replace_dora_settings
        ))
}

/// The document `/openapi.json` serves: the routes' annotations (see [`api`]), then
/// what annotations cannot say.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, mut document) = api().split_for_parts();
        let modifiers: [&dyn Modify; 4] = [
            &BearerAuth,
            &ProblemResponses,
            &ParameterLimits,
            &BodyLimits,
        ];
        for modifier in modifiers {
            modifier.modify(&mut document);
        }
        document
    })
}

/// The OpenAPI 3.1 document of this API, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(document())
}
