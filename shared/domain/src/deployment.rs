//! Deployments: a pipeline's synthesized template sent to CloudFormation, and what its stack's
//! status says about it. Pure: the stores and CloudFormation calls live in pb-aws.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where a deployment stands. `Pending` until CloudFormation accepted the request; terminal
/// states never change again.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    /// The template equals the last successful deployment's: nothing was sent.
    Unchanged,
    /// A change set was created for review and is never executed.
    Preview,
}

impl DeploymentStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            DeploymentStatus::Pending | DeploymentStatus::InProgress
        )
    }
}

/// What a stack status (`CREATE_COMPLETE`, `UPDATE_ROLLBACK_IN_PROGRESS`, …) means for the
/// deployment that started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackOutcome {
    InProgress,
    Succeeded,
    /// The deployment failed; the stack stands in this final status.
    Failed,
    /// Not a status a deployment ends in or passes through (`DELETE_COMPLETE`, `IMPORT_*`,
    /// `REVIEW_IN_PROGRESS`, a status AWS adds later).
    Unrelated,
}

/// Only a `*_COMPLETE` that is not a rollback is success; a rollback that completes is still the
/// deployment's failure, and `*_FAILED` ends it too.
pub fn stack_outcome(status: &str) -> StackOutcome {
    match status {
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" => StackOutcome::Succeeded,
        "CREATE_FAILED"
        | "ROLLBACK_COMPLETE"
        | "ROLLBACK_FAILED"
        | "UPDATE_FAILED"
        | "UPDATE_ROLLBACK_COMPLETE"
        | "UPDATE_ROLLBACK_FAILED"
        | "DELETE_FAILED" => StackOutcome::Failed,
        "CREATE_IN_PROGRESS"
        | "ROLLBACK_IN_PROGRESS"
        | "UPDATE_IN_PROGRESS"
        | "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
        | "UPDATE_ROLLBACK_IN_PROGRESS"
        | "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS" => StackOutcome::InProgress,
        _ => StackOutcome::Unrelated,
    }
}

/// What the next deployment does with the stack as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackAction {
    Create,
    Update,
    /// A first create that rolled back leaves a stack CloudFormation cannot update, and a
    /// preview of a first deployment leaves one that holds only a change set
    /// (`REVIEW_IN_PROGRESS`): delete it, then create it again.
    Recreate,
    /// Something is already happening to the stack; wait for it.
    Busy,
}

/// `None` when there is no stack of that name.
pub fn stack_action(status: Option<&str>) -> StackAction {
    match status {
        None | Some("DELETE_COMPLETE") => StackAction::Create,
        Some("ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" | "REVIEW_IN_PROGRESS") => {
            StackAction::Recreate
        }
        Some(status) if status.ends_with("_IN_PROGRESS") => StackAction::Busy,
        Some(_) => StackAction::Update,
    }
}

