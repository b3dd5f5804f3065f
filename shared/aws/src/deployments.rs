//! Deployments in CatalogTable, under the org's partition (`PK=ORG#{org}`):
//! `DEPLOYMENT#{pipelineId}#{deploymentId}` for each request, `DEPLOYING#{pipelineId}` while one
//! is under way (so a second is refused, in the same transaction that records it), and
//! `DEPLOYED#{pipelineId}` for the last success (its template hash makes an unchanged template a
//! no-op). `PK=STACK#{region}#{stackName}` names the deployment a stack's events belong to.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use pb_domain::deployment::DeploymentStatus;
use serde::{Deserialize, Serialize};

use crate::attributes::{parse_item, s, to_item, Item};
use crate::conditional::written;
use crate::keys::{
    deployed_sk, deploying_sk, deployment_sk, deployments_sk_prefix, pipeline_pk, stack_pk,
    STACK_SK,
};
use crate::transactions::{failed_conditions, invalid_transaction};
use crate::AwsError;

/// One deployment request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    pub id: String,
    pub org: String,
    pub pipeline_id: String,
    /// The definition version that was synthesized.
    pub definition_version: u64,
    pub template_hash: String,
    pub stack_name: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_id: Option<String>,
    pub status: DeploymentStatus,
    /// `create`, `update`, `recreate` (a rolled-back first create deleted and created again),
    /// `preview` or `none`.
    pub action: String,
    /// The stack's last status seen (`CREATE_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_status: Option<String>,
    /// Why it failed (the first failed resource's reason), or a note on what was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_set_id: Option<String>,
    pub requested_by: String,
    pub requested_at: String,
    pub updated_at: String,
}

/// The pipeline's last successful deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastDeployed {
    pub deployment_id: String,
    pub template_hash: String,
    pub definition_version: u64,
    pub stack_id: String,
    pub deployed_at: String,
}

