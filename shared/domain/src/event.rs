//! CodePipeline execution events as EventBridge delivers them.
//!
//! The library's CodePipeline types reject real events (`version` is a float, action `type.version`
//! a string), so the shapes are our own and accept every documented field form.

use chrono::DateTime;
use serde::Deserialize;
use thiserror::Error;

/// SQS caps a message at 256 KiB; anything larger cannot be a genuine delivery.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

const SOURCE: &str = "aws.codepipeline";
pub const MAX_NAME_CHARS: usize = 100;
const MAX_EXECUTION_ID_CHARS: usize = 128;
pub const PIPELINE_DETAIL_TYPE: &str = "CodePipeline Pipeline Execution State Change";
pub const STAGE_DETAIL_TYPE: &str = "CodePipeline Stage Execution State Change";
pub const ACTION_DETAIL_TYPE: &str = "CodePipeline Action Execution State Change";
pub const DETAIL_TYPES: [&str; 3] = [PIPELINE_DETAIL_TYPE, STAGE_DETAIL_TYPE, ACTION_DETAIL_TYPE];

/// Why a body can never be processed; such records go to the dead-letter queue, never retried.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum ParseError {
    #[error("body is {0} bytes, over the {MAX_EVENT_BYTES}-byte limit")]
    Oversized(usize),
    #[error("body is not a valid EventBridge event: {0}")]
    Malformed(String),
    #[error("source {0:?} is not aws.codepipeline")]
    UnexpectedSource(String),
    #[error("detail-type {0:?} is not a CodePipeline execution state change")]
    UnexpectedDetailType(String),
    #[error("{field} is missing from a {detail_type}")]
    MissingField {
        field: &'static str,
        detail_type: &'static str,
    },
    #[error("{field} is not an RFC 3339 timestamp: {value:?}")]
    BadTimestamp { field: &'static str, value: String },
    #[error("pipeline-execution-attempt {0} is not a positive whole number")]
    BadAttempt(f64),
    #[error("{field} {value:?} is not a CodePipeline name or id ({expected})")]
    BadName {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl ParseError {
    /// Stable reason code, used as the dead-letter message attribute.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::Oversized(_) => "oversized",
            ParseError::Malformed(_) => "malformed",
            ParseError::UnexpectedSource(_) => "unexpected-source",
            ParseError::UnexpectedDetailType(_) => "unexpected-detail-type",
            ParseError::MissingField { .. } => "missing-field",
            ParseError::BadTimestamp { .. } => "bad-timestamp",
            ParseError::BadAttempt(_) => "bad-attempt",
            ParseError::BadName { .. } => "bad-name",
        }
    }
}

/// Which level of the pipeline an event reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Pipeline,
    Stage {
        stage: String,
    },
    Action {
        stage: String,
        action: String,
        action_type: Option<ActionType>,
        region: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct ActionType {
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
}

/// What started an execution: a git push (with the commit) or an API/console/schedule trigger.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trigger_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub commit_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tag: Option<String>,
    /// When the commit was authored (epoch ms), if the event says: CodePipeline's own events do
    /// not, a forwarder that enriches them may (`execution-trigger.author-date`, RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub author_time_ms: Option<i64>,
}

/// The `execution-result` block of an action event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecutionResult {
    pub summary: Option<String>,
    pub external_id: Option<String>,
    pub external_url: Option<String>,
    pub error_code: Option<String>,
}

/// One parsed CodePipeline state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionEvent {
    pub event_id: String,
    /// The pipeline ARN; it is used to look up tags and never stored.
    pub pipeline_arn: String,
    pub pipeline_name: String,
    pub execution_id: String,
    pub attempt: u32,
    pub state: String,
    /// Event time in epoch milliseconds (EventBridge gives whole seconds).
    pub time_ms: i64,
    /// The execution's `start-time` in epoch milliseconds, when the event carries it.
    pub execution_start_ms: Option<i64>,
    pub scope: Scope,
    pub trigger: Option<Trigger>,
    pub result: Option<ExecutionResult>,
}

