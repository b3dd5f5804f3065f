//! Who started a run through the platform. CodePipeline does not know (every run it starts for
//! the platform is the API role's), and separation of duties needs it; a run started by a push
//! has no starter.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::attributes::{batch_get_consistent, from_item, s, to_item, Item, MAX_BATCH_GET_KEYS};
use crate::conditional::written;
use crate::keys::{starter_pk, starter_sk, STARTER_SK_PREFIX};
use crate::AwsError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Starter {
    /// The person who answers for the caller (the root of a machine token's chain).
    pub principal: String,
    /// The token's own subject (a machine's, when one started it).
    pub subject: String,
    pub started_at: String,
    /// Whether the pipeline asked for separation of duties when the run started: a later edit
    /// of the definition cannot lift it from a run already under way.
    #[serde(default)]
    pub separation_of_duties: bool,
    /// Kept as long as the run's own items (DynamoDB TTL, epoch seconds).
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct StarterStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn key(org_id: &str, pipeline_id: &str, execution_id: &str) -> Item {
    Item::from([
        ("PK".to_string(), s(starter_pk(org_id, pipeline_id))),
        ("SK".to_string(), s(starter_sk(execution_id))),
    ])
}

fn decode(item: &Item, operation: &'static str) -> Result<Starter, AwsError> {
    from_item(item).map_err(|e| AwsError::local(operation, "CorruptItem", e))
}

impl StarterStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        StarterStore {
            client,
            table: table.into(),
        }
    }

    /// Records the starter of a new execution; the first record stands (`false` if one existed).
    pub async fn record(
        &self,
        org_id: &str,
        pipeline_id: &str,
        execution_id: &str,
        starter: &Starter,
    ) -> Result<bool, AwsError> {
        let mut item =
            to_item(starter).map_err(|e| AwsError::local("PutItem", "Serialization", e))?;
        item.extend(key(org_id, pipeline_id, execution_id));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        written("PutItem", result)
    }

    pub async fn get(
        &self,
        org_id: &str,
        pipeline_id: &str,
        execution_id: &str,
    ) -> Result<Option<Starter>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(org_id, pipeline_id, execution_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        output.item.map(|item| decode(&item, "GetItem")).transpose()
    }

    /// The starters of a page of executions, by execution id; executions without one are absent.
    pub async fn get_many(
        &self,
        org_id: &str,
        pipeline_id: &str,
        execution_ids: &[&str],
    ) -> Result<HashMap<String, Starter>, AwsError> {
        let mut found = HashMap::new();
        for chunk in execution_ids.chunks(MAX_BATCH_GET_KEYS) {
            let keys: Vec<(String, String)> = chunk
                .iter()
                .map(|id| (starter_pk(org_id, pipeline_id), starter_sk(id)))
                .collect();
            let items = batch_get_consistent(&self.client, &self.table, &keys).await?;
            for ((_, sk), item) in items {
                if let Some(execution_id) = sk.strip_prefix(STARTER_SK_PREFIX) {
                    found.insert(execution_id.to_string(), decode(&item, "BatchGetItem")?);
                }
            }
        }
        Ok(found)
    }
}
