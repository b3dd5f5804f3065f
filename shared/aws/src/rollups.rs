//! The daily rollup items of ExecutionsTable as reports read them, and their item
//! format: one item per (org, day, pipeline, [`Facet`]), sort key `{facet prefix}{pipelineId}`,
//! with counters as numbers, error samples as maps and action categories as strings (both on the
//! actions facet).

use std::collections::BTreeMap;

use crate::keys::{rollup_facet_sk, rollup_pk};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use pb_domain::rollup::{
    Counters, ErrorSample, Facet, Rollup, RollupChange, ACTION_CATEGORY_PREFIX, SAMPLE_PREFIX,
};
use tokio::task::JoinSet;

use crate::attributes::{from_attribute, n, query_items, s, to_attribute, Item};
use crate::AwsError;

/// Queries in flight at once: a month's report is one round per facet.
const CONCURRENT_QUERIES: usize = 32;
/// BatchWriteItem's limit.
const BATCH_WRITE_ITEMS: usize = 25;
const MAX_UNPROCESSED_ROUNDS: usize = 5;
const METADATA: [&str; 5] = ["PK", "SK", "orgId", "day", "pipelineId"];

/// What one change does to one facet item: counters to `ADD`, notes to `SET`.
pub(crate) struct FacetUpdate {
    pub facet: Facet,
    pub counters: Counters,
    pub notes: Vec<(String, AttributeValue)>,
}

/// Splits a change by the facet items it touches; the notes go with the actions.
pub(crate) fn facet_updates(change: &RollupChange) -> Result<Vec<FacetUpdate>, AwsError> {
    let mut updates: BTreeMap<Facet, FacetUpdate> = BTreeMap::new();
    for (name, value) in &change.counters {
        facet_update(&mut updates, Facet::of(name))
            .counters
            .insert(name.clone(), *value);
    }
    let notes = note_attributes(change)?;
    if !notes.is_empty() {
        facet_update(&mut updates, Facet::Actions).notes = notes;
    }
    Ok(updates.into_values().collect())
}

fn facet_update(updates: &mut BTreeMap<Facet, FacetUpdate>, facet: Facet) -> &mut FacetUpdate {
    updates.entry(facet).or_insert_with(|| FacetUpdate {
        facet,
        counters: Counters::new(),
        notes: Vec::new(),
    })
}

#[derive(Debug, Clone)]
pub struct RollupStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl RollupStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        RollupStore {
            client,
            table: table.into(),
        }
    }

    /// The org's rollups of `days` (`yyyy-mm-dd`), holding only the counters of `facets`: one
    /// Query per day and facet, all pages, [`CONCURRENT_QUERIES`] at a time, merged per (day,
    /// pipeline). Eventually consistent: a report may miss an execution stored a second ago.
    pub async fn read(
        &self,
        org_id: &str,
        days: &[String],
        facets: &[Facet],
    ) -> Result<Vec<Rollup>, AwsError> {
        let queries: Vec<(&String, Facet)> = days
            .iter()
            .flat_map(|day| facets.iter().map(move |facet| (day, *facet)))
            .collect();
        let mut pending = queries.into_iter();
        let mut reads = JoinSet::new();
        for (day, facet) in pending.by_ref().take(CONCURRENT_QUERIES) {
            self.spawn_read(&mut reads, org_id, day, facet);
        }
        let mut merged: BTreeMap<(String, String), Rollup> = BTreeMap::new();
        while let Some(joined) = reads.join_next().await {
            let parts = joined.map_err(|e| AwsError::local("Query", "TaskFailed", e))??;
            for part in parts {
                merge(&mut merged, part);
            }
            if let Some((day, facet)) = pending.next() {
                self.spawn_read(&mut reads, org_id, day, facet);
            }
        }
        Ok(merged.into_values().collect())
    }

    fn spawn_read(
        &self,
        reads: &mut JoinSet<Result<Vec<Rollup>, AwsError>>,
        org_id: &str,
        day: &str,
        facet: Facet,
    ) {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :facet)")
            .expression_attribute_values(":pk", s(rollup_pk(org_id, day)))
            .expression_attribute_values(":facet", s(facet.sk_prefix()));
        let day = day.to_string();
        reads.spawn(async move {
            Ok(query_items(query)
                .await?
                .iter()
                .map(|item| rollup_from_item(&day, item))
                .collect())
        });
    }

    /// Writes whole rollup items, replacing what is stored. For loading rollups computed
    /// elsewhere (the reports benchmark, a backfill); ingest *adds* to rollups in the same
    /// transaction as the execution items ([`crate::executions::ExecutionStore::commit`]).
    pub async fn put_all(&self, org_id: &str, rollups: &[Rollup]) -> Result<(), AwsError> {
        let mut items = Vec::new();
        for rollup in rollups {
            items.extend(facet_items(org_id, rollup)?);
        }
        for chunk in items.chunks(BATCH_WRITE_ITEMS) {
            let requests = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .map_err(|e| AwsError::local("BatchWriteItem", "InvalidRequest", e))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>, AwsError>>()?;
            self.write_batch(requests).await?;
        }
        Ok(())
    }

    /// One BatchWriteItem, asking again for what DynamoDB left unprocessed.
    async fn write_batch(&self, mut requests: Vec<WriteRequest>) -> Result<(), AwsError> {
        for round in 0..MAX_UNPROCESSED_ROUNDS {
            if round > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << round)).await;
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| AwsError::classify("BatchWriteItem", e))?;
            requests = output
                .unprocessed_items
                .unwrap_or_default()
                .remove(&self.table)
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
        }
        Err(AwsError::Throttled {
            operation: "BatchWriteItem",
            code: "UnprocessedItems".into(),
        })
    }
}