#[derive(Deserialize)]
struct RawEnvelope {
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    time: String,
    region: String,
    /// Always present from AWS; the emulator omits it.
    account: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    detail: RawDetail,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawDetail {
    pipeline: Option<String>,
    execution_id: Option<String>,
    state: Option<String>,
    start_time: Option<String>,
    pipeline_execution_attempt: Option<f64>,
    stage: Option<String>,
    action: Option<String>,
    region: Option<String>,
    #[serde(rename = "type")]
    action_type: Option<ActionType>,
    execution_result: Option<RawExecutionResult>,
    execution_trigger: Option<RawTrigger>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawExecutionResult {
    external_execution_summary: Option<String>,
    external_execution_id: Option<String>,
    external_execution_url: Option<String>,
    error_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawTrigger {
    trigger_type: Option<String>,
    provider_type: Option<String>,
    full_repository_name: Option<String>,
    commit_id: Option<String>,
    branch_name: Option<String>,
    tag_name: Option<String>,
    author_date: Option<String>,
}

impl From<RawTrigger> for Trigger {
    fn from(raw: RawTrigger) -> Self {
        Trigger {
            trigger_type: raw.trigger_type,
            provider: raw.provider_type,
            repository: raw.full_repository_name,
            commit_id: raw.commit_id,
            branch: raw.branch_name,
            tag: raw.tag_name,
            // An enrichment, not CodePipeline's own field: unreadable means unknown, and the
            // lead time falls back to the execution start rather than losing the event.
            author_time_ms: raw
                .author_date
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.timestamp_millis()),
        }
    }
}

impl From<RawExecutionResult> for ExecutionResult {
    fn from(raw: RawExecutionResult) -> Self {
        ExecutionResult {
            summary: raw.external_execution_summary,
            external_id: raw.external_execution_id,
            external_url: raw.external_execution_url,
            error_code: raw.error_code,
        }
    }
}

/// Parses one SQS message body holding an EventBridge CodePipeline event.
pub fn parse_event(body: &str) -> Result<ExecutionEvent, ParseError> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(ParseError::Oversized(body.len()));
    }
    let raw: RawEnvelope =
        serde_json::from_str(body).map_err(|e| ParseError::Malformed(e.to_string()))?;
    if raw.source != SOURCE {
        return Err(ParseError::UnexpectedSource(raw.source));
    }
    let detail_type = DETAIL_TYPES
        .into_iter()
        .find(|t| *t == raw.detail_type)
        .ok_or_else(|| ParseError::UnexpectedDetailType(raw.detail_type.clone()))?;
    let detail = raw.detail;
    let require = |value: Option<String>, field: &'static str| {
        value
            .filter(|v| !v.is_empty())
            .ok_or(ParseError::MissingField { field, detail_type })
    };
    let pipeline_name = name(
        require(detail.pipeline, "detail.pipeline")?,
        "detail.pipeline",
    )?;
    let scope = match detail_type {
        PIPELINE_DETAIL_TYPE => Scope::Pipeline,
        STAGE_DETAIL_TYPE => Scope::Stage {
            stage: name(require(detail.stage, "detail.stage")?, "detail.stage")?,
        },
        _ => Scope::Action {
            stage: name(require(detail.stage, "detail.stage")?, "detail.stage")?,
            action: name(require(detail.action, "detail.action")?, "detail.action")?,
            action_type: detail.action_type,
            region: detail.region,
        },
    };
    let pipeline_arn = match (raw.resources.into_iter().next(), raw.account) {
        (Some(arn), _) => arn,
        (None, Some(account)) => format!(
            "arn:aws:codepipeline:{}:{account}:{pipeline_name}",
            raw.region
        ),
        (None, None) => {
            return Err(ParseError::MissingField {
                field: "resources",
                detail_type,
            })
        }
    };
    Ok(ExecutionEvent {
        event_id: raw.id,
        pipeline_arn,
        pipeline_name,
        execution_id: execution_id(require(detail.execution_id, "detail.execution-id")?)?,
        attempt: parse_attempt(detail.pipeline_execution_attempt)?,
        state: require(detail.state, "detail.state")?,
        time_ms: parse_timestamp(&raw.time, "time")?,
        execution_start_ms: detail
            .start_time
            .map(|t| parse_timestamp(&t, "detail.start-time"))
            .transpose()?,
        scope,
        trigger: detail.execution_trigger.map(Trigger::from),
        result: detail.execution_result.map(ExecutionResult::from),
    })
}

