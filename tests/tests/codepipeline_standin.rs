//! The CodePipeline stand-in driven by the production SDK client: every operation it answers and
//! every error it gives comes back as the SDK's modeled output or error variant. Offline: no
//! emulator needed.

use aws_sdk_codepipeline::error::ProvideErrorMetadata as _;
use aws_sdk_codepipeline::operation::get_pipeline_state::GetPipelineStateError;
use aws_sdk_codepipeline::operation::put_approval_result::PutApprovalResultError;
use aws_sdk_codepipeline::operation::retry_stage_execution::RetryStageExecutionError;
use aws_sdk_codepipeline::operation::start_pipeline_execution::StartPipelineExecutionError;
use aws_sdk_codepipeline::operation::stop_pipeline_execution::StopPipelineExecutionError;
use aws_sdk_codepipeline::types::{
    ActionExecutionStatus, ApprovalResult, ApprovalStatus, PipelineExecutionStatus,
    PipelineVariable, SourceRevisionOverride, SourceRevisionType, StageExecutionStatus,
    StageRetryMode, StageState,
};
use aws_sdk_codepipeline::Client;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use pb_tests::codepipeline_standin::{
    Action, CodePipelineStandIn, SourceRevision, Stage, StartedWith, Variable,
};
use pb_tests::emulator::sdk_config;
use serde_json::{json, Value};

const PIPELINE: &str = "release";
const UNKNOWN_EXECUTION: &str = "00000000-0000-4000-8000-000000000000";

/// Asserts that a service error is the SDK's modeled error `variant`, and yields it.
macro_rules! assert_modeled {
    ($error:expr, $variant:path) => {{
        let error = $error;
        assert!(matches!(error, $variant(_)), "{error:?}");
        error
    }};
}

/// One of the SDK's `is_…_exception` checks of an operation's error.
type IsVariant<E> = fn(&E) -> bool;

struct Fixture {
    standin: CodePipelineStandIn,
    client: Client,
}

/// A stand-in with the pipeline Source → Build (two actions) → Approve (a Manual approval) → Deploy.
async fn fixture() -> Fixture {
    let standin = CodePipelineStandIn::start().await.unwrap();
    standin
        .add_pipeline(
            PIPELINE,
            [
                Stage::new("Source", [Action::automated("Checkout")]),
                Stage::new(
                    "Build",
                    [Action::automated("Compile"), Action::automated("Lint")],
                ),
                Stage::new("Approve", [Action::manual_approval("Release")]),
                Stage::new("Deploy", [Action::automated("Stack")]),
            ],
        )
        .unwrap();
    let client = standin.client(&sdk_config(&standin.endpoint_url()));
    Fixture { standin, client }
}

impl Fixture {
    async fn start(&self) -> String {
        let started = self
            .client
            .start_pipeline_execution()
            .name(PIPELINE)
            .send()
            .await
            .unwrap();
        started.pipeline_execution_id().unwrap().to_string()
    }

    /// An execution whose Build stage failed: Compile failed, Lint succeeded.
    async fn failed_in_build(&self) -> String {
        let execution = self.start().await;
        self.standin
            .fail_action(PIPELINE, &execution, "Build", "Compile")
            .unwrap();
        execution
    }

    async fn stage(&self, name: &str) -> StageState {
        let state = self
            .client
            .get_pipeline_state()
            .name(PIPELINE)
            .send()
            .await
            .unwrap();
        state
            .stage_states()
            .iter()
            .find(|stage| stage.stage_name() == Some(name))
            .cloned()
            .unwrap()
    }

    async fn stop(
        &self,
        execution: &str,
        abandon: bool,
    ) -> Result<String, StopPipelineExecutionError> {
        self.client
            .stop_pipeline_execution()
            .pipeline_name(PIPELINE)
            .pipeline_execution_id(execution)
            .abandon(abandon)
            .reason("a test stops it")
            .send()
            .await
            .map(|stopped| stopped.pipeline_execution_id().unwrap().to_string())
            .map_err(|error| error.into_service_error())
    }

