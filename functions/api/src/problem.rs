//! Every error the API answers with, mapped once to an RFC 9457 `application/problem+json` body
//! with a stable `code` and the request id.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pb_aws::pipeline_control::ControlError;
use pb_aws::AwsError;
use pb_domain::compliance::Violation;
use pb_domain::plugin::FieldError;
pub use pb_domain::wire::problem::Problem;
use thiserror::Error;

use crate::keys::KeySetError;
use crate::request_id;
use crate::tokens::TokenError;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("a bearer token is required")]
    MissingToken,
    #[error("{0}")]
    InvalidToken(TokenError),
    #[error("this request needs the permission '{0}'")]
    Forbidden(String),
    #[error("a machine token cannot carry '{permission}' (requested as '{requested}')")]
    NotForMachines {
        requested: String,
        permission: String,
    },
    #[error("{0} was not found")]
    NotFound(String),
    #[error("no route matches this path")]
    RouteNotFound,
    #[error("this path does not accept the method")]
    MethodNotAllowed,
    #[error("the body is not valid {format} at line {line}, column {column}: {message}")]
    MalformedBody {
        format: &'static str,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the body must be {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("this resource is available as {offered}")]
    NotAcceptable { offered: &'static str },
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request has {} invalid field(s)", .0.len())]
    Validation(Vec<FieldError>),
    #[error("parameter '{name}': {message}")]
    InvalidParameter { name: String, message: String },
    #[error("the cursor is not valid for this query")]
    InvalidCursor,
    #[error("{0}")]
    Conflict(String),
    #[error("the resource changed since the version given in If-Match")]
    PreconditionFailed,
    #[error("this write needs an If-Match header with the ETag of the version it replaces")]
    PreconditionRequired,
    #[error("{} plugin reference(s) did not resolve", .0.len())]
    UnresolvedPlugins(Vec<FieldError>),
    #[error("the rule has {} invalid field(s)", .0.len())]
    InvalidRule(Vec<FieldError>),
    #[error("the org already has {limit} active rules, the cap; deactivate or delete one first")]
    TooManyRules { limit: usize },
    #[error("compliance rules block this write: {}", violation_summary(.0))]
    ComplianceViolation(Vec<Violation>),
    /// An approval by the one whose request (an exemption, a run) it approves.
    #[error("{0}")]
    SelfApproval(&'static str),
    /// The pipeline has no CodePipeline the platform deployed.
    #[error("{0}")]
    NotDeployed(String),
    /// CodePipeline refused a well-formed run request in the run's current state.
    #[error("{message}")]
    RunRefused { code: &'static str, message: String },
    #[error("the platform is busy; retry shortly")]
    Throttled,
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("the signing keys are unavailable")]
    KeySet(#[from] KeySetError),
    #[error("the request could not be completed")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingToken | ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_)
            | ApiError::NotForMachines { .. }
            | ApiError::ComplianceViolation(_)
            | ApiError::SelfApproval(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::MalformedBody { .. }
            | ApiError::InvalidParameter { .. }
            | ApiError::InvalidCursor
            | ApiError::InvalidRule(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotAcceptable { .. } => StatusCode::NOT_ACCEPTABLE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Validation(_) | ApiError::UnresolvedPlugins(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::Conflict(_)
            | ApiError::TooManyRules { .. }
            | ApiError::NotDeployed(_)
            | ApiError::RunRefused { .. } => StatusCode::CONFLICT,
            ApiError::Throttled => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Aws(error) if is_retryable(error) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Aws(_) | ApiError::KeySet(_) | ApiError::Internal => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingToken => "missing_token",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::Forbidden(_) | ApiError::NotForMachines { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::MalformedBody { .. } => "malformed_body",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::NotAcceptable { .. } => "not_acceptable",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Validation(_) => "validation_failed",
            ApiError::InvalidParameter { .. } => "invalid_parameter",
            ApiError::InvalidCursor => "invalid_cursor",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed => "precondition_failed",
            ApiError::PreconditionRequired => "precondition_required",
            ApiError::UnresolvedPlugins(_) => "unresolved_plugins",
            ApiError::InvalidRule(_) => "invalid_rule",
            ApiError::TooManyRules { .. } => "too_many_rules",
            ApiError::ComplianceViolation(_) => "compliance_violation",
            ApiError::SelfApproval(_) => "self_approval",
            ApiError::NotDeployed(_) => "not_deployed",
            ApiError::RunRefused { code, .. } => code,
            ApiError::Throttled | ApiError::Aws(AwsError::Throttled { .. }) => "throttled",
            ApiError::Aws(error) if is_retryable(error) => "unavailable",
            ApiError::Aws(_) | ApiError::KeySet(_) | ApiError::Internal => "internal_error",
        }
    }

    fn is_server_fault(&self) -> bool {
        self.status().is_server_error()
    }

    fn detail(&self) -> String {
        match self {
            // The cause of a 5xx is logged with the request id, never returned.
            ApiError::Aws(AwsError::Throttled { .. }) => ApiError::Throttled.to_string(),
            ApiError::Aws(error) if is_retryable(error) => {
                "a backing service did not answer in time; retry shortly".into()
            }
            ApiError::Aws(_) | ApiError::KeySet(_) => ApiError::Internal.to_string(),
            other => other.to_string(),
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            kind: format!("urn:pipeline-builder:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code().to_string(),
            request_id: request_id::current(),
            errors: match self {
                ApiError::Validation(errors)
                | ApiError::UnresolvedPlugins(errors)
                | ApiError::InvalidRule(errors) => errors.clone(),
                _ => Vec::new(),
            },
            violations: match self {
                ApiError::ComplianceViolation(violations) => violations.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> Self {
        match error {
            ControlError::NotFound(what) => ApiError::NotFound(what),
            ControlError::Refused { refusal, message } => ApiError::RunRefused {
                code: refusal.code(),
                message,
            },
            ControlError::Invalid(message) => ApiError::Validation(vec![FieldError {
                field: "request".into(),
                message,
            }]),
            ControlError::Aws(aws) => ApiError::Aws(aws),
        }
    }
}

/// Throttling, an SDK timeout and an AWS 5xx pass with time: the caller may retry the same
/// request, so they answer 503 with `Retry-After`, not a 500.
fn is_retryable(error: &AwsError) -> bool {
    matches!(
        error,
        AwsError::Throttled { .. } | AwsError::TimedOut { .. } | AwsError::Unavailable { .. }
    )
}

fn violation_summary(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| v.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.is_server_fault() {
            tracing::error!(code = self.code(), error = %self, "request failed");
        }
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match self {
            ApiError::MissingToken | ApiError::InvalidToken(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            ApiError::Throttled => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::Aws(error) if is_retryable(&error) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_trouble_that_passes_with_time_is_a_503_to_retry_and_says_nothing_of_the_cause() {
        let timed_out = ApiError::Aws(AwsError::TimedOut {
            operation: "GetItem",
            message: "operation timeout (all attempts including retries) occurred after 4s".into(),
        });
        let unavailable = ApiError::Aws(AwsError::Unavailable {
            operation: "Query",
            status: 500,
        });
        for error in [timed_out, unavailable] {
            assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(error.code(), "unavailable");
            assert!(!error.problem().detail.contains("GetItem"));
            let response = error.into_response();
            assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        }
        let denied = ApiError::Aws(AwsError::AccessDenied {
            operation: "PutItem",
            message: "not authorized".into(),
        });
        assert_eq!(denied.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
