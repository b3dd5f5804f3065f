//! Request bodies: size-limited, parsed as JSON (or YAML where a route accepts it), with errors
//! that say where the body went wrong.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use pb_domain::yaml::{self, Limits, Step};
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::problem::ApiError;
use crate::state::AppState;

/// A JSON request body.
pub struct JsonBody<T>(pub T);

/// A JSON request body that may be left out: no body at all reads as the type's default.
pub struct OptionalJsonBody<T>(pub T);

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

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let format = format_of(request.headers());
        let bytes = read_limited(request.into_body(), state.config.max_body_bytes).await?;
        if bytes.is_empty() {
            return Ok(OptionalJsonBody(T::default()));
        }
        if format != Some(Format::Json) {
            return Err(ApiError::UnsupportedMediaType {
                expected: "application/json",
            });
        }
        parse_json(&bytes).map(OptionalJsonBody)
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonOrYaml<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let format = format_of(request.headers()).ok_or(ApiError::UnsupportedMediaType {
            expected: "application/json or application/yaml",
        })?;
        // YAML has its own, smaller limit: its events cost more to build than JSON's.
        let limit = match format {
            Format::Json => state.config.max_body_bytes,
            Format::Yaml => state.config.max_yaml_body_bytes,
        };
        let bytes = read_limited(request.into_body(), limit).await?;
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

/// YAML through [`pb_domain::yaml`], which refuses anchors, aliases, deep nesting and oversized
/// documents before building anything; the value then deserializes like a JSON body.
fn parse_yaml<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|error| not_utf8(bytes, error))?;
    let value = yaml::to_json(text, Limits::BODY).map_err(|error| ApiError::MalformedBody {
        format: "YAML",
        line: error.line,
        column: error.column,
        message: error.problem.to_string(),
    })?;
    serde_path_to_error::deserialize(value).map_err(|error| {
        let (line, column) = located(text, error.path()).unwrap_or((1, 1));
        let message = match error.path().iter().next() {
            Some(_) => format!("{}: {}", error.path(), error.inner()),
            None => error.inner().to_string(),
        };
        ApiError::MalformedBody {
            format: "YAML",
            line,
            column,
            message,
        }
    })
}

/// Where a field a type error names stands in the text: the value no longer knows.
fn located(text: &str, path: &serde_path_to_error::Path) -> Option<(usize, usize)> {
    let steps = path
        .iter()
        .map(|segment| match segment {
            Segment::Seq { index } => Some(Step::Index(*index)),
            Segment::Map { key } => Some(Step::Key(key)),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect::<Option<Vec<_>>>()?;
    yaml::locate(text, &steps)
}

fn not_utf8(bytes: &[u8], error: std::str::Utf8Error) -> ApiError {
    let valid = &bytes[..error.valid_up_to()];
    let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = valid.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    ApiError::MalformedBody {
        format: "YAML",
        line,
        column,
        message: "the body is not UTF-8".into(),
    }
}