    async fn retry(
        &self,
        stage: &str,
        execution: &str,
        mode: StageRetryMode,
    ) -> Result<String, RetryStageExecutionError> {
        self.client
            .retry_stage_execution()
            .pipeline_name(PIPELINE)
            .stage_name(stage)
            .pipeline_execution_id(execution)
            .retry_mode(mode)
            .send()
            .await
            .map(|retried| retried.pipeline_execution_id().unwrap().to_string())
            .map_err(|error| error.into_service_error())
    }

    async fn approve(
        &self,
        stage: &str,
        action: &str,
        token: &str,
        status: ApprovalStatus,
    ) -> Result<(), PutApprovalResultError> {
        let result = ApprovalResult::builder()
            .summary("reviewed by a test")
            .status(status)
            .build()
            .unwrap();
        let answer = self
            .client
            .put_approval_result()
            .pipeline_name(PIPELINE)
            .stage_name(stage)
            .action_name(action)
            .result(result)
            .token(token)
            .send()
            .await
            .map_err(|error| error.into_service_error())?;
        assert!(answer.approved_at().is_some(), "{answer:?}");
        Ok(())
    }

    fn status(&self, execution: &str) -> PipelineExecutionStatus {
        self.standin.execution_status(PIPELINE, execution).unwrap()
    }
}

fn stage_status(stage: &StageState) -> Option<(&str, &StageExecutionStatus)> {
    stage
        .latest_execution()
        .map(|latest| (latest.pipeline_execution_id(), latest.status()))
}

/// `(actionExecutionId, status)` of the named action's latest execution.
fn action(stage: &StageState, name: &str) -> (String, ActionExecutionStatus) {
    let latest = stage
        .action_states()
        .iter()
        .find(|action| action.action_name() == Some(name))
        .and_then(|action| action.latest_execution())
        .unwrap_or_else(|| panic!("action {name} has not run: {stage:?}"));
    (
        latest.action_execution_id().unwrap().to_string(),
        latest.status().unwrap().clone(),
    )
}

fn is_uuid_v4(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && id
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
        && groups[2].starts_with('4')
}

