//! Steering runs of a deployed pipeline: the org's own pipeline, the CodePipeline the platform
//! deployed for it (from the registry), then one CodePipeline call. Who started a run through
//! the platform is recorded, so that separation of duties can refuse that person's approval.

use chrono::Utc;
use pb_aws::pipeline_control::ControlTarget;
use pb_aws::pipelines::PipelineRecord;
use pb_aws::starters::Starter;
use pb_domain::control::{
    check_approval, check_start, check_stop, ApprovalRequest, RetryRequest, StartRequest,
    StopRequest,
};
use pb_domain::pipeline::{resolve_templates, separation_of_duties, PipelineSpec};
use pb_domain::synth::SOURCE_ACTION;

use crate::auth::Caller;
use crate::problem::ApiError;
use crate::routes::plugins::now_rfc3339;
use crate::state::AppState;

/// A pipeline of the caller's org and the CodePipeline the platform deployed for it.
pub struct Deployed {
    pub pipeline: PipelineRecord,
    pub spec: PipelineSpec,
    pub target: ControlTarget,
}

/// The caller's pipeline `id` as deployed by the platform. Another org's pipeline is not found;
/// a registry entry written by hand names a CodePipeline the platform did not deploy, so it is
/// never steered (it could name any pipeline in the account).
pub async fn deployed(state: &AppState, caller: &Caller, id: &str) -> Result<Deployed, ApiError> {
    let pipeline = state
        .pipelines
        .get(caller.org(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("pipeline {id}")))?;
    let entry = state
        .registry
        .get(id)
        .await?
        .filter(|entry| entry.org_id == caller.org() && entry.stack_id.is_some())
        .ok_or_else(|| {
            ApiError::NotDeployed(format!(
                "pipeline {id} has no CodePipeline deployed by the platform; deploy it first"
            ))
        })?;
    let spec = resolve_templates(&pipeline.spec).map_err(ApiError::Validation)?;
    Ok(Deployed {
        pipeline,
        spec,
        target: ControlTarget {
            pipeline_name: entry.pipeline_name,
            region: entry.region,
        },
    })
}

/// Starts a run and records who started it; the execution id and the record.
pub async fn start(
    state: &AppState,
    caller: &Caller,
    deployed: &Deployed,
    request: &StartRequest,
) -> Result<(String, Starter), ApiError> {
    check_start(&deployed.spec, request).map_err(ApiError::Validation)?;
    let execution_id = state
        .control
        .start(
            &deployed.target,
            SOURCE_ACTION,
            request.source_revision.as_ref(),
            &request.variables,
        )
        .await?;
    let starter = Starter {
        principal: caller.principal().to_string(),
        subject: caller.claims.sub.clone(),
        started_at: now_rfc3339(),
        separation_of_duties: separation_of_duties(&deployed.spec),
        expires_at: Utc::now().timestamp() + state.config.retention_days * 86_400,
    };
    if let Err(error) = state
        .starters
        .record(caller.org(), &deployed.pipeline.id, &execution_id, &starter)
        .await
    {
        unattributed(state, deployed, &execution_id, error.into()).await?;
    }
    Ok((execution_id, starter))
}

/// A run whose starter could not be recorded could later be approved by that same person:
/// where the pipeline asks for separation of duties it is abandoned at once and the start
/// fails. Elsewhere the run goes on (the caller has its id; a retried start would run twice),
/// and only its history lacks the starter.
async fn unattributed(
    state: &AppState,
    deployed: &Deployed,
    execution_id: &str,
    error: ApiError,
) -> Result<(), ApiError> {
    tracing::error!(
        pipeline = %deployed.pipeline.id,
        execution = %execution_id,
        error = %error,
        "the starter of a new run could not be recorded"
    );
    if !separation_of_duties(&deployed.spec) {
        return Ok(());
    }
    let reason = "its starter could not be recorded, so separation of duties could not hold";
    if let Err(stop) = state
        .control
        .stop(&deployed.target, execution_id, true, Some(reason))
        .await
    {
        tracing::error!(
            execution = %execution_id,
            error = %ApiError::from(stop),
            "abandoning the unattributed run failed"
        );
    }
    Err(error)
}

pub async fn stop(
    state: &AppState,
    deployed: &Deployed,
    execution_id: &str,
    request: &StopRequest,
) -> Result<(), ApiError> {
    check_stop(request).map_err(ApiError::Validation)?;
    state
        .control
        .stop(
            &deployed.target,
            execution_id,
            request.abandon,
            request.reason.as_deref(),
        )
        .await?;
    Ok(())
}

pub async fn retry(
    state: &AppState,
    deployed: &Deployed,
    execution_id: &str,
    stage: &str,
    request: &RetryRequest,
) -> Result<(), ApiError> {
    state
        .control
        .retry(&deployed.target, execution_id, stage, request.mode)
        .await?;
    Ok(())
}

/// Decides a manual approval waiting in `execution_id`. The token comes from the pipeline's
/// state, never from the caller; under separation of duties the person who started the run
/// (through any of their machine tokens) cannot approve it.
pub async fn decide_approval(
    state: &AppState,
    caller: &Caller,
    deployed: &Deployed,
    execution_id: &str,
    (stage, action): (&str, &str),
    request: &ApprovalRequest,
) -> Result<(), ApiError> {
    check_approval(request).map_err(ApiError::Validation)?;
    let starter = state
        .starters
        .get(caller.org(), &deployed.pipeline.id, execution_id)
        .await?;
    if let Some(starter) = starter {
        let asked = starter.separation_of_duties || separation_of_duties(&deployed.spec);
        if asked && starter.principal == caller.principal() {
            return Err(ApiError::SelfApproval(
                "the pipeline asks for separation of duties: whoever started a run cannot approve it",
            ));
        }
    }
    let token = state
        .control
        .waiting_approval(&deployed.target, execution_id, stage, action)
        .await?;
    state
        .control
        .decide_approval(
            &deployed.target,
            stage,
            action,
            &token,
            request.decision,
            request.summary.trim(),
        )
        .await?;
    Ok(())
}