/// Events from before retries existed carry no attempt: they are the first.
/// Names become parts of DynamoDB keys (`EXEC#{id}#STAGE#{stage}#…`): CodePipeline's own
/// charset and length for pipeline, stage and action names keeps `#` and oversized keys out.
fn name(value: String, field: &'static str) -> Result<String, ParseError> {
    if is_codepipeline_name(&value) {
        Ok(value)
    } else {
        Err(ParseError::BadName {
            field,
            value: truncated(value),
            expected: "1-100 of A-Z a-z 0-9 . @ _ -",
        })
    }
}

/// A pipeline, stage or action name as CodePipeline allows it: 1-100 of `A-Za-z0-9.@_-`.
pub fn is_codepipeline_name(value: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".@_-".contains(c);
    !value.is_empty() && value.len() <= MAX_NAME_CHARS && value.chars().all(allowed)
}

/// CodePipeline's execution ids are UUIDs; letters, digits and `-` up to 128 accepts them and
/// keeps every key built from one well-formed.
pub fn is_execution_id(value: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-';
    !value.is_empty() && value.len() <= MAX_EXECUTION_ID_CHARS && value.chars().all(allowed)
}

fn execution_id(value: String) -> Result<String, ParseError> {
    if is_execution_id(&value) {
        Ok(value)
    } else {
        Err(ParseError::BadName {
            field: "detail.execution-id",
            value: truncated(value),
            expected: "1-128 of A-Z a-z 0-9 -",
        })
    }
}

fn truncated(value: String) -> String {
    value.chars().take(MAX_NAME_CHARS).collect()
}

fn parse_attempt(raw: Option<f64>) -> Result<u32, ParseError> {
    match raw {
        None => Ok(1),
        Some(a) if a >= 1.0 && a.fract() == 0.0 && a <= f64::from(u32::MAX) => Ok(a as u32),
        Some(a) => Err(ParseError::BadAttempt(a)),
    }
}

