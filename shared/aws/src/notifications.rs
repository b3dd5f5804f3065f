//! Notification subscriptions in CatalogTable, in the org's partition (`PK=ORG#{org}`,
//! `SK=NOTIFY#{id}`). An org holds at most `MAX_SUBSCRIPTIONS_PER_ORG`, so every event's
//! matching reads one small partition range.

use pb_domain::notify::Subscription;

use crate::attributes::{from_item, query_items, s, to_item, Item};
use crate::conditional::written;
use crate::keys::{notification_sk, org_pk, NOTIFICATION_SK_PREFIX};
use crate::AwsError;

#[derive(Debug, Clone)]
pub struct SubscriptionStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn key(org: &str, id: &str) -> Item {
    Item::from([
        ("PK".to_string(), s(org_pk(org))),
        ("SK".to_string(), s(notification_sk(id))),
    ])
}

fn decode(item: &Item, operation: &'static str) -> Result<Subscription, AwsError> {
    from_item(item).map_err(|e| AwsError::local(operation, "CorruptItem", e))
}

impl SubscriptionStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        SubscriptionStore {
            client,
            table: table.into(),
        }
    }

    /// Writes a subscription; `only_new` refuses to replace one (`false` when it existed).
    pub async fn put(&self, subscription: &Subscription, only_new: bool) -> Result<bool, AwsError> {
        let mut item =
            to_item(subscription).map_err(|e| AwsError::local("PutItem", "Serialization", e))?;
        item.extend(key(&subscription.org, &subscription.id));
        let condition = if only_new {
            "attribute_not_exists(PK)"
        } else {
            "attribute_exists(PK)"
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .send()
            .await;
        written("PutItem", result)
    }

    pub async fn get(&self, org: &str, id: &str) -> Result<Option<Subscription>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(org, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        output.item.map(|i| decode(&i, "GetItem")).transpose()
    }

    /// Every subscription of the org, by id.
    pub async fn list(&self, org: &str) -> Result<Vec<Subscription>, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(org_pk(org)))
            .expression_attribute_values(":prefix", s(NOTIFICATION_SK_PREFIX))
            .consistent_read(true);
        query_items(query)
            .await?
            .iter()
            .map(|item| decode(item, "Query"))
            .collect()
    }

    /// Deletes a subscription; `false` when there was none.
    pub async fn delete(&self, org: &str, id: &str) -> Result<bool, AwsError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(org, id)))
            .condition_expression("attribute_exists(PK)")
            .send()
            .await;
        written("DeleteItem", result)
    }
}
