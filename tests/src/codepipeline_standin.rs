//! A CodePipeline stand-in for the execution-control operations the emulator (moto) lacks:
//! StartPipelineExecution, StopPipelineExecution, RetryStageExecution, GetPipelineState and
//! PutApprovalResult. It speaks CodePipeline's wire protocol (awsJson1_1) on a loopback port, so
//! the production SDK client drives it with only the endpoint changed, and its answers and error
//! codes are the ones CodePipeline gives, down to the modeled error variants.
//!
//! Executions move only when a test moves them ([`CodePipelineStandIn::complete`],
//! [`CodePipelineStandIn::fail_action`], [`CodePipelineStandIn::await_approval`], or an approval
//! through the API). Stages run in order and a stage's actions all start when it is entered.
//! Executions neither lock stages nor supersede one another: a stage shows the latest execution
//! that entered it, which is also the one RetryStageExecution and PutApprovalResult act on.

use std::collections::HashMap;
use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use aws_config::SdkConfig;
use aws_sdk_codepipeline::types::{
    ActionExecutionStatus, PipelineExecutionStatus, StageExecutionStatus,
};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

use crate::emulator::ACCOUNT_ID;
use crate::rng::Rng;

/// The `X-Amz-Target` prefix of every CodePipeline operation.
const TARGET_PREFIX: &str = "CodePipeline_20150709.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// Larger bodies are refused before they are parsed; CodePipeline's requests are far smaller.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A stage of a pipeline added with [`CodePipelineStandIn::add_pipeline`].
#[derive(Debug, Clone)]
pub struct Stage {
    name: String,
    actions: Vec<Action>,
}

impl Stage {
    pub fn new(name: impl Into<String>, actions: impl IntoIterator<Item = Action>) -> Self {
        Stage {
            name: name.into(),
            actions: actions.into_iter().collect(),
        }
    }
}

/// An action of a [`Stage`]: one that runs until a test settles it, or a Manual approval that
/// waits for PutApprovalResult with its token.
#[derive(Debug, Clone)]
pub struct Action {
    name: String,
    manual_approval: bool,
}

impl Action {
    pub fn automated(name: impl Into<String>) -> Self {
        Action {
            name: name.into(),
            manual_approval: false,
        }
    }

    pub fn manual_approval(name: impl Into<String>) -> Self {
        Action {
            name: name.into(),
            manual_approval: true,
        }
    }
}

/// One HTTP request as the stand-in received it, throttled ones included.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The `X-Amz-Target` operation without its service prefix (the whole header when the prefix
    /// is missing, empty when the header is).
    pub operation: String,
    /// The JSON body; `Null` when it was not JSON.
    pub body: Value,
    /// Whether it carried a SigV4 `Authorization` header scoped to CodePipeline.
    pub signed: bool,
}

