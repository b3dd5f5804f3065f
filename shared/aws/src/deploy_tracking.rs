//! What a stack status means for the deployment that started it, applied: from a stack status
//! event (ingest) or from `DescribeStacks` when no event came (the API's refresh, and local runs,
//! whose emulator emits none). A deployment ends once: the registry entry is written (so a
//! pipeline is registered because it was deployed), `Deployment Completed` goes to the platform
//! bus, then the record ends and the lock is released. A repeated or late status finds it ended
//! and changes nothing; a failure before the end leaves it under way, so the next event or
//! refresh tries again (the bus may then see the event twice: at-least-once).

use pb_domain::deployment::{stack_outcome, DeploymentStatus, StackOutcome};
use serde::Serialize;

use crate::deployer::first_failure;
use crate::deployments::{DeploymentRecord, DeploymentStore, LastDeployed};
use crate::publisher::put_event;
use crate::registry::{Registry, RegistryEntry};
use crate::AwsError;

pub const DEPLOYMENT_SOURCE: &str = "pipeline-builder.deployments";
pub const DEPLOYMENT_COMPLETED: &str = "Deployment Completed";

/// The detail of `Deployment Completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCompleted<'a> {
    pub org: &'a str,
    pub pipeline_id: &'a str,
    pub deployment_id: &'a str,
    pub status: DeploymentStatus,
    pub stack_name: &'a str,
    pub stack_id: Option<&'a str>,
    pub stack_status: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub definition_version: u64,
}

pub struct DeploymentTracker<'a> {
    pub deployments: &'a DeploymentStore,
    pub registry: &'a Registry,
    pub cloudformation: &'a aws_sdk_cloudformation::Client,
    pub events: &'a aws_sdk_eventbridge::Client,
    pub bus_name: &'a str,
}

impl DeploymentTracker<'_> {
    /// Applies `status` of the stack `stack_id` to `record` (as stored); the record as it now
    /// stands.
    pub async fn observe(
        &self,
        mut record: DeploymentRecord,
        stack_id: &str,
        status: &str,
        now: &str,
    ) -> Result<DeploymentRecord, AwsError> {
        if record.status.is_terminal() {
            return Ok(record);
        }
        record.stack_id = Some(stack_id.to_string());
        record.stack_status = Some(status.to_string());
        record.updated_at = now.to_string();
        match stack_outcome(status) {
            StackOutcome::Unrelated => Ok(record),
            StackOutcome::InProgress => {
                record.status = DeploymentStatus::InProgress;
                self.deployments.progress(&record).await?;
                Ok(record)
            }
            StackOutcome::Succeeded => {
                record.status = DeploymentStatus::Succeeded;
                self.register(&record, stack_id, now).await?;
                let deployed = LastDeployed {
                    deployment_id: record.id.clone(),
                    template_hash: record.template_hash.clone(),
                    definition_version: record.definition_version,
                    stack_id: stack_id.to_string(),
                    deployed_at: now.to_string(),
                };
                self.end(&record, Some(&deployed)).await?;
                Ok(record)
            }
            StackOutcome::Failed => {
                record.status = DeploymentStatus::Failed;
                let cause = first_failure(self.cloudformation, stack_id).await?;
                record.reason = Some(match cause {
                    Some(cause) => format!("the stack ended {status}: {cause}"),
                    None => format!("the stack ended {status}"),
                });
                self.end(&record, None).await?;
                Ok(record)
            }
        }
    }

    async fn register(
        &self,
        record: &DeploymentRecord,
        stack_id: &str,
        now: &str,
    ) -> Result<(), AwsError> {
        let entry = RegistryEntry {
            pipeline_id: record.pipeline_id.clone(),
            org_id: record.org.clone(),
            // The CodePipeline is named as its stack.
            pipeline_name: record.stack_name.clone(),
            stack_name: record.stack_name.clone(),
            region: record.region.clone(),
            last_deployed: now.to_string(),
            stack_id: Some(stack_id.to_string()),
            account: account_of(stack_id),
            definition_version: Some(record.definition_version),
        };
        if self.registry.put_owned(&entry).await? {
            Ok(())
        } else {
            Err(AwsError::Rejected {
                operation: "PutItem",
                code: "RegistryOwnedElsewhere".into(),
                message: format!(
                    "pipeline id {} is registered to another org",
                    record.pipeline_id
                ),
            })
        }
    }

    async fn end(
        &self,
        record: &DeploymentRecord,
        deployed: Option<&LastDeployed>,
    ) -> Result<(), AwsError> {
        let detail = DeploymentCompleted {
            org: &record.org,
            pipeline_id: &record.pipeline_id,
            deployment_id: &record.id,
            status: record.status,
            stack_name: &record.stack_name,
            stack_id: record.stack_id.as_deref(),
            stack_status: record.stack_status.as_deref(),
            reason: record.reason.as_deref(),
            definition_version: record.definition_version,
        };
        let detail = serde_json::to_string(&detail)
            .map_err(|e| AwsError::local("PutEvents", "Serialization", e))?;
        put_event(
            self.events,
            self.bus_name,
            DEPLOYMENT_SOURCE,
            DEPLOYMENT_COMPLETED,
            detail,
        )
        .await?;
        self.deployments.finish(record, deployed).await?;
        Ok(())
    }
}

/// The account in a stack ARN (`arn:aws:cloudformation:{region}:{account}:stack/…`).
pub fn account_of(stack_id: &str) -> Option<String> {
    stack_id
        .split(':')
        .nth(4)
        .filter(|account| !account.is_empty())
        .map(str::to_string)
}
