//! The plugin catalog in CatalogTable (DESIGN §3): one immutable item per published version.
//!
//! Own versions are read from the org's plugin partition with consistent reads; public versions of
//! every org from GSI1 and an org's whole catalog from GSI2, both eventually consistent (a version
//! published a moment ago may take a second to appear there).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::ReturnValue;
use pb_domain::keys::{
    org_gsi2pk, plugin_gsi2sk, plugin_gsi2sk_prefix, plugin_pk, plugin_sk, public_plugin_gsi1sk,
    public_plugin_gsi1sk_prefix, PUBLIC_PLUGINS_GSI1PK,
};
use pb_domain::plugin::{AccessModifier, CatalogEntry, PluginSpec};
use semver::Version;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::attributes::{parse_item, query_items, s, to_item, Item};
use crate::AwsError;

/// Names whose versions are read concurrently during one lookup.
const CONCURRENT_NAMES: usize = 16;

/// A published version with who published it and its lifecycle flags. `spec.active` is the
/// authoritative active flag; `deprecated` only warns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginRecord {
    pub org: String,
    pub spec: PluginSpec,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_message: Option<String>,
    pub published_at: String,
    pub published_by: String,
}

impl PluginRecord {
    pub fn entry(&self) -> CatalogEntry {
        CatalogEntry {
            org: self.org.clone(),
            spec: self.spec.clone(),
        }
    }

    pub fn is_public(&self) -> bool {
        self.spec.access_modifier == AccessModifier::Public
    }
}

