//! Pipeline definitions in CatalogTable: `PK=ORG#{org}`, `SK=PIPELINE#{id}`, with a
//! `version` number every write is conditioned on, so concurrent edits cannot overwrite each
//! other. Public pipelines are also indexed on GSI1 for the other orgs.

use crate::conditional::written;
use crate::keys::{pipeline_pk, pipeline_sk, registry_pk, PIPELINE_SK_PREFIX, REGISTRY_SK};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, TransactWriteItem};
use pb_domain::pipeline::{PinnedStep, PipelineSpec};
use pb_domain::plugin::AccessModifier;
use serde::{Deserialize, Serialize};

use crate::attributes::{n, parse_item, query_items, s, to_item, Item};
use crate::transactions::{failed_conditions, invalid_transaction};
use crate::AwsError;

pub const PUBLIC_PIPELINES_GSI1PK: &str = "PUBLIC#PIPELINE";

/// A stored pipeline: the definition as written (templates unexpanded) and the plugin versions
/// its steps were pinned to at write time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRecord {
    pub id: String,
    pub org: String,
    pub version: u64,
    pub spec: PipelineSpec,
    pub pinned: Vec<PinnedStep>,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
}

impl PipelineRecord {
    pub fn is_public(&self) -> bool {
        self.spec.access_modifier == AccessModifier::Public
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the pipeline does not exist")]
    NotFound,
    #[error("the pipeline changed since version {expected} was read")]
    Stale { expected: u64 },
    #[error("the pipeline is registered as deployed")]
    Registered,
    #[error(transparent)]
    Aws(#[from] AwsError),
}

#[derive(Debug, Clone)]
pub struct PipelineStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl PipelineStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        PipelineStore {
            client,
            table: table.into(),
        }
    }

    /// Stores a new pipeline (its id is fresh; an existing one is never overwritten).
    pub async fn create(&self, record: &PipelineRecord) -> Result<(), WriteError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record_item(record)?))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        if written("PutItem", result)? {
            Ok(())
        } else {
            Err(WriteError::Stale { expected: 0 })
        }
    }

    /// Replaces a pipeline if it is still at `expected_version`; `record.version` must be the
    /// next one.
    pub async fn replace(
        &self,
        record: &PipelineRecord,
        expected_version: u64,
    ) -> Result<(), WriteError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record_item(record)?))
            .condition_expression("attribute_exists(PK) AND version = :expected")
            .expression_attribute_values(":expected", n(expected_version))
            .send()
            .await;
        if written("PutItem", result)? {
            Ok(())
        } else {
            self.explain_condition_failure(&record.org, &record.id, expected_version)
                .await
        }
    }

    /// Deletes one of the org's pipelines. Unless `force`, the org's own registry entry for it
    /// (a deployed stack) blocks the delete inside the same transaction, so an entry registered
    /// between a check and the delete cannot be left pointing at nothing.
    pub async fn delete(
        &self,
        org: &str,
        id: &str,
        expected_version: Option<u64>,
        force: bool,
    ) -> Result<(), WriteError> {
        let mut writes = vec![self.delete_write(org, id, expected_version)?];
        if !force {
            writes.push(self.unregistered_check(org, id)?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The writes' positions: the delete, then the registry check.
            Err(error) => match failed_conditions(error.as_service_error()) {
                [_, true] => Err(WriteError::Registered),
                [true, false] => {
                    self.explain_condition_failure(org, id, expected_version.unwrap_or(0))
                        .await
                }
                [false, false] => Err(AwsError::classify("TransactWriteItems", error).into()),
            },
        }
    }

    fn delete_write(
        &self,
        org: &str,
        id: &str,
        expected_version: Option<u64>,
    ) -> Result<TransactWriteItem, AwsError> {
        let mut delete = Delete::builder()
            .table_name(&self.table)
            .key("PK", s(pipeline_pk(org)))
            .key("SK", s(pipeline_sk(id)));
        delete = match expected_version {
            Some(version) => delete
                .condition_expression("attribute_exists(PK) AND version = :expected")
                .expression_attribute_values(":expected", n(version)),
            None => delete.condition_expression("attribute_exists(PK)"),
        };
        let delete = delete.build().map_err(invalid_transaction)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Another org's entry under the same id does not block: it names a stack of theirs.
    fn unregistered_check(&self, org: &str, id: &str) -> Result<TransactWriteItem, AwsError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("PK", s(registry_pk(id)))
            .key("SK", s(REGISTRY_SK))
            .condition_expression("attribute_not_exists(PK) OR orgId <> :org")
            .expression_attribute_values(":org", s(org))
            .build()
            .map_err(invalid_transaction)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    async fn explain_condition_failure(
        &self,
        org: &str,
        id: &str,
        expected: u64,
    ) -> Result<(), WriteError> {
        match self.get(org, id).await? {
            None => Err(WriteError::NotFound),
            Some(_) => Err(WriteError::Stale { expected }),
        }
    }

    /// One of the org's own pipelines (consistent read).
    pub async fn get(&self, org: &str, id: &str) -> Result<Option<PipelineRecord>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(pipeline_pk(org)))
            .key("SK", s(pipeline_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        output.item.as_ref().map(record_from_item).transpose()
    }

    /// Another org's pipeline, only when it is public.
    pub async fn get_public(&self, id: &str) -> Result<Option<PipelineRecord>, AwsError> {
        let query = self
            .public_query()
            .key_condition_expression("GSI1PK = :pk AND GSI1SK = :sk")
            .expression_attribute_values(":sk", s(pipeline_sk(id)));
        Ok(query_records(query).await?.into_iter().next())
    }

    /// Every pipeline of the org.
    pub async fn org_pipelines(&self, org: &str) -> Result<Vec<PipelineRecord>, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(pipeline_pk(org)))
            .expression_attribute_values(":prefix", s(PIPELINE_SK_PREFIX))
            .consistent_read(true);
        query_records(query).await
    }

    /// Every public pipeline of every org.
    pub async fn public_pipelines(&self) -> Result<Vec<PipelineRecord>, AwsError> {
        query_records(self.public_query().key_condition_expression("GSI1PK = :pk")).await
    }

    fn public_query(&self) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .expression_attribute_values(":pk", s(PUBLIC_PIPELINES_GSI1PK))
    }
}

fn record_item(record: &PipelineRecord) -> Result<Item, AwsError> {
    let mut item = to_item(record).map_err(|e| AwsError::local("PutItem", "Serialization", e))?;
    item.insert("PK".into(), s(pipeline_pk(&record.org)));
    item.insert("SK".into(), s(pipeline_sk(&record.id)));
    if record.is_public() {
        item.insert("GSI1PK".into(), s(PUBLIC_PIPELINES_GSI1PK));
        item.insert("GSI1SK".into(), s(pipeline_sk(&record.id)));
    }
    Ok(item)
}

fn record_from_item(item: &Item) -> Result<PipelineRecord, AwsError> {
    parse_item(item, "pipeline")
}

async fn query_records(query: QueryFluentBuilder) -> Result<Vec<PipelineRecord>, AwsError> {
    query_items(query)
        .await?
        .iter()
        .map(record_from_item)
        .collect()
}