/// The attributes a change `SET`s: its error samples and action categories.
fn note_attributes(change: &RollupChange) -> Result<Vec<(String, AttributeValue)>, AwsError> {
    let mut notes = Vec::new();
    for (category, sample) in &change.samples {
        notes.push((
            format!("{SAMPLE_PREFIX}{category}"),
            sample_attribute(sample)?,
        ));
    }
    for (action, category) in &change.action_categories {
        notes.push((format!("{ACTION_CATEGORY_PREFIX}{action}"), s(category)));
    }
    Ok(notes)
}

fn sample_attribute(sample: &ErrorSample) -> Result<AttributeValue, AwsError> {
    serde_json::to_value(sample)
        .ok()
        .and_then(to_attribute)
        .ok_or_else(|| AwsError::local("UpdateItem", "Serialization", "error sample"))
}

/// A rollup's facet items, as the ingest's updates would have left them.
fn facet_items(org_id: &str, rollup: &Rollup) -> Result<Vec<Item>, AwsError> {
    let change = RollupChange {
        day: rollup.day.clone(),
        counters: rollup.counters.clone(),
        samples: rollup.samples.clone(),
        action_categories: rollup.action_categories.clone(),
    };
    Ok(facet_updates(&change)?
        .into_iter()
        .map(|update| {
            let mut item = Item::from([
                ("PK".to_string(), s(rollup_pk(org_id, &rollup.day))),
                (
                    "SK".to_string(),
                    s(rollup_facet_sk(
                        update.facet.sk_prefix(),
                        &rollup.pipeline_id,
                    )),
                ),
                ("orgId".to_string(), s(org_id)),
                ("day".to_string(), s(&rollup.day)),
                ("pipelineId".to_string(), s(&rollup.pipeline_id)),
            ]);
            for (name, value) in &update.counters {
                item.insert(name.clone(), n(value));
            }
            item.extend(update.notes);
            item
        })
        .collect())
}

/// Adds one facet item's part to the rollup of its (day, pipeline); facets hold disjoint counters.
pub(crate) fn merge(merged: &mut BTreeMap<(String, String), Rollup>, part: Rollup) {
    let rollup = merged
        .entry((part.day.clone(), part.pipeline_id.clone()))
        .or_insert_with(|| Rollup {
            day: part.day.clone(),
            pipeline_id: part.pipeline_id.clone(),
            ..Rollup::default()
        });
    rollup.counters.extend(part.counters);
    rollup.samples.extend(part.samples);
    rollup.action_categories.extend(part.action_categories);
}

/// Reads an item leniently: an attribute of an unexpected shape is skipped, never fatal, so one
/// odd item cannot take every report down.
pub(crate) fn rollup_from_item(day: &str, item: &Item) -> Rollup {
    let mut rollup = Rollup {
        day: day.to_string(),
        pipeline_id: item
            .get("pipelineId")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default(),
        ..Rollup::default()
    };
    for (name, value) in item {
        if METADATA.contains(&name.as_str()) {
            continue;
        }
        if let Some(category) = name.strip_prefix(SAMPLE_PREFIX) {
            if let Ok(sample) = serde_json::from_value(from_attribute(value)) {
                rollup.samples.insert(category.to_string(), sample);
            }
        } else if let Some(action) = name.strip_prefix(ACTION_CATEGORY_PREFIX) {
            if let Ok(category) = value.as_s() {
                rollup
                    .action_categories
                    .insert(action.to_string(), category.clone());
            }
        } else if let Some(count) = from_attribute(value).as_i64() {
            rollup.counters.insert(name.clone(), count);
        }
    }
    rollup
}