/// What StartPipelineExecution asked an execution to run with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartedWith {
    pub variables: Vec<Variable>,
    pub source_revisions: Vec<SourceRevision>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Variable {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevision {
    pub action_name: String,
    pub revision_type: String,
    pub revision_value: String,
}

/// The stand-in on a free loopback port; stops serving when dropped.
pub struct CodePipelineStandIn {
    address: SocketAddr,
    world: Arc<Mutex<World>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl CodePipelineStandIn {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the CodePipeline stand-in to a loopback port")?;
        let address = listener
            .local_addr()
            .context("reading the CodePipeline stand-in's address")?;
        let world = Arc::new(Mutex::new(World::new()));
        let router = Router::new().fallback(answer).with_state(world.clone());
        let server = tokio::spawn(axum::serve(listener, router).into_future());
        Ok(CodePipelineStandIn {
            address,
            world,
            server,
        })
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The production client for `config`, with only the endpoint pointing here.
    pub fn client(&self, config: &SdkConfig) -> aws_sdk_codepipeline::Client {
        let config = aws_sdk_codepipeline::config::Builder::from(config)
            .endpoint_url(self.endpoint_url())
            .build();
        aws_sdk_codepipeline::Client::from_conf(config)
    }

    /// Adds (or replaces) a pipeline; CodePipeline needs at least one action in every stage.
    pub fn add_pipeline(
        &self,
        name: &str,
        stages: impl IntoIterator<Item = Stage>,
    ) -> anyhow::Result<()> {
        let stages: Vec<Stage> = stages.into_iter().collect();
        if stages.is_empty() {
            bail!("pipeline {name} needs at least one stage");
        }
        if let Some(empty) = stages.iter().find(|stage| stage.actions.is_empty()) {
            bail!("stage {} of pipeline {name} has no action", empty.name);
        }
        self.world()
            .pipelines
            .insert(name.to_string(), Pipeline::new(stages));
        Ok(())
    }

    /// Fails `action` of `execution`, first completing the stages before `stage`. The stage's
    /// other running actions finish successfully, then the stage and the execution fail.
    pub fn fail_action(
        &self,
        pipeline: &str,
        execution: &str,
        stage: &str,
        action: &str,
    ) -> anyhow::Result<()> {
        self.with_running_action(pipeline, execution, stage, action, |pipeline, ids, at| {
            pipeline.finish_action(ids, at, ActionExecutionStatus::Failed);
            Ok(())
        })
    }

    /// The token of the Manual approval `action` once `execution` waits on it, first completing
    /// the stages before `stage`.
    pub fn await_approval(
        &self,
        pipeline: &str,
        execution: &str,
        stage: &str,
        action: &str,
    ) -> anyhow::Result<String> {
        self.with_running_action(pipeline, execution, stage, action, |pipeline, _, at| {
            pipeline.action_run(at)?.token.clone().with_context(|| {
                format!("action {} is not a Manual approval", at.describe(pipeline))
            })
        })
    }

    /// Runs `execution` to its end: every running action succeeds and so does every stage left.
    /// A Stopping execution only finishes its running actions and becomes Stopped.
    pub fn complete(&self, pipeline: &str, execution: &str) -> anyhow::Result<()> {
        let mut world = self.world();
        let (pipeline, ids) = world.pipeline_and_ids(pipeline)?;
        let e = pipeline.execution_index(execution)?;
        if !pipeline.executions[e].is_running() {
            bail!(
                "execution {execution} is {}, not running",
                pipeline.executions[e].status
            );
        }
        while pipeline.executions[e].is_running() {
            let current = pipeline.executions[e].current_stage();
            pipeline.succeed_running_actions(ids, e, current);
        }
        Ok(())
    }

    /// The next `n` requests, whatever they are, answer 400 ThrottlingException.
    pub fn throttle_next(&self, n: u32) {
        self.world().throttle = n;
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.world().requests.clone()
    }

    pub fn execution_status(
        &self,
        pipeline: &str,
        execution: &str,
    ) -> Option<PipelineExecutionStatus> {
        let world = self.world();
        let pipeline = world.pipelines.get(pipeline)?;
        let e = pipeline.execution_index(execution).ok()?;
        Some(pipeline.executions[e].status.clone())
    }

    pub fn started_with(&self, pipeline: &str, execution: &str) -> Option<StartedWith> {
        let world = self.world();
        let pipeline = world.pipelines.get(pipeline)?;
        let e = pipeline.execution_index(execution).ok()?;
        Some(pipeline.executions[e].started_with.clone())
    }

    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// Moves `execution` into `stage` and runs `step` on `action` there, which must be running.
    fn with_running_action<T>(
        &self,
        pipeline: &str,
        execution: &str,
        stage: &str,
        action: &str,
        step: impl FnOnce(&mut Pipeline, &mut Ids, ActionAt) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut world = self.world();
        let (pipeline, ids) = world.pipeline_and_ids(pipeline)?;
        let at = ActionAt {
            execution: pipeline.execution_index(execution)?,
            stage: pipeline.stage_index(stage)?,
            action: pipeline.action_index(pipeline.stage_index(stage)?, action)?,
        };
        pipeline.advance_to(ids, at.execution, at.stage)?;
        let status = &pipeline.action_run(at)?.status;
        if *status != ActionExecutionStatus::InProgress {
            bail!("action {} is {status}, not running", at.describe(pipeline));
        }
        step(pipeline, ids, at)
    }
}

impl Drop for CodePipelineStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    // A test that panicked mid-request leaves consistent enough state for the others to read.
    world.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An error as CodePipeline answers it: HTTP 400 with `__type` and `message`.
#[derive(Debug)]
struct Fault {
    code: &'static str,
    message: String,
}

impl Fault {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Fault {
            code,
            message: message.into(),
        }
    }

    /// CodePipeline's wording for a missing required member.
    fn missing(member: &str) -> Self {
        Fault::new(
            "ValidationException",
            format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"),
        )
    }

    fn invalid(member: &str, value: &str, constraint: &str) -> Self {
        Fault::new(
            "ValidationException",
            format!("1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"),
        )
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Fault {}

async fn answer(State(world): State<Arc<Mutex<World>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let operation = operation_of(&parts.headers);
    let signed = is_signed(&parts.headers);
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let parsed = bytes
        .as_ref()
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok());
    let mut world = lock(&world);
    world.requests.push(RecordedRequest {
        operation: operation.clone(),
        body: parsed.clone().unwrap_or(Value::Null),
        signed,
    });
    let outcome = if world.throttle > 0 {
        world.throttle -= 1;
        Err(Fault::new("ThrottlingException", "Rate exceeded"))
    } else if bytes.is_err() {
        Err(Fault::new(
            "ValidationException",
            format!("The request body exceeds {MAX_BODY_BYTES} bytes"),
        ))
    } else {
        match parsed {
            Some(Value::Object(members)) => world.dispatch(&operation, &members),
            _ => Err(Fault::new(
                "SerializationException",
                "The request body is not a JSON object",
            )),
        }
    };
    respond(world.ids.next(), outcome)
}

fn operation_of(headers: &HeaderMap) -> String {
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    target
        .strip_prefix(TARGET_PREFIX)
        .unwrap_or(target)
        .to_string()
}

fn is_signed(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.starts_with("AWS4-HMAC-SHA256 ") && value.contains("/codepipeline/aws4_request")
        })
}

