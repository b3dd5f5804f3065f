//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::paging::MAX_PAGE_SIZE;
use crate::params::MAX_PATH_PARAM_BYTES;
use crate::problem::PROBLEM_JSON;

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
    modifiers(&BearerAuth, &ProblemResponses, &ParameterLimits),
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

/// Error answers as the API really sends them: `application/problem+json`, on every status a
/// route can answer, including those the shared extractors and middleware produce (so a client
/// generated from the document, or a schema checker, sees no undocumented status).
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_path_params = path.contains('{');
            for operation in operations_mut(item) {
                problems_as_problem_json(operation);
                add_shared_problems(operation, has_path_params);
            }
        }
    }
}

/// The operations of the methods the API serves.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

fn problems_as_problem_json(operation: &mut Operation) {
    for (status, response) in operation.responses.responses.iter_mut() {
        if let (false, RefOr::T(response)) = (status.starts_with('2'), response) {
            if let Some(content) = response.content.shift_remove("application/json") {
                response.content.insert(PROBLEM_JSON.to_string(), content);
            }
        }
    }
}

fn add_shared_problems(operation: &mut Operation, has_path_params: bool) {
    let authenticated = operation.security.is_some();
    let has_body = operation.request_body.is_some();
    let shared = [
        (
            authenticated,
            "400",
            "A parameter is malformed, unknown or out of range",
        ),
        (
            authenticated,
            "401",
            "Missing, malformed, expired or revoked bearer token",
        ),
        (
            authenticated,
            "403",
            "The token lacks the permission this route requires",
        ),
        (
            has_path_params && authenticated,
            "404",
            "No such resource in the caller's org",
        ),
        (has_body, "413", "The body exceeds the size limit"),
        (has_body, "415", "The body's Content-Type is not accepted"),
        (
            authenticated,
            "500",
            "Internal error; the problem carries the request id",
        ),
        (
            authenticated,
            "503",
            "AWS throttled or was unavailable; retry with backoff",
        ),
    ];
    for (applies, status, description) in shared {
        if applies && !operation.responses.responses.contains_key(status) {
            operation
                .responses
                .responses
                .insert(status.to_string(), RefOr::T(problem_response(description)));
        }
    }
}

fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
}

/// The bounds the shared extractors enforce, stated on every parameter they apply to, so a
/// request that satisfies the document is never refused for them.
struct ParameterLimits;

impl Modify for ParameterLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    limit_parameter(parameter);
                }
            }
        }
    }
}

fn limit_parameter(parameter: &mut Parameter) {
    let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() else {
        return;
    };
    match (&parameter.parameter_in, parameter.name.as_str()) {
        (ParameterIn::Path, _) => {
            schema.min_length = Some(1);
            schema.max_length = Some(MAX_PATH_PARAM_BYTES);
            schema.pattern = Some("^[^#\\u0000-\\u001f\\u007f-\\u009f]+$".into());
        }
        (ParameterIn::Query, "limit") => {
            schema.minimum = Some(1.into());
            schema.maximum = Some(MAX_PAGE_SIZE.into());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_answer_is_documented_as_problem_json() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut authenticated = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for (status, response) in responses {
                    if !status.starts_with('2') {
                        let types: Vec<&String> =
                            response["content"].as_object().unwrap().keys().collect();
                        assert_eq!(types, [PROBLEM_JSON], "{method} {path} {status}");
                    }
                }
                if operation.get("security").is_some() {
                    authenticated += 1;
                    for status in ["400", "401", "403", "500", "503"] {
                        assert!(responses.contains_key(status), "{method} {path} {status}");
                    }
                }
            }
        }
        assert!(authenticated >= 40, "{authenticated}");
    }

    #[test]
    fn parameters_state_the_bounds_the_extractors_enforce() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let parameters = |path: &str, method: &str| {
            document["paths"][path][method]["parameters"]
                .as_array()
                .unwrap()
                .clone()
        };
        let id = &parameters("/api/pipelines/{id}", "get")[0];
        assert_eq!(id["schema"]["maxLength"], MAX_PATH_PARAM_BYTES);
        assert_eq!(
            id["schema"]["pattern"],
            "^[^#\\u0000-\\u001f\\u007f-\\u009f]+$"
        );
        let limit = parameters("/api/pipelines", "get")
            .into_iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(
            (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
            (&serde_json::json!(1), &serde_json::json!(MAX_PAGE_SIZE))
        );
    }
}