#[tokio::test]
async fn a_started_execution_is_in_progress_in_its_first_stage_with_what_it_was_started_with() {
    let fixture = fixture().await;
    let started = fixture
        .client
        .start_pipeline_execution()
        .name(PIPELINE)
        .variables(
            PipelineVariable::builder()
                .name("ENVIRONMENT")
                .value("prod")
                .build()
                .unwrap(),
        )
        .source_revisions(
            SourceRevisionOverride::builder()
                .action_name("Checkout")
                .revision_type(SourceRevisionType::CommitId)
                .revision_value("0123abc")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let execution = started.pipeline_execution_id().unwrap();

    assert!(is_uuid_v4(execution), "{execution}");
    assert_eq!(
        fixture.status(execution),
        PipelineExecutionStatus::InProgress
    );
    assert_eq!(
        fixture.standin.started_with(PIPELINE, execution),
        Some(StartedWith {
            variables: vec![Variable {
                name: "ENVIRONMENT".into(),
                value: "prod".into()
            }],
            source_revisions: vec![SourceRevision {
                action_name: "Checkout".into(),
                revision_type: "COMMIT_ID".into(),
                revision_value: "0123abc".into(),
            }],
        })
    );
    let state = fixture
        .client
        .get_pipeline_state()
        .name(PIPELINE)
        .send()
        .await
        .unwrap();
    assert_eq!(state.pipeline_name(), Some(PIPELINE));
    assert_eq!(state.pipeline_version(), Some(1));
    assert!(state.created().is_some() && state.updated().is_some());
    let source = &state.stage_states()[0];
    assert_eq!(
        stage_status(source),
        Some((execution, &StageExecutionStatus::InProgress))
    );
    let (checkout, status) = action(source, "Checkout");
    assert!(is_uuid_v4(&checkout), "{checkout}");
    assert_eq!(status, ActionExecutionStatus::InProgress);
    let checkout_state = &source.action_states()[0];
    assert!(checkout_state
        .latest_execution()
        .unwrap()
        .last_status_change()
        .is_some());
    assert!(state.stage_states()[1..]
        .iter()
        .all(|stage| stage.latest_execution().is_none()
            && stage
                .action_states()
                .iter()
                .all(|a| a.latest_execution().is_none())));
}

#[tokio::test]
async fn the_same_client_request_token_starts_one_execution_and_none_starts_a_new_one_each_time() {
    let fixture = fixture().await;
    let start_with_token = || {
        fixture
            .client
            .start_pipeline_execution()
            .name(PIPELINE)
            .client_request_token("deploy-42")
            .send()
    };
    let first = start_with_token().await.unwrap();
    let again = start_with_token().await.unwrap();
    assert_eq!(first.pipeline_execution_id(), again.pipeline_execution_id());

    let (one, other) = (fixture.start().await, fixture.start().await);
    assert_ne!(one, other);
    assert_ne!(Some(one.as_str()), first.pipeline_execution_id());
}

#[tokio::test]
async fn an_unknown_pipeline_is_pipeline_not_found_for_every_operation() {
    let fixture = fixture().await;
    let client = &fixture.client;
    assert_modeled!(
        client
            .start_pipeline_execution()
            .name("missing")
            .send()
            .await
            .unwrap_err()
            .into_service_error(),
        StartPipelineExecutionError::PipelineNotFoundException
    );
    let state = assert_modeled!(
        client
            .get_pipeline_state()
            .name("missing")
            .send()
            .await
            .unwrap_err()
            .into_service_error(),
        GetPipelineStateError::PipelineNotFoundException
    );
    assert!(state.message().unwrap().contains("missing"), "{state:?}");
    assert_modeled!(
        client
            .stop_pipeline_execution()
            .pipeline_name("missing")
            .pipeline_execution_id(UNKNOWN_EXECUTION)
            .send()
            .await
            .unwrap_err()
            .into_service_error(),
        StopPipelineExecutionError::PipelineNotFoundException
    );
    assert_modeled!(
        client
            .retry_stage_execution()
            .pipeline_name("missing")
            .stage_name("Build")
            .pipeline_execution_id(UNKNOWN_EXECUTION)
            .retry_mode(StageRetryMode::FailedActions)
            .send()
            .await
            .unwrap_err()
            .into_service_error(),
        RetryStageExecutionError::PipelineNotFoundException
    );
    assert_modeled!(
        client
            .put_approval_result()
            .pipeline_name("missing")
            .stage_name("Approve")
            .action_name("Release")
            .result(
                ApprovalResult::builder()
                    .summary("ok")
                    .status(ApprovalStatus::Approved)
                    .build()
                    .unwrap(),
            )
            .token(UNKNOWN_EXECUTION)
            .send()
            .await
            .unwrap_err()
            .into_service_error(),
        PutApprovalResultError::PipelineNotFoundException
    );
}

#[tokio::test]
async fn stop_and_wait_is_stopping_until_the_running_actions_finish_and_a_second_stop_is_refused() {
    let fixture = fixture().await;
    let execution = fixture.start().await;

    assert_eq!(fixture.stop(&execution, false).await.unwrap(), execution);
    assert_eq!(
        fixture.status(&execution),
        PipelineExecutionStatus::Stopping
    );
    let source = fixture.stage("Source").await;
    assert_eq!(
        stage_status(&source),
        Some((execution.as_str(), &StageExecutionStatus::Stopping))
    );
    assert_modeled!(
        fixture.stop(&execution, false).await.unwrap_err(),
        StopPipelineExecutionError::DuplicatedStopRequestException
    );

    fixture.standin.complete(PIPELINE, &execution).unwrap();
    assert_eq!(fixture.status(&execution), PipelineExecutionStatus::Stopped);
    let source = fixture.stage("Source").await;
    assert_eq!(
        stage_status(&source),
        Some((execution.as_str(), &StageExecutionStatus::Stopped))
    );
    assert_eq!(
        action(&source, "Checkout").1,
        ActionExecutionStatus::Succeeded
    );
    assert!(fixture.stage("Build").await.latest_execution().is_none());
}

#[tokio::test]
async fn stop_and_abandon_stops_at_once_even_while_stopping() {
    let fixture = fixture().await;
    let execution = fixture.start().await;
    fixture.stop(&execution, false).await.unwrap();

    assert_eq!(fixture.stop(&execution, true).await.unwrap(), execution);
    assert_eq!(fixture.status(&execution), PipelineExecutionStatus::Stopped);
    let source = fixture.stage("Source").await;
    assert_eq!(
        stage_status(&source),
        Some((execution.as_str(), &StageExecutionStatus::Stopped))
    );
    assert_eq!(
        action(&source, "Checkout").1,
        ActionExecutionStatus::Abandoned
    );
}

#[tokio::test]
async fn a_finished_execution_is_not_stoppable() {
    let fixture = fixture().await;
    let stopped = fixture.start().await;
    fixture.stop(&stopped, true).await.unwrap();
    let succeeded = fixture.start().await;
    fixture.standin.complete(PIPELINE, &succeeded).unwrap();
    assert_eq!(
        fixture.status(&succeeded),
        PipelineExecutionStatus::Succeeded
    );
    assert!(fixture.standin.complete(PIPELINE, &succeeded).is_err());

    for execution in [stopped, succeeded] {
        assert_modeled!(
            fixture.stop(&execution, true).await.unwrap_err(),
            StopPipelineExecutionError::PipelineExecutionNotStoppableException
        );
    }
}

#[tokio::test]
async fn an_unknown_execution_is_not_found_and_a_malformed_id_is_invalid() {
    let fixture = fixture().await;
    fixture.start().await;

    let unknown = fixture.stop(UNKNOWN_EXECUTION, false).await.unwrap_err();
    // CodePipeline's model lists no such error for these operations: the SDK leaves it unhandled.
    assert_eq!(unknown.code(), Some("PipelineExecutionNotFoundException"));
    let unknown = fixture
        .retry("Build", UNKNOWN_EXECUTION, StageRetryMode::FailedActions)
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Some("PipelineExecutionNotFoundException"));

    assert_modeled!(
        fixture.stop("not-an-id", false).await.unwrap_err(),
        StopPipelineExecutionError::ValidationException
    );
}

