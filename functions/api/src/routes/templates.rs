//! What a pipeline deploys as (`/api/pipelines/{id}/template`, `/api/pipelines/synth`): the
//! synthesized CloudFormation template, in JSON or, for people reviewing it, YAML.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pb_domain::pipeline::PipelineSpec;
use pb_domain::synth::Synthesized;
use pb_domain::yaml::to_yaml;

use crate::auth::{Authorized, PipelinesRead};
use crate::body::JsonOrYaml;
use crate::params::PathParams;
use crate::problem::{ApiError, Problem};
use crate::services::synthesis::{dry_run_template, stored_template};
use crate::state::AppState;

pub(crate) const YAML: &str = "application/yaml";
pub(crate) const JSON: &str = "application/json";

/// The CloudFormation template the pipeline deploys as: what a deployment would create, for
/// review. Its Metadata names the stack and the stack's tags.
#[utoipa::path(get, path = "/api/pipelines/{id}/template", tag = "pipelines",
    params(("id" = String, Path), ("Accept" = Option<String>, Header)),
    responses(
        (status = 200, description = "The template", content((Object = "application/json"), (Object = "application/yaml"))),
        (status = 404, body = Problem, description = "No such pipeline in the caller's org"),
        (status = 406, body = Problem, description = "Neither JSON nor YAML is acceptable"),
        (status = 422, body = Problem, description = "The definition cannot be synthesized (each reason with its field), or a pinned plugin version is gone"),
    ),
    security(("bearer" = ["pipelines:read"])))]
pub async fn template(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesRead>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let format = negotiate(&headers)?;
    let record = state
        .pipelines
        .get(caller.org(), &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("pipeline {id}")))?;
    let synthesized = stored_template(&state, &record).await?;
    Ok(render(&synthesized, format))
}

/// Synthesizes a definition without storing anything (a dry run, like
/// `/api/compliance/validate`): every check a write runs except compliance, then the template.
/// The template carries `PIPELINE_EVENT_ID=dry-run`; a stored pipeline's carries its id.
#[utoipa::path(post, path = "/api/pipelines/synth", tag = "pipelines",
    params(("Accept" = Option<String>, Header)),
    request_body(content((PipelineSpec = "application/json"), (PipelineSpec = "application/yaml"))),
    responses(
        (status = 200, description = "The template", content((Object = "application/json"), (Object = "application/yaml"))),
        (status = 406, body = Problem, description = "Neither JSON nor YAML is acceptable"),
        (status = 422, body = Problem, description = "Invalid fields, template errors, unresolved plugins, missing required metadata, or a definition that cannot be synthesized"),
    ),
    security(("bearer" = ["pipelines:read"])))]
pub async fn synth(
    State(state): State<AppState>,
    Authorized(caller, _): Authorized<PipelinesRead>,
    headers: HeaderMap,
    JsonOrYaml(spec): JsonOrYaml<PipelineSpec>,
) -> Result<Response, ApiError> {
    let format = negotiate(&headers)?;
    let synthesized = dry_run_template(&state, caller.org(), &spec).await?;
    Ok(render(&synthesized, format))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

/// The `Accept` media range with the highest quality that is JSON or YAML (listing order breaks
/// ties); no header means JSON.
fn negotiate(headers: &HeaderMap) -> Result<Format, ApiError> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(Format::Json);
    };
    let accept = accept.to_str().unwrap_or_default();
    let mut ranges: Vec<(f32, Format)> = accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next()?.to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                JSON | "application/*" | "*/*" => Format::Json,
                YAML | "application/x-yaml" | "text/yaml" => Format::Yaml,
                _ => return None,
            };
            (quality > 0.0).then_some((quality, format))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranges
        .first()
        .map(|(_, format)| *format)
        .ok_or(ApiError::NotAcceptable {
            offered: "application/json or application/yaml",
        })
}

/// Pretty-printed: the template is read by people and diffed in reviews.
fn render(synthesized: &Synthesized, format: Format) -> Response {
    let (content_type, body) = match format {
        Format::Json => (
            JSON,
            serde_json::to_string_pretty(&synthesized.template).unwrap_or_default(),
        ),
        Format::Yaml => (YAML, to_yaml(&synthesized.template)),
    };
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Result<Format, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        negotiate(&headers)
    }

    #[test]
    fn the_document_offers_the_two_media_types() {
        let document = serde_json::to_value(crate::endpoints::document()).unwrap();
        let parameters = &document["paths"]["/api/pipelines/{id}/template"]["get"]["parameters"];
        let accept = parameters
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Accept")
            .unwrap();
        assert_eq!(
            accept["schema"]["enum"],
            serde_json::json!(["application/json", "application/yaml"])
        );
    }

    #[test]
    fn the_preferred_acceptable_format_is_served() {
        assert_eq!(negotiate(&HeaderMap::new()).unwrap(), Format::Json);
        assert_eq!(accept("application/yaml").unwrap(), Format::Yaml);
        assert_eq!(accept("text/yaml, application/json").unwrap(), Format::Yaml);
        assert_eq!(
            accept("application/json;q=0.5, application/yaml").unwrap(),
            Format::Yaml
        );
        assert_eq!(accept("application/yaml;q=0, */*").unwrap(), Format::Json);
        assert!(matches!(
            accept("text/html"),
            Err(ApiError::NotAcceptable { .. })
        ));
    }
}
