//! Deploying a stored pipeline: compliance against the current rules, synthesis from the pinned
//! plugins, then one CloudFormation call that returns at once. Progress comes later, as stack
//! status events (ingest) or, when none came for a while, from the stack itself when the
//! deployment is read.

use std::time::Duration;

use chrono::{DateTime, Utc};
use pb_aws::deploy_tracking::DeploymentTracker;
use pb_aws::deployer::{StackRequest, StackState};
use pb_aws::deployments::{BeginError, DeploymentRecord};
use pb_aws::pipelines::PipelineRecord;
use pb_aws::tags::PIPELINE_ID_TAG;
use pb_domain::compliance::{pipeline_attributes, Target};
use pb_domain::deployment::{stack_action, template_hash, DeploymentStatus, StackAction};
use pb_domain::wire::deployments::ChangeSetView;

use crate::problem::ApiError;
use crate::routes::plugins::now_rfc3339;
use crate::services::compliance;
use crate::services::synthesis::{stored_definition, synthesize};
use crate::state::AppState;
use crate::tokens::random_id;

/// How long a deployment waits for CloudFormation to finish deleting a stack that a failed
/// first create left behind, before it gives up and asks to be retried (the API's own timeout is
/// 10 s).
const RECREATE_WAIT: Duration = Duration::from_secs(5);
const RECREATE_POLL: Duration = Duration::from_millis(500);

/// Starts a deployment (or a preview) of the stored pipeline; the deployment as recorded.
pub async fn deploy(
    state: &AppState,
    requested_by: &str,
    pipeline: &PipelineRecord,
    preview: bool,
) -> Result<DeploymentRecord, ApiError> {
    let (resolved, steps) = stored_definition(state, pipeline).await?;
    let attributes = pipeline_attributes(&resolved, &steps);
    compliance::check(
        state,
        &pipeline.org,
        Target::Pipeline,
        &pipeline.id,
        &attributes,
    )
    .await?;
    let synthesized = synthesize(&pipeline.org, &pipeline.id, &resolved, &steps)?;
    let body = synthesized.template.to_string();
    let hash = template_hash(&body);
    let now = now_rfc3339();
    let mut deployment = DeploymentRecord {
        id: new_deployment_id()?,
        org: pipeline.org.clone(),
        pipeline_id: pipeline.id.clone(),
        definition_version: pipeline.version,
        template_hash: hash.clone(),
        stack_name: synthesized.stack_name.clone(),
        region: state.deployer.region(),
        stack_id: None,
        status: DeploymentStatus::Pending,
        action: String::new(),
        stack_status: None,
        reason: None,
        change_set_id: None,
        requested_by: requested_by.to_string(),
        requested_at: now.clone(),
        updated_at: now,
    };
    let request = StackRequest {
        stack_name: &synthesized.stack_name,
        body: &body,
        template_hash: &hash,
        tags: &synthesized.stack_tags,
    };
    let stack = state.deployer.describe(&synthesized.stack_name).await?;
    if let Some(stack) = &stack {
        check_owner(stack, pipeline)?;
    }
    if preview {
        return start_preview(state, deployment, &request, stack.as_ref()).await;
    }
    if is_unchanged(state, pipeline, &hash, stack.as_ref()).await? {
        deployment.status = DeploymentStatus::Unchanged;
        deployment.action = "none".into();
        deployment.reason = Some("the template is the one last deployed; nothing was sent".into());
        state.deployments.record(&deployment).await?;
        return Ok(deployment);
    }
    let action = stack_action(stack.as_ref().map(|s| s.status.as_str()));
    if action == StackAction::Busy {
        let status = stack.map(|s| s.status).unwrap_or_default();
        return Err(ApiError::Conflict(format!(
            "stack {} is {status}; deploy again when it has finished",
            deployment.stack_name
        )));
    }
    state
        .deployments
        .begin(&deployment)
        .await
        .map_err(|error| match error {
            BeginError::Busy(holder) => ApiError::Conflict(format!(
                "deployment {holder} of this pipeline is still in progress"
            )),
            BeginError::Aws(aws) => ApiError::Aws(aws),
        })?;
    match start(state, &mut deployment, action, &request, stack.as_ref()).await {
        Ok(()) => Ok(deployment),
        Err(error) => {
            deployment.status = DeploymentStatus::Failed;
            deployment.reason = Some(error.to_string());
            deployment.updated_at = now_rfc3339();
            state.deployments.finish(&deployment, None).await?;
            Err(error)
        }
    }
}