#[tokio::test]
async fn retrying_failed_actions_reruns_only_them() {
    let fixture = fixture().await;
    let execution = fixture.failed_in_build().await;
    assert_eq!(fixture.status(&execution), PipelineExecutionStatus::Failed);
    let build = fixture.stage("Build").await;
    assert_eq!(
        stage_status(&build),
        Some((execution.as_str(), &StageExecutionStatus::Failed))
    );
    let (failed_compile, status) = action(&build, "Compile");
    assert_eq!(status, ActionExecutionStatus::Failed);
    let (lint, status) = action(&build, "Lint");
    assert_eq!(status, ActionExecutionStatus::Succeeded);
    assert_eq!(
        action(&fixture.stage("Source").await, "Checkout").1,
        ActionExecutionStatus::Succeeded
    );

    let retried = fixture
        .retry("Build", &execution, StageRetryMode::FailedActions)
        .await
        .unwrap();
    assert_eq!(retried, execution);
    assert_eq!(
        fixture.status(&execution),
        PipelineExecutionStatus::InProgress
    );
    let build = fixture.stage("Build").await;
    assert_eq!(
        stage_status(&build),
        Some((execution.as_str(), &StageExecutionStatus::InProgress))
    );
    let (compile, status) = action(&build, "Compile");
    assert_eq!(status, ActionExecutionStatus::InProgress);
    assert_ne!(compile, failed_compile);
    assert_eq!(
        action(&build, "Lint"),
        (lint, ActionExecutionStatus::Succeeded)
    );

    fixture.standin.complete(PIPELINE, &execution).unwrap();
    assert_eq!(
        fixture.status(&execution),
        PipelineExecutionStatus::Succeeded
    );
}

#[tokio::test]
async fn retrying_all_actions_reruns_every_action_of_the_stage() {
    let fixture = fixture().await;
    let execution = fixture.failed_in_build().await;
    let (lint, _) = action(&fixture.stage("Build").await, "Lint");

    fixture
        .retry("Build", &execution, StageRetryMode::AllActions)
        .await
        .unwrap();
    let build = fixture.stage("Build").await;
    let (rerun_lint, status) = action(&build, "Lint");
    assert_eq!(status, ActionExecutionStatus::InProgress);
    assert_ne!(rerun_lint, lint);
    assert_eq!(
        action(&build, "Compile").1,
        ActionExecutionStatus::InProgress
    );
}

