//! Request bodies: size-limited, parsed as JSON (or YAML where a route accepts it), with errors
//! that say where the body went wrong.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::problem::ApiError;

/// A JSON request body.
pub struct JsonBody<T>(pub T);

/// A request body in JSON or YAML, by `Content-Type` (`application/json`, `application/yaml`).
pub struct JsonOrYaml<T>(pub T);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        match format_of(request.headers()) {
            Some(Format::Json) => {}
            _ => {
                return Err(ApiError::UnsupportedMediaType {
                    expected: "application/json",
                })
            }
        }
        let bytes = read_limited(request.into_body(), state.config.max_body_bytes).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonOrYaml<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let format = format_of(request.headers()).ok_or(ApiError::UnsupportedMediaType {
            expected: "application/json or application/yaml",
        })?;
        let bytes = read_limited(request.into_body(), state.config.max_body_bytes).await?;
        match format {
            Format::Json => parse_json(&bytes),
            Format::Yaml => parse_yaml(&bytes),
        }
        .map(JsonOrYaml)
    }
}

fn format_of(headers: &HeaderMap) -> Option<Format> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Some(Format::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" => Some(Format::Yaml),
        _ => None,
    }
}

/// Reads at most `limit` bytes; a longer body is refused without reading the rest.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(ApiError::PayloadTooLarge { limit }),
        Err(_) => Err(ApiError::MalformedBody {
            format: "HTTP",
            line: 0,
            column: 0,
            message: "the body could not be read".into(),
        }),
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| {
        let position = format!(" at line {} column {}", error.line(), error.column());
        let message = error.to_string();
        ApiError::MalformedBody {
            format: "JSON",
            line: error.line(),
            column: error.column(),
            message: message
                .strip_suffix(&position)
                .unwrap_or(&message)
                .to_string(),
        }
    })
}

fn parse_yaml<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_yaml::from_slice(bytes).map_err(|error| {
        let (line, column) = error
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or_default();
        let message = error.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        ApiError::MalformedBody {
            format: "YAML",
            line,
            column,
            message,
        }
    })
}