/// The hash an unchanged template is recognised by (hex SHA-256 of the body sent).
pub fn template_hash(body: &str) -> String {
    Sha256::digest(body.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

pub const STACK_EVENT_SOURCE: &str = "aws.cloudformation";
pub const STACK_STATUS_DETAIL_TYPE: &str = "CloudFormation Stack Status Change";

/// A stack status change, as far as deployments need it. Region and stack name come from the
/// stack's ARN, not the envelope (which a cross-region or cross-account delivery may rewrite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackStatusEvent {
    pub stack_id: String,
    pub stack_name: String,
    pub region: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackEventError {
    #[error("body is not a CloudFormation stack status event: {0}")]
    Malformed(String),
    #[error("detail-type {0:?} is not a CloudFormation Stack Status Change")]
    UnexpectedDetailType(String),
    #[error("{0} is not a CloudFormation stack ARN")]
    BadStackId(String),
}

#[derive(Deserialize)]
struct RawStackEvent {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: RawStackDetail,
}

#[derive(Deserialize)]
struct RawStackDetail {
    #[serde(rename = "stack-id")]
    stack_id: String,
    #[serde(rename = "status-details")]
    status_details: RawStatusDetails,
}

#[derive(Deserialize)]
struct RawStatusDetails {
    status: String,
}

#[derive(Deserialize)]
struct Source {
    source: Option<String>,
}

/// Whether an event body says it comes from CloudFormation (the ingest queue carries both
/// CodePipeline and CloudFormation events).
pub fn is_stack_event(body: &str) -> bool {
    serde_json::from_str::<Source>(body)
        .ok()
        .and_then(|s| s.source)
        .is_some_and(|source| source == STACK_EVENT_SOURCE)
}

pub fn parse_stack_event(body: &str) -> Result<StackStatusEvent, StackEventError> {
    let raw: RawStackEvent =
        serde_json::from_str(body).map_err(|e| StackEventError::Malformed(e.to_string()))?;
    if raw.source != STACK_EVENT_SOURCE {
        return Err(StackEventError::Malformed(format!(
            "source {:?}",
            raw.source
        )));
    }
    if raw.detail_type != STACK_STATUS_DETAIL_TYPE {
        return Err(StackEventError::UnexpectedDetailType(raw.detail_type));
    }
    let stack_id = raw.detail.stack_id;
    // arn:{partition}:cloudformation:{region}:{account}:stack/{name}/{uuid}
    let parts: Vec<&str> = stack_id.splitn(6, ':').collect();
    let name = parts
        .get(5)
        .and_then(|resource| resource.strip_prefix("stack/"))
        .and_then(|rest| rest.split('/').next())
        .filter(|name| !name.is_empty());
    match (parts.get(2), parts.get(3), name) {
        (Some(&"cloudformation"), Some(region), Some(name)) if !region.is_empty() => {
            Ok(StackStatusEvent {
                stack_name: name.to_string(),
                region: region.to_string(),
                status: raw.detail.status_details.status,
                stack_id,
            })
        }
        _ => Err(StackEventError::BadStackId(stack_id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_what_they_mean_for_the_deployment() {
        assert_eq!(stack_outcome("CREATE_COMPLETE"), StackOutcome::Succeeded);
        assert_eq!(
            stack_outcome("UPDATE_ROLLBACK_COMPLETE"),
            StackOutcome::Failed
        );
        assert_eq!(stack_outcome("ROLLBACK_COMPLETE"), StackOutcome::Failed);
        assert_eq!(
            stack_outcome("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
            StackOutcome::InProgress
        );
        assert_eq!(stack_outcome("DELETE_COMPLETE"), StackOutcome::Unrelated);
        assert_eq!(stack_outcome("SOMETHING_NEW"), StackOutcome::Unrelated);
    }

    #[test]
    fn the_stack_as_it_stands_decides_the_call() {
        assert_eq!(stack_action(None), StackAction::Create);
        assert_eq!(
            stack_action(Some("ROLLBACK_COMPLETE")),
            StackAction::Recreate
        );
        assert_eq!(
            stack_action(Some("UPDATE_ROLLBACK_COMPLETE")),
            StackAction::Update
        );
        assert_eq!(stack_action(Some("CREATE_COMPLETE")), StackAction::Update);
        assert_eq!(stack_action(Some("UPDATE_IN_PROGRESS")), StackAction::Busy);
        assert_eq!(
            stack_action(Some("REVIEW_IN_PROGRESS")),
            StackAction::Recreate
        );
        assert_eq!(stack_action(Some("DELETE_IN_PROGRESS")), StackAction::Busy);
    }

    #[test]
    fn a_stack_status_event_names_its_stack_by_the_arn() {
        let body = include_str!("../../../events/cloudformation/stack-status-create-complete.json");
        assert!(is_stack_event(body));
        let event = parse_stack_event(body).unwrap();
        assert_eq!(event.stack_name, "pb-acme-storefront-web");
        assert_eq!(event.region, "us-east-1");
        assert_eq!(event.status, "CREATE_COMPLETE");
        assert!(!is_stack_event(r#"{"source": "aws.codepipeline"}"#));
        let bad = body.replace("arn:aws:cloudformation:us-east-1", "arn:aws:s3:us-east-1");
        assert!(matches!(
            parse_stack_event(&bad),
            Err(StackEventError::BadStackId(_))
        ));
    }

    #[test]
    fn the_hash_is_the_bodys() {
        assert_eq!(
            template_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(template_hash("{}"), template_hash("{ }"));
    }
}