/// A change of a version's lifecycle flags; `None` leaves a flag as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusChange {
    pub active: Option<bool>,
    pub deprecated: Option<bool>,
    pub deprecation_message: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(
        "version {version} of plugin '{name}' already exists; published versions are immutable"
    )]
    AlreadyExists { name: String, version: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

#[derive(Debug, Clone)]
pub struct PluginCatalog {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl PluginCatalog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        PluginCatalog {
            client,
            table: table.into(),
        }
    }

    /// Stores a new version; an existing `(org, name, version)` is never overwritten.
    pub async fn publish(&self, record: &PluginRecord) -> Result<(), PublishError> {
        let version = parse_version(&record.spec.version, "PutItem")?;
        let item = record_item(record, &version)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(PublishError::AlreadyExists {
                    name: record.spec.name.clone(),
                    version: record.spec.version.clone(),
                })
            }
            Err(error) => Err(AwsError::classify("PutItem", error).into()),
        }
    }

    /// One of the org's own versions.
    pub async fn get(
        &self,
        org: &str,
        name: &str,
        version: &Version,
    ) -> Result<Option<PluginRecord>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(plugin_pk(org, name)))
            .key("SK", s(plugin_sk(version)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        output.item.as_ref().map(record_from_item).transpose()
    }

    /// Every version of `name` the org published itself (consistent read).
    pub async fn own_versions(&self, org: &str, name: &str) -> Result<Vec<PluginRecord>, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(plugin_pk(org, name)))
            .consistent_read(true);
        query_records(query).await
    }

    /// Every public version of `name`, of any org.
    pub async fn public_versions(&self, name: &str) -> Result<Vec<PluginRecord>, AwsError> {
        let query = self
            .public_query()
            .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :prefix)")
            .expression_attribute_values(":prefix", s(public_plugin_gsi1sk_prefix(name)));
        query_records(query).await
    }

    /// Every version of every plugin the org published.
    pub async fn org_plugins(&self, org: &str) -> Result<Vec<PluginRecord>, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI2")
            .key_condition_expression("GSI2PK = :pk AND begins_with(GSI2SK, :prefix)")
            .expression_attribute_values(":pk", s(org_gsi2pk(org)))
            .expression_attribute_values(":prefix", s(plugin_gsi2sk_prefix(None)));
        query_records(query).await
    }

    /// Every public version in the catalog.
    pub async fn public_plugins(&self) -> Result<Vec<PluginRecord>, AwsError> {
        let query = self.public_query().key_condition_expression("GSI1PK = :pk");
        query_records(query).await
    }

    /// The catalog entries a lookup of `names` by `org` can choose from: the org's own versions
    /// and the public ones. Names are read concurrently.
    pub async fn candidates(
        &self,
        org: &str,
        names: &BTreeSet<&str>,
    ) -> Result<Vec<CatalogEntry>, AwsError> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut entries = Vec::new();
        for chunk in names.chunks(CONCURRENT_NAMES) {
            let mut reads = JoinSet::new();
            for name in chunk {
                let catalog = self.clone();
                let (org, name) = (org.to_string(), name.clone());
                reads.spawn(async move {
                    let mut found = catalog.own_versions(&org, &name).await?;
                    found.extend(catalog.public_versions(&name).await?);
                    Ok::<_, AwsError>(found)
                });
            }
            while let Some(joined) = reads.join_next().await {
                let found = joined.map_err(|e| AwsError::local("Query", "TaskFailed", e))??;
                entries.extend(found.iter().map(PluginRecord::entry));
            }
        }
        Ok(entries)
    }

    /// Applies `change` to one of the org's own versions; `None` when it does not exist.
    pub async fn set_status(
        &self,
        org: &str,
        name: &str,
        version: &Version,
        change: &StatusChange,
    ) -> Result<Option<PluginRecord>, AwsError> {
        let mut sets = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(plugin_pk(org, name)))
            .key("SK", s(plugin_sk(version)))
            .condition_expression("attribute_exists(PK)")
            .return_values(ReturnValue::AllNew);
        if let Some(active) = change.active {
            sets.push("spec.active = :active");
            request = request.expression_attribute_values(
                ":active",
                aws_sdk_dynamodb::types::AttributeValue::Bool(active),
            );
        }
        if let Some(deprecated) = change.deprecated {
            sets.push("deprecated = :deprecated");
            request = request.expression_attribute_values(
                ":deprecated",
                aws_sdk_dynamodb::types::AttributeValue::Bool(deprecated),
            );
        }
        if let Some(message) = &change.deprecation_message {
            sets.push("deprecationMessage = :message");
            request = request.expression_attribute_values(":message", s(message));
        }
        if sets.is_empty() {
            return self.get(org, name, version).await;
        }
        let result = request
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await;
        match result {
            Ok(output) => output.attributes.as_ref().map(record_from_item).transpose(),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(AwsError::classify("UpdateItem", error)),
        }
    }

    fn public_query(&self) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .expression_attribute_values(":pk", s(PUBLIC_PLUGINS_GSI1PK))
    }
}

fn parse_version(text: &str, operation: &'static str) -> Result<Version, AwsError> {
    Version::parse(text).map_err(|e| AwsError::local(operation, "InvalidRequest", e))
}

fn record_item(record: &PluginRecord, version: &Version) -> Result<Item, AwsError> {
    let mut item = to_item(record).map_err(|e| AwsError::local("PutItem", "Serialization", e))?;
    let (org, name) = (&record.org, &record.spec.name);
    item.insert("PK".into(), s(plugin_pk(org, name)));
    item.insert("SK".into(), s(plugin_sk(version)));
    item.insert("GSI2PK".into(), s(org_gsi2pk(org)));
    item.insert("GSI2SK".into(), s(plugin_gsi2sk(name, version)));
    if record.is_public() {
        item.insert("GSI1PK".into(), s(PUBLIC_PLUGINS_GSI1PK));
        item.insert("GSI1SK".into(), s(public_plugin_gsi1sk(name, version, org)));
    }
    Ok(item)
}

fn record_from_item(item: &Item) -> Result<PluginRecord, AwsError> {
    parse_item(item, "plugin version")
}

async fn query_records(query: QueryFluentBuilder) -> Result<Vec<PluginRecord>, AwsError> {
    query_items(query)
        .await?
        .iter()
        .map(record_from_item)
        .collect()
}