fn respond(request_id: String, outcome: Result<Value, Fault>) -> Response {
    let (status, body) = match outcome {
        Ok(body) => (StatusCode::OK, body),
        Err(fault) => (
            StatusCode::BAD_REQUEST,
            json!({"__type": fault.code, "message": fault.message}),
        ),
    };
    (
        status,
        [
            (header::CONTENT_TYPE, CONTENT_TYPE.to_string()),
            (
                header::HeaderName::from_static("x-amzn-requestid"),
                request_id,
            ),
        ],
        body.to_string(),
    )
        .into_response()
}

struct World {
    pipelines: HashMap<String, Pipeline>,
    ids: Ids,
    throttle: u32,
    requests: Vec<RecordedRequest>,
}

impl World {
    fn new() -> Self {
        World {
            pipelines: HashMap::new(),
            ids: Ids::new(),
            throttle: 0,
            requests: Vec::new(),
        }
    }

    fn pipeline_and_ids(&mut self, name: &str) -> Result<(&mut Pipeline, &mut Ids), Fault> {
        let pipeline = self.pipelines.get_mut(name).ok_or_else(|| {
            Fault::new(
                "PipelineNotFoundException",
                format!("Account '{ACCOUNT_ID}' does not have a pipeline with name '{name}'"),
            )
        })?;
        Ok((pipeline, &mut self.ids))
    }