/// Which deployment a stack's events belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackOwner {
    pub org: String,
    pub pipeline_id: String,
    pub deployment_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BeginError {
    #[error("deployment {0} of this pipeline is still in progress")]
    Busy(String),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

#[derive(Debug, Clone)]
pub struct DeploymentStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lock {
    deployment_id: String,
}

impl DeploymentStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DeploymentStore {
            client,
            table: table.into(),
        }
    }

    /// Records a deployment that is starting: the pipeline's lock, the record and the stack's
    /// owner, in one transaction; `Busy` (naming the holder) when another holds the lock.
    pub async fn begin(&self, record: &DeploymentRecord) -> Result<(), BeginError> {
        let lock = self.put(
            org_item(
                &record.org,
                &deploying_sk(&record.pipeline_id),
                &Lock {
                    deployment_id: record.id.clone(),
                },
            )?,
            Some("attribute_not_exists(PK)"),
        )?;
        let owner = StackOwner {
            org: record.org.clone(),
            pipeline_id: record.pipeline_id.clone(),
            deployment_id: record.id.clone(),
        };
        let mut owner_item = to_item(&owner).map_err(serialization)?;
        owner_item.insert("PK".into(), s(stack_pk(&record.region, &record.stack_name)));
        owner_item.insert("SK".into(), s(STACK_SK));
        let writes = vec![
            lock,
            self.put(record_item(record)?, Some("attribute_not_exists(PK)"))?,
            self.put(owner_item, None)?,
        ];
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match failed_conditions::<3>(error.as_service_error()) {
                [true, ..] => {
                    let holder = self.lock_holder(&record.org, &record.pipeline_id).await?;
                    Err(BeginError::Busy(holder.unwrap_or_default()))
                }
                _ => Err(AwsError::classify("TransactWriteItems", error).into()),
            },
        }
    }

    /// Stores a deployment that never held the lock (unchanged, refused, previewed).
    pub async fn record(&self, record: &DeploymentRecord) -> Result<(), AwsError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record_item(record)?))
            .send()
            .await
            .map_err(|e| AwsError::classify("PutItem", e))?;
        Ok(())
    }

    /// Saves progress of a deployment still under way; `false` when it already ended.
    pub async fn progress(&self, record: &DeploymentRecord) -> Result<bool, AwsError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record_item(record)?))
            .condition_expression(UNDER_WAY)
            .set_expression_attribute_names(Some(under_way_names()))
            .set_expression_attribute_values(Some(under_way_values()))
            .send()
            .await;
        written("PutItem", result)
    }

    /// Ends a deployment: its final record, the lock released and, on success, the pipeline's
    /// last deployment, in one transaction. `false` when it had already ended (a repeated or late
    /// event), and then nothing changes.
    pub async fn finish(
        &self,
        record: &DeploymentRecord,
        deployed: Option<&LastDeployed>,
    ) -> Result<bool, AwsError> {
        let update = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record_item(record)?))
            .condition_expression(UNDER_WAY)
            .set_expression_attribute_names(Some(under_way_names()))
            .set_expression_attribute_values(Some(under_way_values()))
            .build()
            .map_err(invalid_transaction)?;
        let release = Delete::builder()
            .table_name(&self.table)
            .key("PK", s(pipeline_pk(&record.org)))
            .key("SK", s(deploying_sk(&record.pipeline_id)))
            .condition_expression("attribute_not_exists(PK) OR deploymentId = :id")
            .expression_attribute_values(":id", s(&record.id))
            .build()
            .map_err(invalid_transaction)?;
        let mut writes = vec![
            TransactWriteItem::builder().put(update).build(),
            TransactWriteItem::builder().delete(release).build(),
        ];
        if let Some(deployed) = deployed {
            let item = org_item(&record.org, &deployed_sk(&record.pipeline_id), deployed)?;
            writes.push(self.put(item, None)?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match failed_conditions::<2>(error.as_service_error()) {
                [true, _] => Ok(false),
                _ => Err(AwsError::classify("TransactWriteItems", error)),
            },
        }
    }

    pub async fn get(
        &self,
        org: &str,
        pipeline_id: &str,
        deployment_id: &str,
    ) -> Result<Option<DeploymentRecord>, AwsError> {
        self.get_org_item(
            org,
            &deployment_sk(pipeline_id, deployment_id),
            "deployment",
        )
        .await
    }

    /// The pipeline's deployments, newest first, at most `limit`.
    pub async fn list(
        &self,
        org: &str,
        pipeline_id: &str,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(pipeline_pk(org)))
            .expression_attribute_values(":prefix", s(deployments_sk_prefix(pipeline_id)))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true);
        let output = query
            .send()
            .await
            .map_err(|e| AwsError::classify("Query", e))?;
        output
            .items()
            .iter()
            .map(|item| parse_item(item, "deployment"))
            .collect()
    }

    pub async fn last_deployed(
        &self,
        org: &str,
        pipeline_id: &str,
    ) -> Result<Option<LastDeployed>, AwsError> {
        self.get_org_item(org, &deployed_sk(pipeline_id), "last deployment")
            .await
    }

    /// The id of the deployment holding the pipeline's lock.
    pub async fn lock_holder(
        &self,
        org: &str,
        pipeline_id: &str,
    ) -> Result<Option<String>, AwsError> {
        let lock: Option<Lock> = self
            .get_org_item(org, &deploying_sk(pipeline_id), "deployment lock")
            .await?;
        Ok(lock.map(|l| l.deployment_id))
    }

    pub async fn stack_owner(
        &self,
        region: &str,
        stack_name: &str,
    ) -> Result<Option<StackOwner>, AwsError> {
        self.get_keyed(stack_pk(region, stack_name), STACK_SK.into(), "stack owner")
            .await
    }

    async fn get_org_item<T: serde::de::DeserializeOwned>(
        &self,
        org: &str,
        sk: &str,
        what: &str,
    ) -> Result<Option<T>, AwsError> {
        self.get_keyed(pipeline_pk(org), sk.to_string(), what).await
    }

    async fn get_keyed<T: serde::de::DeserializeOwned>(
        &self,
        pk: String,
        sk: String,
        what: &str,
    ) -> Result<Option<T>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        output
            .item
            .as_ref()
            .map(|item| parse_item(item, what))
            .transpose()
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, AwsError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .build()
            .map_err(invalid_transaction)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

fn serialization(error: serde_json::Error) -> AwsError {
    AwsError::local("PutItem", "Serialization", error)
}

fn org_item<T: Serialize>(org: &str, sk: &str, value: &T) -> Result<Item, AwsError> {
    let mut item = to_item(value).map_err(serialization)?;
    item.insert("PK".into(), s(pipeline_pk(org)));
    item.insert("SK".into(), s(sk));
    Ok(item)
}

fn record_item(record: &DeploymentRecord) -> Result<Item, AwsError> {
    org_item(
        &record.org,
        &deployment_sk(&record.pipeline_id, &record.id),
        record,
    )
}

/// The condition of every write to a deployment that must still be under way.
const UNDER_WAY: &str = "#status IN (:pending, :in_progress)";

fn under_way_names() -> HashMap<String, String> {
    HashMap::from([("#status".to_string(), "status".to_string())])
}

fn under_way_values() -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            ":pending".to_string(),
            status_value(DeploymentStatus::Pending),
        ),
        (
            ":in_progress".to_string(),
            status_value(DeploymentStatus::InProgress),
        ),
    ])
}

fn status_value(status: DeploymentStatus) -> AttributeValue {
    s(serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default())
}
