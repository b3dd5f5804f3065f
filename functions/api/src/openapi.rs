//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::reports;
use crate::routes::{audit, compliance, meta, pipelines, plugins, registry, tokens};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pipeline-builder API",
        description = "Plugins, pipelines, compliance, registry, reports and audit results. \
            Every route except /health and /openapi.json needs `Authorization: Bearer <JWT>` \
            and the permission it names; errors are RFC 9457 problem documents."
    ),
    paths(
        meta::health,
        meta::openapi,
        tokens::create,
        tokens::list,
        tokens::revoke,
        plugins::list,
        plugins::publish,
        plugins::lookup,
        plugins::versions,
        plugins::get_version,
        plugins::update_status,
        // audit
        audit::list,
        audit::latest,
        // pipelines
        pipelines::create,
        pipelines::list,
        pipelines::get,
        pipelines::update,
        pipelines::delete,
        // registry
        registry::upsert,
        registry::list,
        registry::get,
        registry::delete,
        // compliance
        compliance::create_rule,
        compliance::list_rules,
        compliance::get_rule,
        compliance::update_rule,
        compliance::delete_rule,
        compliance::validate,
        compliance::create_exemption,
        compliance::list_exemptions,
        compliance::approve_exemption,
        // reports
        reports::execution_count,
        reports::success_rate,
        reports::timeline,
        reports::duration,
        reports::stage_failures,
        reports::stage_bottlenecks,
        reports::action_failures,
        reports::errors,
        reports::plugins_summary,
        reports::plugins_distribution,
        reports::plugins_versions,
        reports::build_success_rate,
        reports::build_duration,
        reports::build_failures,
    ),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