fn parse_timestamp(value: &str, field: &'static str) -> Result<i64, ParseError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .map_err(|_| ParseError::BadTimestamp {
            field,
            value: value.chars().take(64).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action_failed() -> String {
        serde_json::json!({
            "version": "0", "id": "ev-1", "detail-type": ACTION_DETAIL_TYPE,
            "source": "aws.codepipeline", "account": "123456789012",
            "time": "2026-11-20T10:15:03Z", "region": "us-east-1",
            "resources": ["arn:aws:codepipeline:us-east-1:123456789012:payments"],
            "detail": {
                "pipeline": "payments", "execution-id": "e-1", "stage": "Build", "action": "Unit",
                "state": "FAILED", "region": "eu-west-1", "version": 3.0,
                "pipeline-execution-attempt": 2.0, "start-time": "2026-11-20T10:14:58.123Z",
                "type": {"owner": "AWS", "provider": "CodeBuild", "category": "Test", "version": "1"},
                "execution-result": {"external-execution-summary": "tests failed", "error-code": "JobFailed"}
            }
        })
        .to_string()
    }

    #[test]
    fn parses_an_action_event_with_float_numbers_and_string_type_version() {
        let event = parse_event(&action_failed()).unwrap();
        assert_eq!(event.attempt, 2);
        assert_eq!(event.time_ms, 1_795_169_703_000);
        assert_eq!(event.execution_start_ms, Some(1_795_169_698_123));
        assert_eq!(
            event.scope,
            Scope::Action {
                stage: "Build".into(),
                action: "Unit".into(),
                action_type: Some(ActionType {
                    owner: Some("AWS".into()),
                    provider: Some("CodeBuild".into()),
                    category: Some("Test".into())
                }),
                region: Some("eu-west-1".into()),
            }
        );
        let result = event.result.unwrap();
        assert_eq!(result.error_code.as_deref(), Some("JobFailed"));
        assert_eq!(result.summary.as_deref(), Some("tests failed"));
    }

    #[test]
    fn parses_the_git_form_of_the_trigger() {
        let body = serde_json::json!({
            "id": "ev-2", "detail-type": PIPELINE_DETAIL_TYPE, "source": "aws.codepipeline",
            "account": "123456789012", "time": "2026-11-20T10:15:03Z", "region": "us-east-1",
            "detail": {"pipeline": "payments", "execution-id": "e-1", "state": "STARTED",
                "execution-trigger": {"provider-type": "GitHub", "full-repository-name": "acme/pay",
                    "commit-id": "abc123", "tag-name": "v1.2.0"}}
        })
        .to_string();
        let event = parse_event(&body).unwrap();
        assert_eq!(event.attempt, 1);
        assert_eq!(
            event.pipeline_arn,
            "arn:aws:codepipeline:us-east-1:123456789012:payments"
        );
        let trigger = event.trigger.unwrap();
        assert_eq!(trigger.commit_id.as_deref(), Some("abc123"));
        assert_eq!(trigger.tag.as_deref(), Some("v1.2.0"));
        assert_eq!(trigger.branch, None);
    }

    #[test]
    fn an_author_date_is_read_when_present_and_ignored_when_unreadable() {
        let body = |author_date: &str| {
            serde_json::json!({
                "id": "ev-3", "detail-type": PIPELINE_DETAIL_TYPE, "source": "aws.codepipeline",
                "account": "123456789012", "time": "2026-11-20T10:15:03Z", "region": "us-east-1",
                "detail": {"pipeline": "payments", "execution-id": "e-1", "state": "STARTED",
                    "execution-trigger": {"commit-id": "abc123", "author-date": author_date}}
            })
            .to_string()
        };
        let author_time = |text: &str| {
            parse_event(&body(text))
                .unwrap()
                .trigger
                .and_then(|t| t.author_time_ms)
        };
        assert_eq!(
            author_time("2026-11-20T09:00:00.500+01:00"),
            Some(1_795_161_600_500)
        );
        assert_eq!(author_time("yesterday"), None);
    }

    #[test]
    fn rejects_bad_bodies_with_a_reason() {
        assert_eq!(parse_event("{not json").unwrap_err().reason(), "malformed");
        let other = action_failed().replace("aws.codepipeline", "aws.codebuild");
        assert_eq!(
            parse_event(&other).unwrap_err().reason(),
            "unexpected-source"
        );
        let huge = " ".repeat(MAX_EVENT_BYTES + 1);
        assert_eq!(parse_event(&huge).unwrap_err().reason(), "oversized");
        let no_stage = action_failed().replace("\"stage\": \"Build\",", "");
        let no_stage = no_stage.replace("\"stage\":\"Build\",", "");
        assert_eq!(
            parse_event(&no_stage).unwrap_err(),
            ParseError::MissingField {
                field: "detail.stage",
                detail_type: ACTION_DETAIL_TYPE
            }
        );
        let half = action_failed().replace("2.0", "2.5");
        assert_eq!(parse_event(&half).unwrap_err().reason(), "bad-attempt");
    }

    #[test]
    fn refuses_names_and_ids_that_would_forge_or_overflow_a_key() {
        let forged_stage = action_failed().replace("\"Build\"", "\"Build#00002\"");
        assert_eq!(
            parse_event(&forged_stage).unwrap_err(),
            ParseError::BadName {
                field: "detail.stage",
                value: "Build#00002".into(),
                expected: "1-100 of A-Z a-z 0-9 . @ _ -",
            }
        );
        let forged_id = action_failed().replace("\"e-1\"", "\"e-1#STAGE#x\"");
        assert_eq!(parse_event(&forged_id).unwrap_err().reason(), "bad-name");
        let long_action = action_failed().replace("\"Unit\"", &format!("\"{}\"", "a".repeat(101)));
        let refused = parse_event(&long_action).unwrap_err();
        assert!(
            matches!(&refused, ParseError::BadName { field: "detail.action", value, .. } if value.len() == 100),
            "{refused:?}"
        );
        let hundred = action_failed().replace("\"Unit\"", &format!("\"{}\"", "a".repeat(100)));
        assert!(parse_event(&hundred).is_ok());
    }
}
