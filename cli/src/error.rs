//! Every way a command ends other than success, each with its documented exit status.

use std::fmt::Write as _;

use pb_domain::wire::problem::Problem;
use thiserror::Error;

/// Refused, compliance violations, audit findings.
pub const EXIT_REFUSED: u8 = 1;
/// Bad usage or configuration (clap exits with 2 for its own usage errors too).
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_AUTH: u8 = 3;
pub const EXIT_NOT_FOUND: u8 = 4;
pub const EXIT_SERVER: u8 = 5;

#[derive(Debug, Error)]
pub enum CliError {
    /// Arguments, files or configuration the command cannot work with.
    #[error("{0}")]
    Usage(String),
    /// The API answered with a problem document (or a body that is not one).
    #[error("{}", render_problem(.0))]
    Api(Box<ApiFailure>),
    #[error("could not reach {url}: {reason}")]
    Network { url: String, reason: String },
    /// The API answered 2xx with a body this client cannot read.
    #[error("unexpected answer from {url}: {reason}")]
    UnexpectedAnswer { url: String, reason: String },
    /// The command ran and its outcome is a refusal: violations, findings, a name in doubt.
    #[error("{0}")]
    Refused(String),
}

/// A non-2xx answer.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub problem: Option<Problem>,
    /// The body when it was not a problem document.
    pub body: String,
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Api(failure) => exit_code_for_status(failure.status),
            CliError::Network { .. } | CliError::UnexpectedAnswer { .. } => EXIT_SERVER,
            CliError::Refused(_) => EXIT_REFUSED,
        }
    }

    /// The failure's problem code, when the API sent one.
    pub fn problem_code(&self) -> Option<&str> {
        match self {
            CliError::Api(failure) => failure.problem.as_ref().map(|p| p.code.as_str()),
            _ => None,
        }
    }
}

pub fn exit_code_for_status(status: u16) -> u8 {
    match status {
        401 | 403 => EXIT_AUTH,
        404 => EXIT_NOT_FOUND,
        500.. => EXIT_SERVER,
        _ => EXIT_REFUSED,
    }
}

/// One readable error: the title and detail, then each offending field by its path and each
/// violated rule.
fn render_problem(failure: &ApiFailure) -> String {
    let Some(problem) = &failure.problem else {
        let body = failure.body.trim();
        return if body.is_empty() {
            format!("the API answered {}", failure.status)
        } else {
            format!("the API answered {}: {body}", failure.status)
        };
    };
    let mut text = format!(
        "{} ({} {}): {}",
        problem.title, problem.status, problem.code, problem.detail
    );
    for error in &problem.errors {
        let _ = write!(text, "\n  {}: {}", error.field, error.message);
    }
    for violation in &problem.violations {
        let _ = write!(
            text,
            "\n  rule '{}' ({:?}) on {}: {}",
            violation.rule_name, violation.severity, violation.field, violation.message
        );
    }
    if !problem.request_id.is_empty() {
        let _ = write!(text, "\n  request id {}", problem.request_id);
    }
    text
}

#[cfg(test)]
mod tests {
    use pb_domain::plugin::FieldError;

    use super::*;

    fn problem(status: u16, errors: Vec<FieldError>) -> CliError {
        CliError::Api(Box::new(ApiFailure {
            status,
            problem: Some(Problem {
                kind: "urn:pipeline-builder:problem:validation".into(),
                title: "Validation failed".into(),
                status,
                detail: "the spec has 2 invalid fields".into(),
                code: "validation".into(),
                request_id: "r1".into(),
                errors,
                violations: vec![],
            }),
            body: String::new(),
        }))
    }

    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        for (status, code) in [(400, 1), (409, 1), (412, 1), (422, 1), (401, 3), (403, 3)] {
            assert_eq!(exit_code_for_status(status), code, "{status}");
        }
        assert_eq!(exit_code_for_status(404), 4);
        assert_eq!(exit_code_for_status(500), 5);
        assert_eq!(exit_code_for_status(503), 5);
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::Refused("x".into()).exit_code(), 1);
    }

    #[test]
    fn a_problem_reads_as_one_error_with_its_field_paths() {
        let error = problem(
            422,
            vec![
                FieldError {
                    field: "stages[0].steps[1].plugin.version".into(),
                    message: "not a version range".into(),
                },
                FieldError {
                    field: "name".into(),
                    message: "must not be empty".into(),
                },
            ],
        );
        assert_eq!(
            error.to_string(),
            "Validation failed (422 validation): the spec has 2 invalid fields\n  \
             stages[0].steps[1].plugin.version: not a version range\n  \
             name: must not be empty\n  request id r1"
        );
        assert_eq!(error.problem_code(), Some("validation"));
    }
}
