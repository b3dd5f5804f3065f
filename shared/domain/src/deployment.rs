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
    fn the_hash_is_the_bodys() {
        assert_eq!(
            template_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(template_hash("{}"), template_hash("{ }"));
    }
}
