//! ExecutionsTable: execution, stage and action items and the daily rollups.

use std::collections::{BTreeMap, BTreeSet};

use crate::conditional::written;
use crate::keys::{
    action_sk, execution_pk, execution_sk, history_attributes, rollup_facet_sk, rollup_pk,
    stage_sk, TIMELINE_SK,
};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use pb_domain::dora::DeploymentTimeline;
use pb_domain::execution::{Completion, GroupItems, GroupPlan, ItemState, LevelItem};
use pb_domain::rollup::Counters;
use thiserror::Error;

use crate::attributes::{batch_get_consistent, from_item, n, query_items, s, to_item, Item};
use crate::rollups::{facet_updates, merge, rollup_from_item, FacetUpdate};
use crate::transactions::invalid_transaction;
use crate::AwsError;

#[derive(Debug, Error)]
pub enum CommitError {
    /// Another writer changed an item since it was read: re-read and plan again.
    #[error("an item changed since it was read")]
    Conflict,
    #[error(transparent)]
    Aws(#[from] AwsError),
}

#[derive(Debug, Clone)]
pub struct ExecutionStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn item_key(item: &ItemState) -> (String, String) {
    let attempt = item.attempt.unwrap_or(1);
    let sk = match (&item.stage, &item.action) {
        (None, _) => execution_sk(&item.execution_id),
        (Some(stage), None) => stage_sk(&item.execution_id, stage, attempt),
        (Some(stage), Some(action)) => action_sk(&item.execution_id, stage, action, attempt),
    };
    (execution_pk(&item.pipeline_id), sk)
}

fn level_key(pipeline_id: &str, execution_id: &str, level: &LevelItem) -> (String, String) {
    let sk = match level {
        LevelItem::Stage { stage, attempt } => stage_sk(execution_id, stage, *attempt),
        LevelItem::Action {
            stage,
            action,
            attempt,
        } => action_sk(execution_id, stage, action, *attempt),
    };
    (execution_pk(pipeline_id), sk)
}

fn decode<T: serde::de::DeserializeOwned>(
    item: Option<Item>,
    operation: &'static str,
) -> Result<Option<T>, AwsError> {
    item.map(|item| from_item(&item).map_err(|e| AwsError::local(operation, "CorruptItem", e)))
        .transpose()
}

fn serialization_error(e: serde_json::Error) -> AwsError {
    AwsError::local("TransactWriteItems", "Serialization", e)
}

impl ExecutionStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        ExecutionStore {
            client,
            table: table.into(),
        }
    }

    /// Reads, in one consistent request, the execution item, the stage and action items of
    /// `levels`, and (`with_timeline`, for production stage events) the pipeline's deployment
    /// timeline.
    pub async fn load(
        &self,
        pipeline_id: &str,
        execution_id: &str,
        levels: impl IntoIterator<Item = LevelItem>,
        with_timeline: bool,
    ) -> Result<GroupItems, AwsError> {
        let execution_key = (execution_pk(pipeline_id), execution_sk(execution_id));
        let levels: BTreeSet<LevelItem> = levels.into_iter().collect();
        if levels.is_empty() && !with_timeline {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("PK", s(execution_key.0))
                .key("SK", s(execution_key.1))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| AwsError::classify("GetItem", e))?;
            return Ok(GroupItems {
                execution: decode(output.item, "GetItem")?,
                ..GroupItems::default()
            });
        }
        let timeline_key = (execution_pk(pipeline_id), TIMELINE_SK.to_string());
        let level_keys: Vec<(LevelItem, (String, String))> = levels
            .into_iter()
            .map(|level| {
                let key = level_key(pipeline_id, execution_id, &level);
                (level, key)
            })
            .collect();
        let mut keys = vec![execution_key.clone()];
        keys.extend(level_keys.iter().map(|(_, key)| key.clone()));
        if with_timeline {
            keys.push(timeline_key.clone());
        }
        let mut found = batch_get_consistent(&self.client, &self.table, &keys).await?;
        let mut items = GroupItems {
            execution: decode(found.remove(&execution_key), "BatchGetItem")?,
            timeline: decode(found.remove(&timeline_key), "BatchGetItem")?,
            ..GroupItems::default()
        };
        for (level, key) in level_keys {
            if let Some(item) = decode(found.remove(&key), "BatchGetItem")? {
                items.levels.insert(level, item);
            }
        }
        Ok(items)
    }

    /// Writes a plan atomically: changed items conditioned on the revision read, and the rollup
    /// deltas, in one request.
    pub async fn commit(&self, plan: &GroupPlan, read: &GroupItems) -> Result<(), CommitError> {
        let mut writes = Vec::new();
        if let Some(new) = &plan.execution {
            writes.push(self.conditional_put(new, read.execution.as_ref())?);
        }
        for (level, new) in &plan.levels {
            writes.push(self.conditional_put(new, read.levels.get(level))?);
        }
        let Some(org_pipeline) = plan.execution.as_ref().or(plan.levels.values().next()) else {
            return Ok(());
        };
        if let Some(timeline) = &plan.timeline {
            writes.push(self.timeline_put(
                &org_pipeline.pipeline_id,
                timeline,
                read.timeline.as_ref(),
            )?);
        }
        for change in &plan.rollups {
            for update in facet_updates(change)? {
                writes.push(self.rollup_update(
                    &org_pipeline.org_id,
                    &org_pipeline.pipeline_id,
                    &change.day,
                    update,
                )?);
            }
        }
        if let [TransactWriteItem { put: Some(put), .. }] = writes.as_slice() {
            return self.put_alone(put.clone()).await;
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_transaction_conflict(e.as_service_error()) => Err(CommitError::Conflict),
            Err(e) => Err(AwsError::classify("TransactWriteItems", e).into()),
        }
    }

    async fn put_alone(&self, put: Put) -> Result<(), CommitError> {
        let result = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await;
        if written("PutItem", result)? {
            Ok(())
        } else {
            Err(CommitError::Conflict)
        }
    }

    fn conditional_put(
        &self,
        new: &ItemState,
        old: Option<&ItemState>,
    ) -> Result<TransactWriteItem, AwsError> {
        let (pk, sk) = item_key(new);
        let mut item = to_item(new).map_err(serialization_error)?;
        item.insert("PK".into(), s(pk));
        item.insert("SK".into(), s(sk));
        // A put replaces the whole item, so an execution that changed status or branch leaves
        // its old index partitions in the same write.
        for (name, value) in history_attributes(new) {
            item.insert(name.into(), s(value));
        }
        self.put_if_unchanged(item, old.map(|old| old.rev))
    }

    /// A put of an item that must still be at the revision read (`None`: must not exist yet).
    fn put_if_unchanged(
        &self,
        item: Item,
        read_rev: Option<u64>,
    ) -> Result<TransactWriteItem, AwsError> {
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = match read_rev {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(rev) => put
                .condition_expression("#rev = :rev")
                .expression_attribute_names("#rev", "rev")
                .expression_attribute_values(":rev", n(rev)),
        };
        let put = put.build().map_err(invalid_transaction)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Conditioned on the revision read, like the execution items: two executions of one
    /// pipeline ending at once both read, one writes, the other re-reads and plans again.
    fn timeline_put(
        &self,
        pipeline_id: &str,
        new: &DeploymentTimeline,
        old: Option<&DeploymentTimeline>,
    ) -> Result<TransactWriteItem, AwsError> {
        let mut item = to_item(new).map_err(serialization_error)?;
        item.insert("PK".into(), s(execution_pk(pipeline_id)));
        item.insert("SK".into(), s(TIMELINE_SK));
        self.put_if_unchanged(item, old.map(|old| old.rev))
    }

    /// Counters are `ADD`ed (so concurrent executions never lose counts); notes are `SET`, the
    /// last write winning.
    fn rollup_update(
        &self,
        org_id: &str,
        pipeline_id: &str,
        day: &str,
        change: FacetUpdate,
    ) -> Result<TransactWriteItem, AwsError> {
        let mut sets: Vec<String> = ["#org = :org", "#day = :day", "#pid = :pid"]
            .map(String::from)
            .into();
        let mut adds = Vec::new();
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("PK", s(rollup_pk(org_id, day)))
            .key(
                "SK",
                s(rollup_facet_sk(change.facet.sk_prefix(), pipeline_id)),
            )
            .expression_attribute_names("#org", "orgId")
            .expression_attribute_names("#day", "day")
            .expression_attribute_names("#pid", "pipelineId")
            .expression_attribute_values(":org", s(org_id))
            .expression_attribute_values(":day", s(day))
            .expression_attribute_values(":pid", s(pipeline_id));
        for (i, (name, value)) in change.counters.iter().enumerate() {
            adds.push(format!("#c{i} :c{i}"));
            update = update
                .expression_attribute_names(format!("#c{i}"), name)
                .expression_attribute_values(format!(":c{i}"), n(value));
        }
        for (i, (name, value)) in change.notes.into_iter().enumerate() {
            sets.push(format!("#n{i} = :n{i}"));
            update = update
                .expression_attribute_names(format!("#n{i}"), name)
                .expression_attribute_values(format!(":n{i}"), value);
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !adds.is_empty() {
            expression.push_str(&format!(" ADD {}", adds.join(", ")));
        }
        let update = update
            .update_expression(expression)
            .build()
            .map_err(invalid_transaction)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Records what reached the event bus. Conditioned on the outcome still being current, so a
    /// slow mark for an older outcome cannot overwrite a newer one; the revision moves so that a
    /// concurrent writer holding an older read re-reads instead of erasing the mark.
    pub async fn mark_published(
        &self,
        execution: &ItemState,
        completion: &Completion,
    ) -> Result<(), AwsError> {
        let (pk, sk) = item_key(execution);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .update_expression("SET #p = :p ADD #rev :one")
            .condition_expression("#order = :order")
            .expression_attribute_names("#p", "published")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_names("#order", "order")
            .expression_attribute_values(":p", s(completion.fingerprint()))
            .expression_attribute_values(":order", s(&completion.outcome_key))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        // A newer outcome replaced this one meanwhile: its own mark will follow.
        written("UpdateItem", result)?;
        Ok(())
    }

    /// Every item of one execution (the execution, its stages and actions), in key order.
    pub async fn execution_items(
        &self,
        pipeline_id: &str,
        execution_id: &str,
    ) -> Result<Vec<(String, ItemState)>, AwsError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
                .expression_attribute_values(":pk", s(execution_pk(pipeline_id)))
                .expression_attribute_values(":sk", s(execution_sk(execution_id)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| AwsError::classify("Query", e))?;
            for item in page.items.unwrap_or_default() {
                let sk = item
                    .get("SK")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                if let Some(state) = decode(Some(item), "Query")? {
                    items.push((sk, state));
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The counters of one (org, day, pipeline) rollup, all facets; empty when nothing was
    /// counted.
    pub async fn rollup(
        &self,
        org_id: &str,
        day: &str,
        pipeline_id: &str,
    ) -> Result<Counters, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .filter_expression("pipelineId = :pid")
            .expression_attribute_values(":pk", s(rollup_pk(org_id, day)))
            .expression_attribute_values(":pid", s(pipeline_id))
            .consistent_read(true);
        let mut merged = BTreeMap::new();
        for item in query_items(query).await? {
            merge(&mut merged, rollup_from_item(day, &item));
        }
        Ok(merged
            .into_values()
            .flat_map(|rollup| rollup.counters)
            .filter(|(_, v)| *v != 0)
            .collect())
    }
}

fn is_transaction_conflict(error: Option<&TransactWriteItemsError>) -> bool {
    match error {
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
        Some(TransactWriteItemsError::TransactionCanceledException(canceled)) => {
            let reasons = canceled.cancellation_reasons();
            reasons.is_empty()
                || reasons.iter().any(|r| {
                    matches!(
                        r.code(),
                        Some("ConditionalCheckFailed" | "TransactionConflict")
                    )
                })
        }
        _ => false,
    }
}
