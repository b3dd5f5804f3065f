//! Pipeline definitions in CatalogTable: `PK=ORG#{org}`, `SK=PIPELINE#{id}`, with a
//! `version` number every write is conditioned on, so concurrent edits cannot overwrite each
//! other. Public pipelines are also indexed on GSI1 for the other orgs.
//!
//! A name belongs to one pipeline of the org (its stack and CodePipeline are named after it):
//! beside the pipelines, `SK=PIPELINE_NAME#{name}` holds the id of the pipeline that claimed the
//! name, and every write that names a pipeline claims the name in the same transaction. A
//! pipeline stored before names were claimed holds no claim until its first update.

use crate::keys::{
    pipeline_name_sk, pipeline_pk, pipeline_sk, registry_pk, PIPELINE_SK_PREFIX, REGISTRY_SK,
};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
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
    #[error("the org's pipeline {pipeline_id} is already named '{name}'")]
    NameTaken { name: String, pipeline_id: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// The pipeline of the org that holds a name.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameClaim {
    pipeline_id: String,
    name: String,
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

    /// Stores a new pipeline (its id is fresh; an existing one is never overwritten) with the
    /// claim on its name.
    pub async fn create(&self, record: &PipelineRecord) -> Result<(), WriteError> {
        let writes = vec![
            self.pipeline_put(record, "attribute_not_exists(PK)", None)?,
            self.name_claim(record)?,
        ];
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The writes' positions: the pipeline, then its name's claim.
            Err(error) => match failed_conditions(error.as_service_error()) {
                [true, _] => Err(WriteError::Stale { expected: 0 }),
                [false, true] => Err(name_taken(&record.spec.name, error.as_service_error())),
                [false, false] => Err(AwsError::classify("TransactWriteItems", error).into()),
            },
        }
    }

    /// Replaces `current` with `next` (its next version) if the pipeline is still at
    /// `current.version`, claiming `next`'s name. A rename frees the old name when this pipeline
    /// holds it: a pipeline stored before names were claimed may not, and another may.
    pub async fn replace(
        &self,
        current: &PipelineRecord,
        next: &PipelineRecord,
    ) -> Result<(), WriteError> {
        let mut writes = vec![
            self.pipeline_put(
                next,
                "attribute_exists(PK) AND version = :expected",
                Some(current.version),
            )?,
            self.name_claim(next)?,
        ];
        if current.spec.name != next.spec.name && self.holds_name(current).await? {
            writes.push(self.name_release(current)?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The writes' positions: the pipeline, its name's claim, then the old name's release.
            // A claim this pipeline holds changes only with this pipeline's own (versioned)
            // writes, so a failed release means the pipeline changed too.
            Err(error) => match failed_conditions(error.as_service_error()) {
                [true, _, _] | [false, false, true] => {
                    self.explain_condition_failure(&next.org, &next.id, current.version)
                        .await
                }
                [false, true, _] => Err(name_taken(&next.spec.name, error.as_service_error())),
                [false, false, false] => {
                    Err(AwsError::classify("TransactWriteItems", error).into())
                }
            },
        }
    }

    /// Deletes one of the org's pipelines and frees its name. Unless `force`, the org's own
    /// registry entry for it (a deployed stack) blocks the delete inside the same transaction, so
    /// an entry registered between a check and the delete cannot be left pointing at nothing.
    /// The delete applies to the version it reads (`expected_version` must be that one), so the
    /// name it frees is that version's.
    pub async fn delete(
        &self,
        org: &str,
        id: &str,
        expected_version: Option<u64>,
        force: bool,
    ) -> Result<(), WriteError> {
        let current = self.get(org, id).await?.ok_or(WriteError::NotFound)?;
        if let Some(expected) = expected_version.filter(|v| *v != current.version) {
            return Err(WriteError::Stale { expected });
        }
        let mut writes = vec![self.delete_write(org, id, current.version)?];
        if !force {
            writes.push(self.unregistered_check(org, id)?);
        }
        if self.holds_name(&current).await? {
            writes.push(self.name_release(&current)?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        let Err(error) = result else {
            return Ok(());
        };
        // The writes' positions: the delete, the registry check unless forced, then the name's
        // release (which fails only when the pipeline changed, as in `replace`).
        let failed: [bool; 3] = failed_conditions(error.as_service_error());
        if !force && failed[1] {
            Err(WriteError::Registered)
        } else if failed.contains(&true) {
            self.explain_condition_failure(org, id, current.version)
                .await
        } else {
            Err(AwsError::classify("TransactWriteItems", error).into())
        }
    }

    fn pipeline_put(
        &self,
        record: &PipelineRecord,
        condition: &str,
        expected_version: Option<u64>,
    ) -> Result<TransactWriteItem, AwsError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record_item(record)?))
            .condition_expression(condition)
            .set_expression_attribute_values(
                expected_version.map(|v| [(":expected".to_string(), n(v))].into()),
            )
            .build()
            .map_err(invalid_transaction)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete_write(
        &self,
        org: &str,
        id: &str,
        expected_version: u64,
    ) -> Result<TransactWriteItem, AwsError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("PK", s(pipeline_pk(org)))
            .key("SK", s(pipeline_sk(id)))
            .condition_expression("attribute_exists(PK) AND version = :expected")
            .expression_attribute_values(":expected", n(expected_version))
            .build()
            .map_err(invalid_transaction)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Claims `record`'s name for it unless another pipeline of the org holds the name. A
    /// refused claim returns the claim it ran into, which names the holder.
    fn name_claim(&self, record: &PipelineRecord) -> Result<TransactWriteItem, AwsError> {
        let claim = NameClaim {
            pipeline_id: record.id.clone(),
            name: record.spec.name.clone(),
        };
        let mut item =
            to_item(&claim).map_err(|e| AwsError::local("PutItem", "Serialization", e))?;
        item.insert("PK".into(), s(pipeline_pk(&record.org)));
        item.insert("SK".into(), s(pipeline_name_sk(&record.spec.name)));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR pipelineId = :id")
            .expression_attribute_values(":id", s(&record.id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(invalid_transaction)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Frees `record`'s name, never another pipeline's claim on it.
    fn name_release(&self, record: &PipelineRecord) -> Result<TransactWriteItem, AwsError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("PK", s(pipeline_pk(&record.org)))
            .key("SK", s(pipeline_name_sk(&record.spec.name)))
            .condition_expression("attribute_not_exists(PK) OR pipelineId = :id")
            .expression_attribute_values(":id", s(&record.id))
            .build()
            .map_err(invalid_transaction)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Whether `record`'s pipeline holds the claim on its name (consistent read).
    async fn holds_name(&self, record: &PipelineRecord) -> Result<bool, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(pipeline_pk(&record.org)))
            .key("SK", s(pipeline_name_sk(&record.spec.name)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        let claim: Option<NameClaim> = output
            .item
            .as_ref()
            .map(|item| parse_item(item, "pipeline name claim"))
            .transpose()?;
        Ok(claim.is_some_and(|claim| claim.pipeline_id == record.id))
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

/// The refusal of a claim on `name`, naming the pipeline that holds it as the canceled claim
/// found it (claims are the second write of their transaction).
fn name_taken(name: &str, error: Option<&TransactWriteItemsError>) -> WriteError {
    let found = match error {
        Some(TransactWriteItemsError::TransactionCanceledException(canceled)) => canceled
            .cancellation_reasons()
            .get(1)
            .and_then(|reason| reason.item()),
        _ => None,
    };
    let Some(found) = found else {
        return AwsError::local(
            "TransactWriteItems",
            "InvalidResponse",
            "a refused name claim came back without the claim that refused it",
        )
        .into();
    };
    match parse_item::<NameClaim>(found, "pipeline name claim") {
        Ok(claim) => WriteError::NameTaken {
            name: name.to_string(),
            pipeline_id: claim.pipeline_id,
        },
        Err(error) => error.into(),
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