    fn dispatch(&mut self, operation: &str, body: &Map<String, Value>) -> Result<Value, Fault> {
        match operation {
            "StartPipelineExecution" => self.start_pipeline_execution(body),
            "StopPipelineExecution" => self.stop_pipeline_execution(body),
            "RetryStageExecution" => self.retry_stage_execution(body),
            "GetPipelineState" => self.get_pipeline_state(body),
            "PutApprovalResult" => self.put_approval_result(body),
            _ => Err(Fault::new(
                "UnknownOperationException",
                format!("Unknown operation '{operation}'"),
            )),
        }
    }

    fn start_pipeline_execution(&mut self, body: &Map<String, Value>) -> Result<Value, Fault> {
        let name = required(body, "name")?;
        let request_token = optional(body, "clientRequestToken")?;
        let started_with = StartedWith {
            variables: list(body, "variables")?,
            source_revisions: list(body, "sourceRevisions")?,
        };
        let (pipeline, ids) = self.pipeline_and_ids(name)?;
        let id = pipeline.start(ids, request_token, started_with);
        Ok(json!({"pipelineExecutionId": id}))
    }

    fn stop_pipeline_execution(&mut self, body: &Map<String, Value>) -> Result<Value, Fault> {
        let name = required(body, "pipelineName")?;
        let id = execution_id(body)?;
        let abandon = match body.get("abandon") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(abandon)) => *abandon,
            Some(other) => {
                return Err(Fault::invalid(
                    "abandon",
                    &other.to_string(),
                    "Member must be a boolean",
                ))
            }
        };
        let (pipeline, ids) = self.pipeline_and_ids(name)?;
        let e = pipeline.execution_index(id)?;
        pipeline.stop(ids, e, abandon)?;
        Ok(json!({"pipelineExecutionId": id}))
    }

    fn retry_stage_execution(&mut self, body: &Map<String, Value>) -> Result<Value, Fault> {
        let name = required(body, "pipelineName")?;
        let stage = required(body, "stageName")?;
        let id = execution_id(body)?;
        let retry_mode = required(body, "retryMode")?;
        let all_actions =
            one_of(retry_mode, "retryMode", &["FAILED_ACTIONS", "ALL_ACTIONS"])? == "ALL_ACTIONS";
        let (pipeline, ids) = self.pipeline_and_ids(name)?;
        let s = pipeline.stage_index(stage)?;
        let e = pipeline.execution_index(id)?;
        pipeline.retry(ids, e, s, all_actions)?;
        Ok(json!({"pipelineExecutionId": id}))
    }

    fn get_pipeline_state(&mut self, body: &Map<String, Value>) -> Result<Value, Fault> {
        let name = required(body, "name")?;
        let (pipeline, _) = self.pipeline_and_ids(name)?;
        Ok(pipeline.state(name))
    }

    fn put_approval_result(&mut self, body: &Map<String, Value>) -> Result<Value, Fault> {
        let name = required(body, "pipelineName")?;
        let stage = required(body, "stageName")?;
        let action = required(body, "actionName")?;
        let token = required(body, "token")?;
        let result = body
            .get("result")
            .and_then(Value::as_object)
            .ok_or_else(|| Fault::missing("result"))?;
        required(result, "summary").map_err(|_| Fault::missing("result.summary"))?;
        let status = required(result, "status").map_err(|_| Fault::missing("result.status"))?;
        let approved = one_of(status, "result.status", &["Approved", "Rejected"])? == "Approved";
        let (pipeline, ids) = self.pipeline_and_ids(name)?;
        let s = pipeline.stage_index(stage)?;
        let a = pipeline.action_index(s, action)?;
        pipeline.put_approval(ids, s, a, token, approved)?;
        Ok(json!({"approvedAt": epoch_seconds(SystemTime::now())}))
    }
}

fn required<'a>(body: &'a Map<String, Value>, member: &str) -> Result<&'a str, Fault> {
    optional(body, member)?.ok_or_else(|| Fault::missing(member))
}

