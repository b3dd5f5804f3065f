//! The deployment registry in CatalogTable: which org owns a pipeline id.

use std::time::Duration;

use crate::conditional::written;
use crate::keys::{
    org_gsi2pk, registry_gsi2sk, registry_pk, REGISTRY_GSI1PK, REGISTRY_GSI2SK_PREFIX, REGISTRY_SK,
};
use serde::{Deserialize, Serialize};

use crate::attributes::{parse_item, query_items, s, to_item, Item};
use crate::cache::LookupCache;
use crate::AwsError;

/// One deployed pipeline. Looked up by the global pipeline id; the org is an attribute every
/// reader checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryEntry {
    pub pipeline_id: String,
    pub org_id: String,
    pub pipeline_name: String,
    pub stack_name: String,
    pub region: String,
    pub last_deployed: String,
    /// Set when the platform deployed the stack (entries posted by hand have none of these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_version: Option<u64>,
}

/// What ingest checks an event against: the org, and which CodePipeline (name and region) the
/// pipeline id was registered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub org_id: String,
    pub pipeline_name: String,
    pub region: String,
}

#[derive(Debug)]
pub struct Registry {
    client: aws_sdk_dynamodb::Client,
    table: String,
    cache: LookupCache<Registration>,
}

impl Registry {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        ttl: Duration,
        negative_ttl: Duration,
    ) -> Self {
        Registry {
            client,
            table: table.into(),
            cache: LookupCache::new(ttl, negative_ttl),
        }
    }

    /// The org that owns `pipeline_id`, or `None` when it is not registered.
    pub async fn org_of(&self, pipeline_id: &str) -> Result<Option<String>, AwsError> {
        Ok(self.registration(pipeline_id).await?.map(|r| r.org_id))
    }

    /// The org and CodePipeline `pipeline_id` is registered for, or `None` when it is not
    /// registered. An entry without an org is a broken entry, reported as an error rather than
    /// ignored.
    pub async fn registration(&self, pipeline_id: &str) -> Result<Option<Registration>, AwsError> {
        if let Some(cached) = self.cache.get(pipeline_id) {
            return Ok(cached);
        }
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(registry_pk(pipeline_id)))
            .key("SK", s(REGISTRY_SK))
            .projection_expression("orgId, pipelineName, #region")
            .expression_attribute_names("#region", "region")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        let registration = output
            .item
            .map(|item| {
                let text = |name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                match text("orgId") {
                    org_id if org_id.is_empty() => Err(AwsError::Rejected {
                        operation: "GetItem",
                        code: "CorruptItem".into(),
                        message: format!("registry entry {pipeline_id} has no orgId"),
                    }),
                    org_id => Ok(Registration {
                        org_id,
                        pipeline_name: text("pipelineName"),
                        region: text("region"),
                    }),
                }
            })
            .transpose()?;
        self.cache.put(pipeline_id, registration.clone());
        Ok(registration)
    }

    /// The whole entry, read consistently.
    pub async fn get(&self, pipeline_id: &str) -> Result<Option<RegistryEntry>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(registry_pk(pipeline_id)))
            .key("SK", s(REGISTRY_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        output
            .item
            .as_ref()
            .map(|item| parse_item(item, "registry entry"))
            .transpose()
    }

    /// Writes `entry` unless the pipeline id is registered to another org: `Ok(false)` then, and
    /// nothing changes. The condition makes the ownership check and the write one step.
    pub async fn put_owned(&self, entry: &RegistryEntry) -> Result<bool, AwsError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(entry_item(entry)?))
            .condition_expression("attribute_not_exists(PK) OR orgId = :org")
            .expression_attribute_values(":org", s(&entry.org_id))
            .send()
            .await;
        let written = written("PutItem", result)?;
        if written {
            self.cache
                .put(&entry.pipeline_id, Some(registration(entry)));
        }
        Ok(written)
    }

    /// Deletes the org's entry; `false` when there is none of this org.
    pub async fn delete_owned(&self, org_id: &str, pipeline_id: &str) -> Result<bool, AwsError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(registry_pk(pipeline_id)))
            .key("SK", s(REGISTRY_SK))
            .condition_expression("orgId = :org")
            .expression_attribute_values(":org", s(org_id))
            .send()
            .await;
        let written = written("DeleteItem", result)?;
        if written {
            self.cache.put(pipeline_id, None);
        }
        Ok(written)
    }

    /// Every entry of one org, all pages.
    pub async fn org_entries(&self, org_id: &str) -> Result<Vec<RegistryEntry>, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI2")
            .key_condition_expression("GSI2PK = :pk AND begins_with(GSI2SK, :prefix)")
            .expression_attribute_values(":pk", s(org_gsi2pk(org_id)))
            .expression_attribute_values(":prefix", s(REGISTRY_GSI2SK_PREFIX));
        query_items(query)
            .await?
            .iter()
            .map(|item| parse_item(item, "registry entry"))
            .collect()
    }

    /// Every entry, all pages: one org's (GSI2), or every org's (GSI1, the nightly audit's read,
    /// which costs what the registry holds, not what the catalog holds).
    pub async fn all(&self, org: Option<&str>) -> Result<Vec<RegistryEntry>, AwsError> {
        if let Some(org) = org {
            return self.org_entries(org).await;
        }
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(REGISTRY_GSI1PK));
        query_items(query)
            .await?
            .iter()
            .map(|item| parse_item(item, "registry entry"))
            .collect()
    }

    /// Creates or replaces an entry (used by the API and by local setup).
    pub async fn put(&self, entry: &RegistryEntry) -> Result<(), AwsError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(entry_item(entry)?))
            .send()
            .await
            .map_err(|e| AwsError::classify("PutItem", e))?;
        Ok(())
    }
}

fn registration(entry: &RegistryEntry) -> Registration {
    Registration {
        org_id: entry.org_id.clone(),
        pipeline_name: entry.pipeline_name.clone(),
        region: entry.region.clone(),
    }
}

fn entry_item(entry: &RegistryEntry) -> Result<Item, AwsError> {
    let mut item = to_item(entry).map_err(|e| AwsError::local("PutItem", "Serialization", e))?;
    item.insert("PK".into(), s(registry_pk(&entry.pipeline_id)));
    item.insert("SK".into(), s(REGISTRY_SK));
    item.insert("GSI2PK".into(), s(org_gsi2pk(&entry.org_id)));
    item.insert("GSI2SK".into(), s(registry_gsi2sk(&entry.pipeline_id)));
    item.insert("GSI1PK".into(), s(REGISTRY_GSI1PK));
    item.insert("GSI1SK".into(), s(registry_gsi2sk(&entry.pipeline_id)));
    Ok(item)
}
