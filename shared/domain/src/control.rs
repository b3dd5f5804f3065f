//! What a caller may ask of a deployed pipeline's runs — start one (with a source revision and
//! the pipeline's declared variables), stop one, retry a failed stage, decide an approval — and
//! the checks that run before any of it reaches CodePipeline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::pipeline::{PipelineSpec, SourceSpec, MAX_PIPELINE_VARIABLES, MAX_VARIABLE_VALUE_CHARS};
use crate::plugin::FieldError;

/// CodePipeline's limit on a stop reason.
pub const MAX_REASON_CHARS: usize = 200;
/// CodePipeline's limit on an approval summary.
pub const MAX_SUMMARY_CHARS: usize = 512;
/// CodePipeline's limit on a source revision value.
pub const MAX_REVISION_CHARS: usize = 1500;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRequest {
    /// Build this revision instead of the source's latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_revision: Option<RevisionOverride>,
    /// Values for variables the pipeline declares (`pipelineVariables`); others are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevisionOverride {
    #[serde(rename = "type")]
    pub kind: RevisionKind,
    pub value: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RevisionKind {
    /// A full 40-character commit id (GitHub and CodeCommit sources).
    CommitId,
    /// A version of the source object (S3 sources).
    S3ObjectVersionId,
    /// Another object key in the source bucket (S3 sources).
    S3ObjectKey,
}

impl RevisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RevisionKind::CommitId => "COMMIT_ID",
            RevisionKind::S3ObjectVersionId => "S3_OBJECT_VERSION_ID",
            RevisionKind::S3ObjectKey => "S3_OBJECT_KEY",
        }
    }

    fn fits(self, source: &SourceSpec) -> bool {
        matches!(
            (self, source),
            (
                RevisionKind::CommitId,
                SourceSpec::Github { .. } | SourceSpec::Codecommit { .. }
            ) | (
                RevisionKind::S3ObjectVersionId | RevisionKind::S3ObjectKey,
                SourceSpec::S3 { .. }
            )
        )
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopRequest {
    /// Stop at once, abandoning actions in progress, instead of letting them finish.
    #[serde(default)]
    pub abandon: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetryMode {
    #[default]
    FailedActions,
    AllActions,
}

impl RetryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryMode::FailedActions => "FAILED_ACTIONS",
            RetryMode::AllActions => "ALL_ACTIONS",
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryRequest {
    /// `FAILED_ACTIONS` (the default) or `ALL_ACTIONS` of the stage.
    #[serde(default)]
    pub mode: RetryMode,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Approved,
    Rejected,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "Approved",
            Decision::Rejected => "Rejected",
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalRequest {
    pub decision: Decision,
    /// Why; shown in CodePipeline next to the decision.
    pub summary: String,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

fn result(errors: Vec<FieldError>) -> Result<(), Vec<FieldError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn has_control_characters(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A start request against the pipeline it starts: only declared variables, a revision of the
/// kind its source produces.
pub fn check_start(spec: &PipelineSpec, request: &StartRequest) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if request.variables.len() > MAX_PIPELINE_VARIABLES {
        errors.push(error(
            "variables",
            format!("at most {MAX_PIPELINE_VARIABLES}"),
        ));
        return Err(errors);
    }
    for (name, value) in &request.variables {
        let field = format!("variables.{name}");
        if !spec.pipeline_variables.iter().any(|v| &v.name == name) {
            errors.push(error(
                field,
                "the pipeline declares no such variable (pipelineVariables)",
            ));
        } else if value.chars().count() > MAX_VARIABLE_VALUE_CHARS {
            errors.push(error(
                field,
                format!("at most {MAX_VARIABLE_VALUE_CHARS} characters"),
            ));
        }
    }
    if let Some(revision) = &request.source_revision {
        check_revision(&spec.source, revision, &mut errors);
    }
    result(errors)
}

fn check_revision(source: &SourceSpec, revision: &RevisionOverride, errors: &mut Vec<FieldError>) {
    if !revision.kind.fits(source) {
        errors.push(error(
            "sourceRevision.type",
            format!(
                "a {} source takes no {} revision",
                source.kind(),
                revision.kind.as_str()
            ),
        ));
        return;
    }
    let value = &revision.value;
    let valid = match revision.kind {
        RevisionKind::CommitId => value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        RevisionKind::S3ObjectVersionId | RevisionKind::S3ObjectKey => {
            (1..=MAX_REVISION_CHARS).contains(&value.chars().count())
                && !has_control_characters(value)
        }
    };
    if !valid {
        let expected = match revision.kind {
            RevisionKind::CommitId => "a full 40-character hexadecimal commit id".to_string(),
            _ => format!("1-{MAX_REVISION_CHARS} characters without control characters"),
        };
        errors.push(error("sourceRevision.value", format!("must be {expected}")));
    }
}

pub fn check_stop(request: &StopRequest) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Some(reason) = &request.reason {
        if reason.chars().count() > MAX_REASON_CHARS || has_control_characters(reason) {
            errors.push(error(
                "reason",
                format!("at most {MAX_REASON_CHARS} characters without control characters"),
            ));
        }
    }
    result(errors)
}

pub fn check_approval(request: &ApprovalRequest) -> Result<(), Vec<FieldError>> {
    let summary = request.summary.trim();
    let mut errors = Vec::new();
    if summary.is_empty() || request.summary.chars().count() > MAX_SUMMARY_CHARS {
        errors.push(error(
            "summary",
            format!("1-{MAX_SUMMARY_CHARS} characters saying why"),
        ));
    }
    result(errors)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pipeline(source: serde_json::Value) -> PipelineSpec {
        serde_json::from_value(json!({
            "name": "api", "project": "p", "source": source,
            "stages": [{"name": "Build", "steps": [{"plugin": {"name": "b", "version": "1"}}]}],
            "pipelineVariables": [{"name": "TICKET"}]
        }))
        .unwrap()
    }

    fn github() -> PipelineSpec {
        pipeline(
            json!({"type": "github", "repo": "acme/api", "branch": "main",
            "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/abc"}),
        )
    }

    fn start(value: serde_json::Value) -> StartRequest {
        serde_json::from_value(value).unwrap()
    }

    fn fields(result: Result<(), Vec<FieldError>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_start_sets_only_declared_variables_and_a_revision_its_source_produces() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            check_start(
                &github(),
                &start(json!({"variables": {"TICKET": "OPS-1"},
                    "sourceRevision": {"type": "COMMIT_ID", "value": commit}}))
            ),
            Ok(())
        );
        assert_eq!(
            fields(check_start(
                &github(),
                &start(
                    json!({"variables": {"OTHER": "x", "TICKET": "x".repeat(1001)},
                    "sourceRevision": {"type": "COMMIT_ID", "value": &commit[..7]}})
                )
            )),
            [
                "variables.OTHER",
                "variables.TICKET",
                "sourceRevision.value"
            ]
        );
        assert_eq!(
            fields(check_start(
                &github(),
                &start(json!({"sourceRevision": {"type": "S3_OBJECT_KEY", "value": "k"}}))
            )),
            ["sourceRevision.type"]
        );
        let s3 = pipeline(json!({"type": "s3", "bucket": "b", "key": "app.zip"}));
        assert_eq!(
            check_start(
                &s3,
                &start(
                    json!({"sourceRevision": {"type": "S3_OBJECT_VERSION_ID", "value": "3HL4kqtJlcpXroDTDmJ"}})
                )
            ),
            Ok(())
        );
        let too_many: BTreeMap<String, String> = (0..=MAX_PIPELINE_VARIABLES)
            .map(|i| (format!("V{i}"), String::new()))
            .collect();
        assert_eq!(
            fields(check_start(
                &github(),
                &StartRequest {
                    source_revision: None,
                    variables: too_many
                }
            )),
            ["variables"]
        );
    }

    #[test]
    fn unknown_members_and_values_are_refused_when_read() {
        for body in [
            json!({"variables": {}, "extra": 1}),
            json!({"sourceRevision": {"type": "BRANCH", "value": "main"}}),
        ] {
            assert!(serde_json::from_value::<StartRequest>(body).is_err());
        }
        assert!(serde_json::from_value::<RetryRequest>(json!({"mode": "SOME"})).is_err());
        assert_eq!(
            serde_json::from_value::<RetryRequest>(json!({}))
                .unwrap()
                .mode,
            RetryMode::FailedActions
        );
        assert!(serde_json::from_value::<ApprovalRequest>(
            json!({"decision": "approved", "summary": "ok"})
        )
        .is_err());
    }

    #[test]
    fn a_stop_reason_and_an_approval_summary_stay_within_codepipelines_limits() {
        let stop = |reason: &str| StopRequest {
            abandon: false,
            reason: Some(reason.to_string()),
        };
        assert_eq!(check_stop(&stop("rolling back")), Ok(()));
        assert_eq!(fields(check_stop(&stop(&"r".repeat(201)))), ["reason"]);
        assert_eq!(fields(check_stop(&stop("line\nbreak"))), ["reason"]);
        let approval = |summary: &str| ApprovalRequest {
            decision: Decision::Approved,
            summary: summary.to_string(),
        };
        assert_eq!(check_approval(&approval("change reviewed")), Ok(()));
        assert_eq!(fields(check_approval(&approval("  "))), ["summary"]);
        assert_eq!(
            fields(check_approval(&approval(&"s".repeat(513)))),
            ["summary"]
        );
    }
}