#[tokio::test]
async fn only_a_failed_stage_of_the_latest_execution_in_it_is_retryable() {
    let fixture = fixture().await;
    let older = fixture.start().await;

    let not_retryable = RetryStageExecutionError::is_stage_not_retryable_exception;
    let refusals: [(&str, IsVariant<RetryStageExecutionError>); 3] = [
        ("Source", not_retryable),
        ("Deploy", not_retryable),
        (
            "Test",
            RetryStageExecutionError::is_stage_not_found_exception,
        ),
    ];
    for (stage, expected) in refusals {
        let error = fixture
            .retry(stage, &older, StageRetryMode::FailedActions)
            .await
            .unwrap_err();
        assert!(expected(&error), "{stage}: {error:?}");
    }

    fixture
        .standin
        .fail_action(PIPELINE, &older, "Build", "Lint")
        .unwrap();
    let newer = fixture.failed_in_build().await;
    assert_modeled!(
        fixture
            .retry("Build", &older, StageRetryMode::FailedActions)
            .await
            .unwrap_err(),
        RetryStageExecutionError::NotLatestPipelineExecutionException
    );
    fixture
        .retry("Build", &newer, StageRetryMode::FailedActions)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_approval_token_round_trips_and_approving_moves_the_execution_on() {
    let fixture = fixture().await;
    let execution = fixture.start().await;
    let token = fixture
        .standin
        .await_approval(PIPELINE, &execution, "Approve", "Release")
        .unwrap();

    let approve = fixture.stage("Approve").await;
    let waiting = approve.action_states()[0].latest_execution().unwrap();
    assert_eq!(waiting.token(), Some(token.as_str()));
    assert_eq!(waiting.status(), Some(&ActionExecutionStatus::InProgress));
    assert!(fixture
        .stage("Build")
        .await
        .action_states()
        .iter()
        .all(|a| {
            a.latest_execution().unwrap().status() == Some(&ActionExecutionStatus::Succeeded)
        }));

    fixture
        .approve("Approve", "Release", &token, ApprovalStatus::Approved)
        .await
        .unwrap();
    let approve = fixture.stage("Approve").await;
    let approved = approve.action_states()[0].latest_execution().unwrap();
    assert_eq!(approved.status(), Some(&ActionExecutionStatus::Succeeded));
    assert_eq!(approved.token(), None);
    assert_eq!(
        stage_status(&approve),
        Some((execution.as_str(), &StageExecutionStatus::Succeeded))
    );
    assert_eq!(
        stage_status(&fixture.stage("Deploy").await),
        Some((execution.as_str(), &StageExecutionStatus::InProgress))
    );

    assert_modeled!(
        fixture
            .approve("Approve", "Release", &token, ApprovalStatus::Approved)
            .await
            .unwrap_err(),
        PutApprovalResultError::ApprovalAlreadyCompletedException
    );
}

#[tokio::test]
async fn a_rejected_approval_fails_the_action_the_stage_and_the_execution() {
    let fixture = fixture().await;
    let execution = fixture.start().await;
    let token = fixture
        .standin
        .await_approval(PIPELINE, &execution, "Approve", "Release")
        .unwrap();

    fixture
        .approve("Approve", "Release", &token, ApprovalStatus::Rejected)
        .await
        .unwrap();
    let approve = fixture.stage("Approve").await;
    assert_eq!(action(&approve, "Release").1, ActionExecutionStatus::Failed);
    assert_eq!(
        stage_status(&approve),
        Some((execution.as_str(), &StageExecutionStatus::Failed))
    );
    assert_eq!(fixture.status(&execution), PipelineExecutionStatus::Failed);
    assert!(fixture.stage("Deploy").await.latest_execution().is_none());
}

#[tokio::test]
async fn a_wrong_or_stale_token_and_an_unknown_stage_or_action_are_refused() {
    let fixture = fixture().await;
    let first = fixture.start().await;
    let stale = fixture
        .standin
        .await_approval(PIPELINE, &first, "Approve", "Release")
        .unwrap();
    let second = fixture.start().await;
    let token = fixture
        .standin
        .await_approval(PIPELINE, &second, "Approve", "Release")
        .unwrap();
    assert_ne!(stale, token);

    let invalid_token = PutApprovalResultError::is_invalid_approval_token_exception;
    let refusals: [(&str, &str, &str, IsVariant<PutApprovalResultError>); 5] = [
        ("Approve", "Release", &stale, invalid_token),
        ("Approve", "Release", UNKNOWN_EXECUTION, invalid_token),
        ("Deploy", "Stack", &token, invalid_token),
        (
            "Approve",
            "Ship",
            &token,
            PutApprovalResultError::is_action_not_found_exception,
        ),
        (
            "Review",
            "Release",
            &token,
            PutApprovalResultError::is_stage_not_found_exception,
        ),
    ];
    for (stage, action, token, expected) in refusals {
        let error = fixture
            .approve(stage, action, token, ApprovalStatus::Approved)
            .await
            .unwrap_err();
        assert!(expected(&error), "{stage}/{action}: {error:?}");
    }

    fixture
        .approve("Approve", "Release", &token, ApprovalStatus::Approved)
        .await
        .unwrap();
}

#[tokio::test]
async fn throttling_surfaces_once_the_sdk_has_used_up_its_retries() {
    let fixture = fixture().await;
    // The SDK's standard retry mode makes three attempts in all.
    fixture.standin.throttle_next(3);
    let error = fixture
        .client
        .get_pipeline_state()
        .name(PIPELINE)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(error.code(), Some("ThrottlingException"), "{error:?}");
    assert_eq!(fixture.standin.requests().len(), 3);

    fixture.standin.throttle_next(2);
    fixture.start().await;
    let requests = fixture.standin.requests();
    assert_eq!(requests.len(), 6);
    assert!(requests[3..]
        .iter()
        .all(|request| request.operation == "StartPipelineExecution"));
}

#[tokio::test]
async fn every_request_is_logged_with_its_operation_and_body_and_is_signed() {
    let fixture = fixture().await;
    let execution = fixture.start().await;
    fixture.stage("Source").await;
    fixture.stop(&execution, true).await.unwrap();

    let requests = fixture.standin.requests();
    let operations: Vec<&str> = requests.iter().map(|r| r.operation.as_str()).collect();
    assert_eq!(
        operations,
        [
            "StartPipelineExecution",
            "GetPipelineState",
            "StopPipelineExecution"
        ]
    );
    assert!(
        requests.iter().all(|request| request.signed),
        "{requests:?}"
    );
    assert_eq!(requests[0].body["name"], PIPELINE);
    // The SDK fills in the idempotency token the caller left out.
    assert!(requests[0].body["clientRequestToken"].is_string());
    assert_eq!(
        requests[2].body,
        json!({
            "pipelineName": PIPELINE,
            "pipelineExecutionId": execution,
            "abandon": true,
            "reason": "a test stops it",
        })
    );
}

/// Posts `body` as CodePipeline's `operation` without signing: `(status, __type)`.
async fn post(standin: &CodePipelineStandIn, operation: &str, body: Vec<u8>) -> (u16, Value) {
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = hyper::Request::builder()
        .method("POST")
        .uri(format!("{}/", standin.endpoint_url()))
        .header("x-amz-target", format!("CodePipeline_20150709.{operation}"))
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"].clone();
    assert_eq!(content_type, "application/x-amz-json-1.1");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    (status, body["__type"].clone())
}

#[tokio::test]
async fn an_unknown_operation_or_a_malformed_oversized_or_incomplete_body_is_a_client_error() {
    let fixture = fixture().await;
    let standin = &fixture.standin;
    let state = br#"{"name":"release"}"#.to_vec();

    assert_eq!(
        post(standin, "CreatePipeline", state.clone()).await,
        (400, json!("UnknownOperationException"))
    );
    assert_eq!(
        post(standin, "GetPipelineState", b"{\"name\":".to_vec()).await,
        (400, json!("SerializationException"))
    );
    assert_eq!(
        post(standin, "GetPipelineState", b"[]".to_vec()).await,
        (400, json!("SerializationException"))
    );
    let padding = " ".repeat(1024 * 1024);
    assert_eq!(
        post(
            standin,
            "GetPipelineState",
            format!("{{\"name\":\"release\"}}{padding}").into_bytes()
        )
        .await,
        (400, json!("ValidationException"))
    );
    assert_eq!(
        post(standin, "GetPipelineState", b"{}".to_vec()).await,
        (400, json!("ValidationException"))
    );
    assert_eq!(
        post(standin, "GetPipelineState", state).await,
        (200, Value::Null)
    );
    assert!(standin.requests().iter().all(|request| !request.signed));
}
