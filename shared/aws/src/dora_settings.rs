//! An org's DORA settings in CatalogTable (`PK=ORG#{org}`, `SK=SETTINGS#DORA`): the
//! environments it counts as production. No item means the defaults.

use pb_domain::dora::ProductionEnvironments;
use serde::{Deserialize, Serialize};

use crate::attributes::{from_item, s, to_item, Item};
use crate::keys::{org_pk, DORA_SETTINGS_SK};
use crate::AwsError;

/// The stored settings, and who changed them last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoraSettingsRecord {
    pub production_environments: Vec<String>,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Debug, Clone)]
pub struct DoraSettingsStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn key(org: &str) -> Item {
    Item::from([
        ("PK".to_string(), s(org_pk(org))),
        ("SK".to_string(), s(DORA_SETTINGS_SK)),
    ])
}

impl DoraSettingsStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DoraSettingsStore {
            client,
            table: table.into(),
        }
    }

    pub async fn get(&self, org: &str) -> Result<Option<DoraSettingsRecord>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(org)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        output
            .item
            .map(|item| from_item(&item).map_err(|e| AwsError::local("GetItem", "CorruptItem", e)))
            .transpose()
    }

    /// The org's production environments: its own list, else the defaults. A stored list this
    /// build cannot accept is an error, not a silent default.
    pub async fn production_environments(
        &self,
        org: &str,
    ) -> Result<ProductionEnvironments, AwsError> {
        match self.get(org).await? {
            None => Ok(ProductionEnvironments::default()),
            Some(record) => ProductionEnvironments::new(record.production_environments)
                .map_err(|e| AwsError::local("GetItem", "CorruptItem", e)),
        }
    }

    pub async fn put(&self, org: &str, record: &DoraSettingsRecord) -> Result<(), AwsError> {
        let mut item =
            to_item(record).map_err(|e| AwsError::local("PutItem", "Serialization", e))?;
        item.extend(key(org));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| AwsError::classify("PutItem", e))?;
        Ok(())
    }
}
