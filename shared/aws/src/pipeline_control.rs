//! Steering runs of the platform's deployed CodePipelines: start, stop, retry a stage, decide a
//! manual approval. Every call names the CodePipeline the registry recorded on deploy, in its
//! region; CodePipeline's refusals become typed errors the API maps to problems.

use std::collections::BTreeMap;

use aws_sdk_codepipeline::config::Region;
use aws_sdk_codepipeline::types::{
    ActionExecutionStatus, ApprovalResult, ApprovalStatus, PipelineVariable,
    SourceRevisionOverride, SourceRevisionType, StageRetryMode,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use pb_domain::control::{Decision, RetryMode, RevisionOverride};
use thiserror::Error;

use crate::AwsError;

/// The deployed CodePipeline a request steers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlTarget {
    pub pipeline_name: String,
    pub region: String,
}

/// Why CodePipeline refused a request that was well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotStoppable,
    StopAlreadyRequested,
    StageNotRetryable,
    NotLatestExecution,
    ApprovalNotWaiting,
    ApprovalAlreadyDecided,
    TooManyRuns,
    Conflict,
}

impl Refusal {
    /// The problem code the API answers with.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotStoppable => "execution_not_stoppable",
            Refusal::StopAlreadyRequested => "stop_already_requested",
            Refusal::StageNotRetryable => "stage_not_retryable",
            Refusal::NotLatestExecution => "not_latest_execution",
            Refusal::ApprovalNotWaiting => "approval_not_waiting",
            Refusal::ApprovalAlreadyDecided => "approval_already_decided",
            Refusal::TooManyRuns => "too_many_runs",
            Refusal::Conflict => "conflict",
        }
    }
}

#[derive(Debug, Error)]
pub enum ControlError {
    #[error("{0} was not found")]
    NotFound(String),
    #[error("{message}")]
    Refused { refusal: Refusal, message: String },
    #[error("CodePipeline refused the request: {0}")]
    Invalid(String),
    #[error(transparent)]
    Aws(AwsError),
}

/// What a request was about, for the messages of its refusals.
struct Subject<'a> {
    target: &'a ControlTarget,
    execution_id: Option<&'a str>,
    stage: Option<&'a str>,
    action: Option<&'a str>,
}

impl Subject<'_> {
    fn not_found(&self, code: &str) -> Option<String> {
        let named = |kind: &str, name: Option<&str>| format!("{kind} {}", name.unwrap_or_default());
        Some(match code {
            "PipelineNotFoundException" => format!(
                "CodePipeline {} (its stack may have been deleted outside the platform)",
                self.target.pipeline_name
            ),
            "PipelineExecutionNotFoundException" => named("execution", self.execution_id),
            "StageNotFoundException" => named("stage", self.stage),
            "ActionNotFoundException" => named("action", self.action),
            _ => return None,
        })
    }

    fn refusal(&self, code: &str) -> Option<(Refusal, String)> {
        let execution = self.execution_id.unwrap_or_default();
        let stage = self.stage.unwrap_or_default();
        Some(match code {
            "PipelineExecutionNotStoppableException" => (
                Refusal::NotStoppable,
                format!("execution {execution} has already finished"),
            ),
            "DuplicatedStopRequestException" => (
                Refusal::StopAlreadyRequested,
                format!("execution {execution} is already stopping"),
            ),
            "StageNotRetryableException" => (
                Refusal::StageNotRetryable,
                format!(
                    "stage {stage} of execution {execution} has not failed, or is still running"
                ),
            ),
            "NotLatestPipelineExecutionException" => (
                Refusal::NotLatestExecution,
                format!("a later execution has run stage {stage}; only the latest can be retried"),
            ),
            "ApprovalAlreadyCompletedException" => (
                Refusal::ApprovalAlreadyDecided,
                "the approval has already been decided".to_string(),
            ),
            "InvalidApprovalTokenException" => (
                Refusal::ApprovalNotWaiting,
                "the approval changed while it was being decided; read the execution again"
                    .to_string(),
            ),
            "ConcurrentPipelineExecutionsLimitExceededException" => (
                Refusal::TooManyRuns,
                "the pipeline has as many runs in progress as CodePipeline allows".to_string(),
            ),
            "ConflictException" => (
                Refusal::Conflict,
                "CodePipeline is changing this pipeline; retry shortly".to_string(),
            ),
            _ => return None,
        })
    }

    fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        operation: &'static str,
        error: SdkError<E, Response>,
    ) -> ControlError {
        let aws = AwsError::classify(operation, error);
        let code = aws.code().unwrap_or_default().to_string();
        if let Some(what) = self.not_found(&code) {
            return ControlError::NotFound(what);
        }
        if let Some((refusal, message)) = self.refusal(&code) {
            return ControlError::Refused { refusal, message };
        }
        match aws {
            AwsError::Rejected { code, message, .. } if code == "ValidationException" => {
                ControlError::Invalid(message)
            }
            other => ControlError::Aws(other),
        }
    }
}

fn invalid_request(operation: &'static str, error: impl std::fmt::Display) -> ControlError {
    ControlError::Aws(AwsError::local(operation, "InvalidRequest", error))
}

#[derive(Debug, Clone)]
pub struct PipelineControl {
    client: aws_sdk_codepipeline::Client,
}

impl PipelineControl {
    pub fn new(client: aws_sdk_codepipeline::Client) -> Self {
        PipelineControl { client }
    }