fn optional<'a>(body: &'a Map<String, Value>, member: &str) -> Result<Option<&'a str>, Fault> {
    match body.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(other) => Err(Fault::invalid(
            member,
            &other.to_string(),
            "Member must be a string",
        )),
    }
}

fn list<T: for<'de> Deserialize<'de>>(
    body: &Map<String, Value>,
    member: &str,
) -> Result<Vec<T>, Fault> {
    match body.get(member) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|error| Fault::invalid(member, &value.to_string(), &error.to_string())),
    }
}

/// `value` if it is one of the `allowed` values of an enum member.
fn one_of<'a>(value: &'a str, member: &str, allowed: &[&str]) -> Result<&'a str, Fault> {
    if allowed.contains(&value) {
        return Ok(value);
    }
    Err(Fault::invalid(
        member,
        value,
        &format!(
            "Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        ),
    ))
}

/// `pipelineExecutionId`, which CodePipeline constrains to a lowercase UUID.
fn execution_id(body: &Map<String, Value>) -> Result<&str, Fault> {
    let id = required(body, "pipelineExecutionId")?;
    if !is_uuid_shaped(id) {
        return Err(Fault::invalid(
            "pipelineExecutionId",
            id,
            "Member must satisfy regular expression pattern: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ));
    }
    Ok(id)
}

fn is_uuid_shaped(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs_f64())
        .unwrap_or_default()
}

/// Version 4 UUIDs, the shape CodePipeline gives execution ids, action execution ids and tokens.
struct Ids(Rng);

impl Ids {
    fn new() -> Self {
        let nanos = epoch_seconds(SystemTime::now()).fract() * 1e9;
        Ids(Rng::new(
            (nanos as u64) << 16 | u64::from(std::process::id()) | 1,
        ))
    }

    fn next(&mut self) -> String {
        let high = (self.0.next_u64() & !0xF000) | 0x4000;
        let low = (self.0.next_u64() & !(0b11 << 62)) | (0b10 << 62);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xFFFF,
            high & 0xFFFF,
            low >> 48,
            low & 0xFFFF_FFFF_FFFF
        )
    }
}

struct Pipeline {
    stages: Vec<Stage>,
    created: SystemTime,
    /// In start order.
    executions: Vec<Execution>,
    /// Per stage, the index of the execution that entered it last.
    latest_in_stage: Vec<Option<usize>>,
    /// Executions by the clientRequestToken that started them.
    by_request_token: HashMap<String, usize>,
}

struct Execution {
    id: String,
    status: PipelineExecutionStatus,
    /// Per stage, its run once the execution has entered it.
    stages: Vec<Option<StageRun>>,
    started_with: StartedWith,
}

struct StageRun {
    status: StageExecutionStatus,
    actions: Vec<ActionRun>,
}

struct ActionRun {
    id: String,
    status: ActionExecutionStatus,
    /// A Manual approval's token, for as long as this run lasts.
    token: Option<String>,
    changed: SystemTime,
}

/// An action of one execution, by index.
#[derive(Debug, Clone, Copy)]
struct ActionAt {
    execution: usize,
    stage: usize,
    action: usize,
}

impl ActionAt {
    fn describe(&self, pipeline: &Pipeline) -> String {
        let stage = &pipeline.stages[self.stage];
        format!("{}/{}", stage.name, stage.actions[self.action].name)
    }
}

impl Execution {
    fn is_running(&self) -> bool {
        matches!(
            self.status,
            PipelineExecutionStatus::InProgress | PipelineExecutionStatus::Stopping
        )
    }

    /// The last stage the execution entered; it always enters the first on start.
    fn current_stage(&self) -> usize {
        self.stages.iter().rposition(Option::is_some).unwrap_or(0)
    }
}

