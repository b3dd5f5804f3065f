//! Steering runs through the API: start, stop, retry, approve. Pipelines are deployed through
//! the API against the emulator (which records them in the registry); the run requests go to
//! the CodePipeline stand-in, because the emulator implements none of them. The API's
//! production SDK client makes every call; only its endpoint differs.

use axum::http::{Method, StatusCode};
use pb_tests::api::{ApiBed, Reply};
use pb_tests::codepipeline_standin::{Action, CodePipelineStandIn, Stage};
use serde_json::{json, Value};

const ACME: &str = "acme";
const GLOBEX: &str = "globex";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

struct Bed {
    api: ApiBed,
    admin: String,
    standin: CodePipelineStandIn,
    id: String,
    /// The CodePipeline's name, as the platform deployed it.
    name: String,
}

fn storefront(pipeline_name: &str, metadata: Value) -> Value {
    let path = format!(
        "{}/../samples/pipelines/storefront-web.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    value["name"] = json!(pipeline_name);
    value["metadata"] = metadata;
    value["pipelineVariables"] = json!([{"name": "TICKET", "defaultValue": "none"}]);
    value
}

/// The storefront sample deployed under its own name (the tests share one emulator, where stack
/// names are unique), and its CodePipeline in the stand-in: the sample's stages after Source.
async fn deployed(label: &str, pipeline_name: &str, metadata: Value) -> Bed {
    let (mut api, admin) = ApiBed::with_sample_plugins(label, ACME).await.unwrap();
    let created = api
        .post_json(
            "/api/pipelines",
            &admin,
            &storefront(pipeline_name, metadata),
        )
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let started = send(
        &api,
        &admin,
        &format!("/api/pipelines/{id}/deployments"),
        None,
    )
    .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let deployment = started.body["id"].as_str().unwrap();
    let done = api
        .get(
            &format!("/api/pipelines/{id}/deployments/{deployment}"),
            Some(&admin),
        )
        .await
        .unwrap();
    assert_eq!(done.body["status"], "SUCCEEDED", "{:?}", done.body);
    let name = format!("pb-{ACME}-{pipeline_name}");
    let standin = CodePipelineStandIn::start().await.unwrap();
    standin
        .add_pipeline(
            &name,
            [
                Stage::new("Source", [Action::automated("Source")]),
                Stage::new("Build", [Action::automated("Compile")]),
                Stage::new(
                    "Test",
                    [
                        Action::automated("Scan"),
                        Action::automated("UnitTests"),
                        Action::automated("IntegrationTests"),
                        Action::automated("Publish"),
                    ],
                ),
                Stage::new("Approve", [Action::manual_approval("ApproveRelease")]),
                Stage::new("Production", [Action::automated("Deploy")]),
            ],
        )
        .unwrap();
    api.steer_runs_to(&standin);
    Bed {
        api,
        admin,
        standin,
        id,
        name,
    }
}

async fn send(api: &ApiBed, token: &str, path: &str, body: Option<&Value>) -> Reply {
    match body {
        Some(body) => api
            .send_json(Method::POST, path, token, body)
            .await
            .unwrap(),
        None => api
            .send(Method::POST, path, Some(token), None)
            .await
            .unwrap(),
    }
}

impl Bed {
    fn runs(&self) -> String {
        format!("/api/pipelines/{}/executions", self.id)
    }

    async fn start(&self, token: &str, body: Option<&Value>) -> Reply {
        send(&self.api, token, &self.runs(), body).await
    }

    async fn started(&self, token: &str) -> String {
        let reply = self.start(token, None).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
        reply.body["executionId"].as_str().unwrap().to_string()
    }

    async fn stop(&self, execution: &str, body: Option<&Value>) -> Reply {
        let path = format!("{}/{execution}/stop", self.runs());
        send(&self.api, &self.admin, &path, body).await
    }

    async fn retry(&self, execution: &str, stage: &str, body: Option<&Value>) -> Reply {
        let path = format!("{}/{execution}/stages/{stage}/retry", self.runs());
        send(&self.api, &self.admin, &path, body).await
    }

    async fn approve(&self, token: &str, execution: &str, body: &Value) -> Reply {
        let path = format!(
            "{}/{execution}/approvals/Approve/ApproveRelease",
            self.runs()
        );
        send(&self.api, token, &path, Some(body)).await
    }

    fn calls(&self, operation: &str) -> Vec<Value> {
        self.standin
            .requests()
            .into_iter()
            .filter(|r| r.operation == operation)
            .map(|r| r.body)
            .collect()
    }
}

fn approved(summary: &str) -> Value {
    json!({"decision": "Approved", "summary": summary})
}

#[tokio::test]
async fn a_run_starts_with_a_revision_and_declared_variables_and_says_who_started_it() {
    let bed = deployed("runs-start", "runs-start", json!({})).await;
    let reply = bed
        .start(
            &bed.admin,
            Some(
                &json!({"sourceRevision": {"type": "COMMIT_ID", "value": COMMIT},
                "variables": {"TICKET": "OPS-7"}}),
            ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    let execution = reply.body["executionId"].as_str().unwrap();
    assert_eq!(reply.body["startedBy"], "user@acme");
    assert_eq!(
        reply.headers["location"],
        format!("{}/{execution}", bed.runs()).as_str()
    );
    let started = bed.standin.started_with(&bed.name, execution).unwrap();
    assert_eq!(started.variables.len(), 1);
    assert_eq!(
        (
            started.variables[0].name.as_str(),
            started.variables[0].value.as_str()
        ),
        ("TICKET", "OPS-7")
    );
    let revision = &started.source_revisions[0];
    assert_eq!(
        (
            revision.action_name.as_str(),
            revision.revision_type.as_str(),
            revision.revision_value.as_str()
        ),
        ("Source", "COMMIT_ID", COMMIT)
    );
    assert!(bed.standin.requests().iter().all(|r| r.signed));

    // No body at all is a plain start.
    bed.started(&bed.admin).await;
    assert_eq!(bed.calls("StartPipelineExecution").len(), 2);
}

#[tokio::test]
async fn bad_start_requests_are_refused_before_codepipeline_is_called() {
    let bed = deployed("runs-refused", "runs-refused", json!({})).await;
    let undeclared = bed
        .start(&bed.admin, Some(&json!({"variables": {"OTHER": "x"}})))
        .await;
    assert_eq!(undeclared.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(undeclared.error_fields(), ["variables.OTHER"]);
    let wrong_kind = bed
        .start(
            &bed.admin,
            Some(&json!({"sourceRevision": {"type": "S3_OBJECT_KEY", "value": "k"}})),
        )
        .await;
    assert_eq!(wrong_kind.error_fields(), ["sourceRevision.type"]);
    let unknown_member = bed.start(&bed.admin, Some(&json!({"token": "x"}))).await;
    assert_eq!(
        (unknown_member.status, unknown_member.code()),
        (StatusCode::BAD_REQUEST, "malformed_body")
    );
    assert!(bed.calls("StartPipelineExecution").is_empty());
}

#[tokio::test]
async fn a_run_stops_once_and_abandons_and_a_finished_run_cannot_be_stopped() {
    let bed = deployed("runs-stop", "runs-stop", json!({})).await;
    let execution = bed.started(&bed.admin).await;
    let stop = bed
        .stop(&execution, Some(&json!({"reason": "wrong commit"})))
        .await;
    assert_eq!(stop.status, StatusCode::ACCEPTED, "{:?}", stop.body);
    assert_eq!(stop.body["requested"], "stop");
    let again = bed.stop(&execution, None).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "stop_already_requested")
    );
    let abandon = bed.stop(&execution, Some(&json!({"abandon": true}))).await;
    assert_eq!(abandon.status, StatusCode::ACCEPTED, "{:?}", abandon.body);
    assert_eq!(abandon.body["requested"], "abandon");
    let sent = bed.calls("StopPipelineExecution");
    assert_eq!(sent[0]["reason"], "wrong commit");
    assert_eq!(sent[0]["pipelineName"], bed.name.as_str());
    assert_eq!(sent[2]["abandon"], true);

    let finished = bed.started(&bed.admin).await;
    bed.standin.complete(&bed.name, &finished).unwrap();
    let late = bed.stop(&finished, None).await;
    assert_eq!(
        (late.status, late.code()),
        (StatusCode::CONFLICT, "execution_not_stoppable")
    );
    let unknown = bed.stop("00000000-0000-4000-8000-000000000000", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{:?}", unknown.body);
    let malformed = bed.stop("not-an-execution", None).await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::BAD_REQUEST, "invalid_parameter")
    );
    let long_reason = bed
        .stop(&execution, Some(&json!({"reason": "r".repeat(201)})))
        .await;
    assert_eq!(long_reason.error_fields(), ["reason"]);
}

#[tokio::test]
async fn a_failed_stage_is_retried_in_the_mode_asked_and_a_stage_that_has_not_failed_is_refused() {
    let bed = deployed("runs-retry", "runs-retry", json!({})).await;
    let execution = bed.started(&bed.admin).await;
    bed.standin
        .fail_action(&bed.name, &execution, "Test", "UnitTests")
        .unwrap();
    let retried = bed.retry(&execution, "Test", None).await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{:?}", retried.body);
    assert_eq!(
        bed.calls("RetryStageExecution")[0]["retryMode"],
        "FAILED_ACTIONS"
    );
    let running = bed
        .retry(&execution, "Test", Some(&json!({"mode": "ALL_ACTIONS"})))
        .await;
    assert_eq!(
        (running.status, running.code()),
        (StatusCode::CONFLICT, "stage_not_retryable")
    );
    assert_eq!(
        bed.calls("RetryStageExecution")[1]["retryMode"],
        "ALL_ACTIONS"
    );
    let no_stage = bed.retry(&execution, "Nowhere", None).await;
    assert_eq!(
        no_stage.status,
        StatusCode::NOT_FOUND,
        "{:?}",
        no_stage.body
    );
    let bad_mode = bed
        .retry(&execution, "Test", Some(&json!({"mode": "SOME"})))
        .await;
    assert_eq!(bad_mode.code(), "malformed_body");
}

#[tokio::test]
async fn an_approval_is_decided_with_the_token_codepipeline_shows_and_only_while_it_waits() {
    let bed = deployed("runs-approve", "runs-approve", json!({})).await;
    let execution = bed.started(&bed.admin).await;
    let early = bed
        .approve(&bed.admin, &execution, &approved("looks good"))
        .await;
    assert_eq!(
        (early.status, early.code()),
        (StatusCode::CONFLICT, "approval_not_waiting")
    );
    let token = bed
        .standin
        .await_approval(&bed.name, &execution, "Approve", "ApproveRelease")
        .unwrap();
    let with_token = bed
        .approve(
            &bed.admin,
            &execution,
            &json!({"decision": "Approved", "summary": "ok", "token": "forged"}),
        )
        .await;
    assert_eq!(with_token.code(), "malformed_body");
    let decided = bed
        .approve(
            &bed.admin,
            &execution,
            &approved("  release notes checked "),
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK, "{:?}", decided.body);
    assert_eq!(decided.body["decision"], "Approved");
    let put = bed.calls("PutApprovalResult");
    assert_eq!(put.len(), 1);
    assert_eq!(put[0]["token"], token.as_str());
    assert_eq!(
        put[0]["result"],
        json!({"status": "Approved", "summary": "release notes checked"})
    );
    let twice = bed
        .approve(&bed.admin, &execution, &approved("again"))
        .await;
    assert_eq!(
        (twice.status, twice.code()),
        (StatusCode::CONFLICT, "approval_not_waiting")
    );

    // The stage now waits on a later run: deciding for the earlier one is refused.
    let older = bed.started(&bed.admin).await;
    let newer = bed.started(&bed.admin).await;
    bed.standin
        .await_approval(&bed.name, &older, "Approve", "ApproveRelease")
        .unwrap();
    bed.standin
        .await_approval(&bed.name, &newer, "Approve", "ApproveRelease")
        .unwrap();
    let stale = bed.approve(&bed.admin, &older, &approved("old")).await;
    assert_eq!(stale.code(), "approval_not_waiting", "{:?}", stale.body);
    let rejected = bed
        .approve(
            &bed.admin,
            &newer,
            &json!({"decision": "Rejected", "summary": "not today"}),
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{:?}", rejected.body);
    let empty = bed.approve(&bed.admin, &newer, &approved(" ")).await;
    assert_eq!(empty.error_fields(), ["summary"]);
}

#[tokio::test]
async fn under_separation_of_duties_the_starter_cannot_approve_even_through_a_machine_token() {
    let bed = deployed(
        "runs-sod",
        "runs-sod",
        json!({"separationOfDuties": "true"}),
    )
    .await;
    let alice = bed
        .api
        .token_for(
            "alice@acme",
            ACME,
            &["pipelines:execute", "pipelines:approve", "tokens:create"],
        )
        .await
        .unwrap();
    let bob = bed
        .api
        .token_for("bob@acme", ACME, &["pipelines:approve"])
        .await
        .unwrap();
    let minted = bed
        .api
        .post_json(
            "/api/tokens",
            &alice,
            &json!({"scope": "ci:release", "perms": ["pipelines:approve"], "expiresInDays": 1}),
        )
        .await
        .unwrap();
    assert_eq!(minted.status, StatusCode::CREATED, "{:?}", minted.body);
    let alice_machine = minted.body["token"].as_str().unwrap().to_string();

    let execution = bed.started(&alice).await;
    bed.standin
        .await_approval(&bed.name, &execution, "Approve", "ApproveRelease")
        .unwrap();
    for token in [&alice, &alice_machine] {
        let own = bed.approve(token, &execution, &approved("mine")).await;
        assert_eq!(
            (own.status, own.code()),
            (StatusCode::FORBIDDEN, "self_approval"),
            "{:?}",
            own.body
        );
    }
    assert!(bed.calls("PutApprovalResult").is_empty());

    // Lifting the rule in the definition does not lift it for a run already under way.
    let current = bed
        .api
        .get(&format!("/api/pipelines/{}", bed.id), Some(&bed.admin))
        .await
        .unwrap();
    let etag = current.headers["etag"].to_str().unwrap().to_string();
    let mut lifted = current.body["spec"].clone();
    lifted["metadata"]["separationOfDuties"] = json!("false");
    let request = axum::http::Request::builder()
        .method(Method::PUT)
        .uri(format!("/api/pipelines/{}", bed.id))
        .header("authorization", format!("Bearer {}", bed.admin))
        .header("content-type", "application/json")
        .header("if-match", etag)
        .body(axum::body::Body::from(lifted.to_string()))
        .unwrap();
    let updated = bed.api.request(request).await.unwrap();
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
    let after_lifting = bed.approve(&alice, &execution, &approved("mine")).await;
    assert_eq!(
        after_lifting.code(),
        "self_approval",
        "{:?}",
        after_lifting.body
    );

    let other = bed.approve(&bob, &execution, &approved("reviewed")).await;
    assert_eq!(other.status, StatusCode::OK, "{:?}", other.body);

    // A run CodePipeline started by itself (a push) has no starter: Alice may approve it.
    let pushed = bed
        .standin
        .client(&bed.api.bed.sdk_config)
        .start_pipeline_execution()
        .name(&bed.name)
        .send()
        .await
        .unwrap()
        .pipeline_execution_id
        .unwrap();
    bed.standin
        .await_approval(&bed.name, &pushed, "Approve", "ApproveRelease")
        .unwrap();
    let push = bed.approve(&alice, &pushed, &approved("pushed")).await;
    assert_eq!(push.status, StatusCode::OK, "{:?}", push.body);
}

#[tokio::test]
async fn runs_need_a_platform_deployment_of_the_callers_own_pipeline() {
    let bed = deployed("runs-tenancy", "runs-tenancy", json!({})).await;
    let globex = bed.api.token(GLOBEX, &["*"]).await.unwrap();
    let foreign = bed.start(&globex, None).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{:?}", foreign.body);
    let execution = bed.started(&bed.admin).await;
    let foreign_stop = send(
        &bed.api,
        &globex,
        &format!("{}/{execution}/stop", bed.runs()),
        None,
    )
    .await;
    assert_eq!(foreign_stop.status, StatusCode::NOT_FOUND);
    let foreign_retry = send(
        &bed.api,
        &globex,
        &format!("{}/{execution}/stages/Test/retry", bed.runs()),
        None,
    )
    .await;
    assert_eq!(foreign_retry.status, StatusCode::NOT_FOUND);
    let foreign_approval = bed
        .approve(&globex, &execution, &approved("not mine"))
        .await;
    assert_eq!(foreign_approval.status, StatusCode::NOT_FOUND);
    assert!(bed.calls("StopPipelineExecution").is_empty());
    assert!(bed.calls("RetryStageExecution").is_empty());
    assert!(bed.calls("GetPipelineState").is_empty());

    // Created but never deployed; then registered by hand under another pipeline's name.
    let created = bed
        .api
        .post_json(
            "/api/pipelines",
            &bed.admin,
            &storefront("runs-undeployed", json!({})),
        )
        .await
        .unwrap();
    let undeployed = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/pipelines/{undeployed}/executions");
    let refused = send(&bed.api, &bed.admin, &path, None).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::CONFLICT, "not_deployed")
    );
    let registered = bed
        .api
        .post_json(
            "/api/registry",
            &bed.admin,
            &json!({"pipelineId": undeployed, "pipelineName": bed.name,
                "stackName": "hand-made", "region": "us-east-1"}),
        )
        .await
        .unwrap();
    assert!(registered.status.is_success(), "{:?}", registered.body);
    let by_hand = send(&bed.api, &bed.admin, &path, None).await;
    assert_eq!(by_hand.code(), "not_deployed");
    assert_eq!(bed.calls("StartPipelineExecution").len(), 1);
}

#[tokio::test]
async fn codepipeline_throttling_is_a_503_to_retry_after() {
    let bed = deployed("runs-throttled", "runs-throttled", json!({})).await;
    bed.standin.throttle_next(10);
    let reply = bed.start(&bed.admin, None).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "throttled"),
        "{:?}",
        reply.body
    );
    assert_eq!(reply.headers["retry-after"], "1");
}

#[tokio::test]
async fn each_run_request_needs_its_own_permission() {
    let bed = deployed("runs-perms", "runs-perms", json!({})).await;
    let reader = bed
        .api
        .token(ACME, &["pipelines:read", "pipelines:approve"])
        .await
        .unwrap();
    let start = bed.start(&reader, None).await;
    assert_eq!(start.status, StatusCode::FORBIDDEN);
    let executor = bed.api.token(ACME, &["pipelines:execute"]).await.unwrap();
    let execution = bed.started(&executor).await;
    let approve = bed
        .approve(&executor, &execution, &approved("no right"))
        .await;
    assert_eq!(approve.status, StatusCode::FORBIDDEN);
}