    /// The client for the target's region: the one given when it is that region.
    fn client_in(&self, region: &str) -> aws_sdk_codepipeline::Client {
        let config = self.client.config();
        if config.region().is_some_and(|r| r.as_ref() == region) {
            return self.client.clone();
        }
        let regional = config
            .to_builder()
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_codepipeline::Client::from_conf(regional)
    }

    /// Starts a run; its execution id.
    pub async fn start(
        &self,
        target: &ControlTarget,
        source_action: &str,
        revision: Option<&RevisionOverride>,
        variables: &BTreeMap<String, String>,
    ) -> Result<String, ControlError> {
        const OPERATION: &str = "StartPipelineExecution";
        let mut request = self
            .client_in(&target.region)
            .start_pipeline_execution()
            .name(&target.pipeline_name);
        for (name, value) in variables {
            let variable = PipelineVariable::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(|e| invalid_request(OPERATION, e))?;
            request = request.variables(variable);
        }
        if let Some(revision) = revision {
            let revision = SourceRevisionOverride::builder()
                .action_name(source_action)
                .revision_type(SourceRevisionType::from(revision.kind.as_str()))
                .revision_value(&revision.value)
                .build()
                .map_err(|e| invalid_request(OPERATION, e))?;
            request = request.source_revisions(revision);
        }
        let subject = Subject {
            target,
            execution_id: None,
            stage: None,
            action: None,
        };
        let output = request
            .send()
            .await
            .map_err(|e| subject.classify(OPERATION, e))?;
        output
            .pipeline_execution_id
            .ok_or_else(|| invalid_request(OPERATION, "the answer carries no execution id"))
    }

    pub async fn stop(
        &self,
        target: &ControlTarget,
        execution_id: &str,
        abandon: bool,
        reason: Option<&str>,
    ) -> Result<(), ControlError> {
        let subject = Subject {
            target,
            execution_id: Some(execution_id),
            stage: None,
            action: None,
        };
        self.client_in(&target.region)
            .stop_pipeline_execution()
            .pipeline_name(&target.pipeline_name)
            .pipeline_execution_id(execution_id)
            .abandon(abandon)
            .set_reason(reason.map(str::to_string))
            .send()
            .await
            .map_err(|e| subject.classify("StopPipelineExecution", e))?;
        Ok(())
    }

    pub async fn retry(
        &self,
        target: &ControlTarget,
        execution_id: &str,
        stage: &str,
        mode: RetryMode,
    ) -> Result<(), ControlError> {
        let subject = Subject {
            target,
            execution_id: Some(execution_id),
            stage: Some(stage),
            action: None,
        };
        self.client_in(&target.region)
            .retry_stage_execution()
            .pipeline_name(&target.pipeline_name)
            .pipeline_execution_id(execution_id)
            .stage_name(stage)
            .retry_mode(StageRetryMode::from(mode.as_str()))
            .send()
            .await
            .map_err(|e| subject.classify("RetryStageExecution", e))?;
        Ok(())
    }

    /// The token of a manual approval waiting in `execution_id`, read from the pipeline's
    /// current state (a client never supplies one).
    pub async fn waiting_approval(
        &self,
        target: &ControlTarget,
        execution_id: &str,
        stage: &str,
        action: &str,
    ) -> Result<String, ControlError> {
        let subject = Subject {
            target,
            execution_id: Some(execution_id),
            stage: Some(stage),
            action: Some(action),
        };
        let state = self
            .client_in(&target.region)
            .get_pipeline_state()
            .name(&target.pipeline_name)
            .send()
            .await
            .map_err(|e| subject.classify("GetPipelineState", e))?;
        let stage_state = state
            .stage_states()
            .iter()
            .find(|s| s.stage_name() == Some(stage))
            .ok_or_else(|| ControlError::NotFound(format!("stage {stage}")))?;
        let action_state = stage_state
            .action_states()
            .iter()
            .find(|a| a.action_name() == Some(action))
            .ok_or_else(|| ControlError::NotFound(format!("action {action} of stage {stage}")))?;
        let not_waiting = |why: String| ControlError::Refused {
            refusal: Refusal::ApprovalNotWaiting,
            message: why,
        };
        let current = stage_state
            .latest_execution()
            .map(|e| e.pipeline_execution_id());
        if current != Some(execution_id) {
            return Err(not_waiting(format!(
                "stage {stage} is not running execution {execution_id}"
            )));
        }
        let latest = action_state.latest_execution();
        match latest.and_then(|e| e.token()) {
            Some(token)
                if latest.and_then(|e| e.status()) == Some(&ActionExecutionStatus::InProgress) =>
            {
                Ok(token.to_string())
            }
            _ => Err(not_waiting(format!(
                "action {action} of stage {stage} is not waiting for an approval"
            ))),
        }
    }

    pub async fn decide_approval(
        &self,
        target: &ControlTarget,
        stage: &str,
        action: &str,
        token: &str,
        decision: Decision,
        summary: &str,
    ) -> Result<(), ControlError> {
        const OPERATION: &str = "PutApprovalResult";
        let subject = Subject {
            target,
            execution_id: None,
            stage: Some(stage),
            action: Some(action),
        };
        let result = ApprovalResult::builder()
            .status(ApprovalStatus::from(decision.as_str()))
            .summary(summary)
            .build()
            .map_err(|e| invalid_request(OPERATION, e))?;
        self.client_in(&target.region)
            .put_approval_result()
            .pipeline_name(&target.pipeline_name)
            .stage_name(stage)
            .action_name(action)
            .token(token)
            .result(result)
            .send()
            .await
            .map_err(|e| subject.classify(OPERATION, e))?;
        Ok(())
    }
}