impl ActionRun {
    fn start(ids: &mut Ids, action: &Action) -> Self {
        ActionRun {
            id: ids.next(),
            status: ActionExecutionStatus::InProgress,
            token: action.manual_approval.then(|| ids.next()),
            changed: SystemTime::now(),
        }
    }

    fn set(&mut self, status: ActionExecutionStatus) {
        self.status = status;
        self.changed = SystemTime::now();
    }

    fn is_running(&self) -> bool {
        self.status == ActionExecutionStatus::InProgress
    }
}

impl Pipeline {
    fn new(stages: Vec<Stage>) -> Self {
        Pipeline {
            latest_in_stage: vec![None; stages.len()],
            stages,
            created: SystemTime::now(),
            executions: Vec::new(),
            by_request_token: HashMap::new(),
        }
    }

    fn stage_index(&self, name: &str) -> Result<usize, Fault> {
        self.stages
            .iter()
            .position(|stage| stage.name == name)
            .ok_or_else(|| {
                Fault::new(
                    "StageNotFoundException",
                    format!("Stage '{name}' was not found in the pipeline"),
                )
            })
    }

    fn action_index(&self, stage: usize, name: &str) -> Result<usize, Fault> {
        self.stages[stage]
            .actions
            .iter()
            .position(|action| action.name == name)
            .ok_or_else(|| {
                Fault::new(
                    "ActionNotFoundException",
                    format!(
                        "Action '{name}' was not found in stage '{}'",
                        self.stages[stage].name
                    ),
                )
            })
    }

    fn execution_index(&self, id: &str) -> Result<usize, Fault> {
        self.executions
            .iter()
            .position(|execution| execution.id == id)
            .ok_or_else(|| {
                Fault::new(
                    "PipelineExecutionNotFoundException",
                    format!("Pipeline execution '{id}' was not found"),
                )
            })
    }

    fn action_run(&self, at: ActionAt) -> anyhow::Result<&ActionRun> {
        self.executions[at.execution].stages[at.stage]
            .as_ref()
            .map(|run| &run.actions[at.action])
            .with_context(|| {
                format!(
                    "the execution has not entered stage {}",
                    self.stages[at.stage].name
                )
            })
    }

    /// The execution's id; the one started earlier with the same `request_token` if there is one.
    fn start(
        &mut self,
        ids: &mut Ids,
        request_token: Option<&str>,
        started_with: StartedWith,
    ) -> String {
        if let Some(&e) = request_token.and_then(|token| self.by_request_token.get(token)) {
            return self.executions[e].id.clone();
        }
        let e = self.executions.len();
        let id = ids.next();
        self.executions.push(Execution {
            id: id.clone(),
            status: PipelineExecutionStatus::InProgress,
            stages: (0..self.stages.len()).map(|_| None).collect(),
            started_with,
        });
        if let Some(token) = request_token {
            self.by_request_token.insert(token.to_string(), e);
        }
        self.enter_stage(ids, e, 0);
        id
    }

    fn enter_stage(&mut self, ids: &mut Ids, e: usize, s: usize) {
        let actions = self.stages[s]
            .actions
            .iter()
            .map(|action| ActionRun::start(ids, action))
            .collect();
        self.executions[e].stages[s] = Some(StageRun {
            status: StageExecutionStatus::InProgress,
            actions,
        });
        self.latest_in_stage[s] = Some(e);
    }

    /// Once no action of the stage runs: a failed action fails the stage and the execution, a
    /// Stopping execution stops there, and otherwise the execution moves to the next stage or
    /// succeeds.
    fn settle(&mut self, ids: &mut Ids, e: usize, s: usize) {
        let execution = &mut self.executions[e];
        let Some(run) = execution.stages[s].as_mut() else {
            return;
        };
        if run.actions.iter().any(ActionRun::is_running) {
            return;
        }
        if run
            .actions
            .iter()
            .any(|action| action.status == ActionExecutionStatus::Failed)
        {
            run.status = StageExecutionStatus::Failed;
            execution.status = PipelineExecutionStatus::Failed;
        } else if execution.status == PipelineExecutionStatus::Stopping {
            run.status = StageExecutionStatus::Stopped;
            execution.status = PipelineExecutionStatus::Stopped;
        } else {
            run.status = StageExecutionStatus::Succeeded;
            if s + 1 < self.stages.len() {
                self.enter_stage(ids, e, s + 1);
            } else {
                execution.status = PipelineExecutionStatus::Succeeded;
            }
        }
    }