/// A stack of the same name that another pipeline (or org) deployed is never touched.
fn check_owner(stack: &StackState, pipeline: &PipelineRecord) -> Result<(), ApiError> {
    let owner = stack.tags.get(PIPELINE_ID_TAG).map(String::as_str);
    let org = stack.tags.get("pipeline-builder:org").map(String::as_str);
    if owner == Some(pipeline.id.as_str()) && org == Some(pipeline.org.as_str()) {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "a stack named {} exists and was not deployed for this pipeline; it is left alone",
            stack_name_of(stack)
        )))
    }
}

fn stack_name_of(stack: &StackState) -> &str {
    stack.stack_id.split('/').nth(1).unwrap_or(&stack.stack_id)
}

/// The same template as the last successful deployment, onto a stack that still stands
/// as that deployment left it.
async fn is_unchanged(
    state: &AppState,
    pipeline: &PipelineRecord,
    hash: &str,
    stack: Option<&StackState>,
) -> Result<bool, ApiError> {
    let Some(last) = state
        .deployments
        .last_deployed(&pipeline.org, &pipeline.id)
        .await?
    else {
        return Ok(false);
    };
    Ok(last.template_hash == hash
        && stack.is_some_and(|s| {
            s.stack_id == last.stack_id
                && matches!(s.status.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE")
        }))
}

async fn start(
    state: &AppState,
    deployment: &mut DeploymentRecord,
    action: StackAction,
    request: &StackRequest<'_>,
    stack: Option<&StackState>,
) -> Result<(), ApiError> {
    let stack_id = match action {
        StackAction::Create | StackAction::Busy => {
            deployment.action = "create".into();
            state.deployer.create(request).await?
        }
        StackAction::Recreate => {
            let left = stack.map(|s| s.status.clone()).unwrap_or_default();
            deployment.action = "recreate".into();
            deployment.reason = Some(format!(
                "the stack stood {left}, which CloudFormation cannot update: it was deleted and created again"
            ));
            state.deployer.delete(request.stack_name).await?;
            wait_until_deleted(state, request.stack_name).await?;
            state.deployer.create(request).await?
        }
        StackAction::Update => {
            deployment.action = "update".into();
            match state.deployer.update(request).await? {
                Some(stack_id) => stack_id,
                None => {
                    deployment.status = DeploymentStatus::Unchanged;
                    deployment.stack_id = stack.map(|s| s.stack_id.clone());
                    deployment.reason = Some("CloudFormation found nothing to update".into());
                    deployment.updated_at = now_rfc3339();
                    state.deployments.finish(deployment, None).await?;
                    return Ok(());
                }
            }
        }
    };
    deployment.status = DeploymentStatus::InProgress;
    deployment.stack_id = Some(stack_id);
    deployment.updated_at = now_rfc3339();
    state.deployments.progress(deployment).await?;
    Ok(())
}

async fn wait_until_deleted(state: &AppState, stack_name: &str) -> Result<(), ApiError> {
    let deadline = tokio::time::Instant::now() + RECREATE_WAIT;
    loop {
        match state.deployer.describe(stack_name).await? {
            None => return Ok(()),
            Some(stack) if stack.status == "DELETE_COMPLETE" => return Ok(()),
            Some(stack) if stack.status == "DELETE_FAILED" => {
                return Err(ApiError::Conflict(format!(
                    "stack {stack_name} could not be deleted (DELETE_FAILED); delete it by hand, then deploy again"
                )))
            }
            Some(_) if tokio::time::Instant::now() >= deadline => {
                return Err(ApiError::Conflict(format!(
                    "stack {stack_name} is still being deleted; deploy again in a minute"
                )))
            }
            Some(_) => tokio::time::sleep(RECREATE_POLL).await,
        }
    }
}

async fn start_preview(
    state: &AppState,
    mut deployment: DeploymentRecord,
    request: &StackRequest<'_>,
    stack: Option<&StackState>,
) -> Result<DeploymentRecord, ApiError> {
    let exists = stack.is_some_and(|s| s.status != "REVIEW_IN_PROGRESS");
    let change_set_name = format!("pb-preview-{}", deployment.id);
    deployment.change_set_id = Some(
        state
            .deployer
            .preview(request, &change_set_name, exists)
            .await?,
    );
    deployment.status = DeploymentStatus::Preview;
    deployment.action = "preview".into();
    state.deployments.record(&deployment).await?;
    Ok(deployment)
}

/// The deployment as it stands, read from its stack when it is under way and has heard nothing
/// for the configured while.
pub async fn current(
    state: &AppState,
    mut deployment: DeploymentRecord,
) -> Result<DeploymentRecord, ApiError> {
    if deployment.status.is_terminal() || !is_quiet(state, &deployment) {
        return Ok(deployment);
    }
    let Some(stack) = state.deployer.describe(&deployment.stack_name).await? else {
        return Ok(deployment);
    };
    if deployment
        .stack_id
        .as_deref()
        .is_some_and(|id| id != stack.stack_id)
    {
        return Ok(deployment);
    }
    let tracker = DeploymentTracker {
        deployments: &state.deployments,
        registry: &state.registry,
        cloudformation: &state.cloudformation,
        events: &state.eventbridge,
        bus_name: &state.config.event_bus_name,
    };
    deployment = tracker
        .observe(deployment, &stack.stack_id, &stack.status, &now_rfc3339())
        .await?;
    Ok(deployment)
}

fn is_quiet(state: &AppState, deployment: &DeploymentRecord) -> bool {
    let Ok(updated) = DateTime::parse_from_rfc3339(&deployment.updated_at) else {
        return true;
    };
    let quiet = Utc::now().signed_duration_since(updated);
    quiet.to_std().unwrap_or_default() >= state.config.deployment_refresh_after
}

/// Starts deleting the pipeline's stack and removes its registry entry (the pipeline itself is
/// the caller's to delete next). Refused while a deployment is under way; a stack of that name
/// that is not this pipeline's is left alone (409). The artifact bucket is retained and empties
/// itself through its lifecycle.
pub async fn delete_stack(state: &AppState, pipeline: &PipelineRecord) -> Result<(), ApiError> {
    if let Some(holder) = state
        .deployments
        .lock_holder(&pipeline.org, &pipeline.id)
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "deployment {holder} of this pipeline is still in progress"
        )));
    }
    let registered = state
        .registry
        .get(&pipeline.id)
        .await?
        .filter(|entry| entry.org_id == pipeline.org);
    let last = state
        .deployments
        .list(&pipeline.org, &pipeline.id, 1)
        .await?
        .into_iter()
        .next();
    let stack_name = registered
        .as_ref()
        .map(|entry| entry.stack_name.clone())
        .or(last.map(|deployment| deployment.stack_name));
    if let Some(stack_name) = stack_name {
        if let Some(stack) = state.deployer.describe(&stack_name).await? {
            check_owner(&stack, pipeline)?;
            state.deployer.delete(&stack_name).await?;
        }
    }
    if registered.is_some() {
        state
            .registry
            .delete_owned(&pipeline.org, &pipeline.id)
            .await?;
    }
    Ok(())
}

/// A preview's proposed changes.
pub async fn changes(
    state: &AppState,
    deployment: &DeploymentRecord,
) -> Result<Option<ChangeSetView>, ApiError> {
    match &deployment.change_set_id {
        Some(id) => Ok(Some(state.deployer.change_set(id).await?)),
        None => Ok(None),
    }
}

/// Sortable by time (newest last), unique by its random part.
fn new_deployment_id() -> Result<String, ApiError> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%S%3f");
    let random = random_id().ok_or(ApiError::Internal)?;
    Ok(format!("dp-{stamp}-{}", &random[..12]))
}