    /// Ends one running action. A failure lets the stage's other running actions finish (here,
    /// successfully) so that the stage fails as a whole.
    fn finish_action(&mut self, ids: &mut Ids, at: ActionAt, status: ActionExecutionStatus) {
        let Some(run) = self.executions[at.execution].stages[at.stage].as_mut() else {
            return;
        };
        let failed = status == ActionExecutionStatus::Failed;
        run.actions[at.action].set(status);
        if failed {
            for action in run.actions.iter_mut().filter(|action| action.is_running()) {
                action.set(ActionExecutionStatus::Succeeded);
            }
        }
        self.settle(ids, at.execution, at.stage);
    }

    fn succeed_running_actions(&mut self, ids: &mut Ids, e: usize, s: usize) {
        if let Some(run) = self.executions[e].stages[s].as_mut() {
            for action in run.actions.iter_mut().filter(|action| action.is_running()) {
                action.set(ActionExecutionStatus::Succeeded);
            }
        }
        self.settle(ids, e, s);
    }

    /// Completes the stages before `s` until the running execution is in `s`.
    fn advance_to(&mut self, ids: &mut Ids, e: usize, s: usize) -> anyhow::Result<()> {
        loop {
            let execution = &self.executions[e];
            if execution.status != PipelineExecutionStatus::InProgress {
                bail!(
                    "execution {} is {}, not in progress",
                    execution.id,
                    execution.status
                );
            }
            let current = execution.current_stage();
            if current == s {
                return Ok(());
            }
            if current > s {
                bail!(
                    "execution {} is past stage {}",
                    execution.id,
                    self.stages[s].name
                );
            }
            self.succeed_running_actions(ids, e, current);
        }
    }

    fn stop(&mut self, ids: &mut Ids, e: usize, abandon: bool) -> Result<(), Fault> {
        let execution = &mut self.executions[e];
        match (&execution.status, abandon) {
            (PipelineExecutionStatus::Stopping, false) => {
                return Err(Fault::new(
                    "DuplicatedStopRequestException",
                    "The pipeline execution is already in a Stopping state. If you already chose to stop and wait, you cannot make that request again. You can choose to stop and abandon now.",
                ))
            }
            (PipelineExecutionStatus::InProgress | PipelineExecutionStatus::Stopping, _) => {}
            (status, _) => {
                return Err(Fault::new(
                    "PipelineExecutionNotStoppableException",
                    format!("Pipeline execution '{}' is {status} and cannot be stopped", execution.id),
                ))
            }
        }
        let current = execution.current_stage();
        execution.status = PipelineExecutionStatus::Stopping;
        let Some(run) = execution.stages[current].as_mut() else {
            return Ok(());
        };
        run.status = StageExecutionStatus::Stopping;
        if abandon {
            for action in run.actions.iter_mut().filter(|action| action.is_running()) {
                action.set(ActionExecutionStatus::Abandoned);
            }
        }
        self.settle(ids, e, current);
        Ok(())
    }

    fn retry(&mut self, ids: &mut Ids, e: usize, s: usize, all_actions: bool) -> Result<(), Fault> {
        let stage_name = &self.stages[s].name;
        match self.latest_in_stage[s] {
            Some(latest) if latest != e => {
                return Err(Fault::new(
                    "NotLatestPipelineExecutionException",
                    format!(
                        "Stage '{stage_name}' has run in a later pipeline execution than '{}'",
                        self.executions[e].id
                    ),
                ))
            }
            _ => {}
        }
        let execution = &mut self.executions[e];
        let id = execution.id.clone();
        let not_retryable = |status: &dyn std::fmt::Display| {
            Fault::new(
                "StageNotRetryableException",
                format!("Stage '{stage_name}' of execution '{id}' is {status}; only a Failed stage can be retried"),
            )
        };
        let run = match execution.stages[s].as_mut() {
            Some(run) if run.status == StageExecutionStatus::Failed => run,
            Some(run) => return Err(not_retryable(&run.status)),
            None => return Err(not_retryable(&"not reached")),
        };
        for (action, declared) in run.actions.iter_mut().zip(&self.stages[s].actions) {
            if all_actions || action.status == ActionExecutionStatus::Failed {
                *action = ActionRun::start(ids, declared);
            }
        }
        run.status = StageExecutionStatus::InProgress;
        execution.status = PipelineExecutionStatus::InProgress;
        Ok(())
    }

    /// Approves or rejects the Manual approval `a` of stage `s` in the execution that entered
    /// the stage last, if `token` is that approval's.
    fn put_approval(
        &mut self,
        ids: &mut Ids,
        s: usize,
        a: usize,
        token: &str,
        approved: bool,
    ) -> Result<(), Fault> {
        let at = self.latest_in_stage[s].map(|e| ActionAt {
            execution: e,
            stage: s,
            action: a,
        });
        let run = at.and_then(|at| self.action_run(at).ok());
        let (Some(at), Some(run)) = (at, run) else {
            return Err(invalid_token());
        };
        if run.token.as_deref() != Some(token) {
            return Err(invalid_token());
        }
        if !run.is_running() {
            return Err(Fault::new(
                "ApprovalAlreadyCompletedException",
                format!(
                    "The approval action {} has already been completed",
                    at.describe(self)
                ),
            ));
        }
        let status = if approved {
            ActionExecutionStatus::Succeeded
        } else {
            ActionExecutionStatus::Failed
        };
        self.finish_action(ids, at, status);
        Ok(())
    }

    fn state(&self, name: &str) -> Value {
        let created = epoch_seconds(self.created);
        let stage_states: Vec<Value> = (0..self.stages.len())
            .map(|s| self.stage_state(s))
            .collect();
        json!({
            "pipelineName": name,
            "pipelineVersion": 1,
            "created": created,
            "updated": created,
            "stageStates": stage_states,
        })
    }

    fn stage_state(&self, s: usize) -> Value {
        let stage = &self.stages[s];
        let latest = self.latest_in_stage[s].and_then(|e| {
            let execution = &self.executions[e];
            execution.stages[s].as_ref().map(|run| (execution, run))
        });
        let action_states: Vec<Value> = stage
            .actions
            .iter()
            .enumerate()
            .map(|(a, action)| action_state(action, latest.map(|(_, run)| &run.actions[a])))
            .collect();
        let mut state = json!({"stageName": stage.name, "actionStates": action_states});
        if let Some((execution, run)) = latest {
            state["latestExecution"] = json!({
                "pipelineExecutionId": execution.id,
                "status": run.status.as_str(),
            });
        }
        state
    }
}

fn invalid_token() -> Fault {
    Fault::new(
        "InvalidApprovalTokenException",
        "The approval token is not valid for this approval action",
    )
}

fn action_state(action: &Action, run: Option<&ActionRun>) -> Value {
    let mut state = json!({"actionName": action.name});
    if let Some(run) = run {
        let mut latest = json!({
            "actionExecutionId": run.id,
            "status": run.status.as_str(),
            "lastStatusChange": epoch_seconds(run.changed),
        });
        if let (true, Some(token)) = (run.is_running(), &run.token) {
            latest["token"] = json!(token);
        }
        state["latestExecution"] = latest;
    }
    state
}
