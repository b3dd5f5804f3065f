//! The plugin catalog in CatalogTable: one immutable item per published version, and one owner
//! record per public name.
//!
//! Own versions are read from the org's plugin partition with consistent reads; public versions of
//! every org, with the owners of their names, from GSI1 and an org's whole catalog from GSI2, both
//! eventually consistent (a version published a moment ago may take a second to appear there).
//! Other orgs only ever see a public name's owner's versions (`pb_domain::plugin::public_name_owner`).
//! A lookup may take public versions from a warm container's [`PublicVersionCache`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::conditional::written;
use crate::keys::{
    org_gsi2pk, plugin_gsi2sk, plugin_gsi2sk_prefix, plugin_pk, plugin_sk,
    public_name_owner_gsi1sk, public_name_pk, public_plugin_gsi1sk, public_plugin_gsi1sk_prefix,
    PUBLIC_NAME_OWNER_SK, PUBLIC_PLUGINS_GSI1PK,
};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use pb_domain::plugin::{
    plan_ownership_repair, public_name_owner, AccessModifier, CatalogEntry, PluginSpec,
    PublicVersion,
};
use semver::Version;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::attributes::{parse_item, query_items, s, to_item, Item};
use crate::conditional::updated_unless_condition_failed;
use crate::public_versions::PublicVersionCache;
use crate::transactions::{failed_conditions, invalid_transaction};
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

    fn public_view(&self) -> PublicVersion<'_> {
        PublicVersion {
            name: &self.spec.name,
            org: &self.org,
            version: &self.spec.version,
            published_at: &self.published_at,
        }
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
    #[error(
        "the public plugin name '{name}' belongs to another org; publish it privately or under \
         another name"
    )]
    PublicNameTaken { name: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

#[derive(Debug, Clone)]
pub struct PluginCatalog {
    client: aws_sdk_dynamodb::Client,
    table: String,
    public_cache: Option<Arc<PublicVersionCache>>,
}

impl PluginCatalog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        PluginCatalog {
            client,
            table: table.into(),
            public_cache: None,
        }
    }

    /// Lookups ([`Self::candidates`]) take public versions from `cache` while they are fresh
    /// there; the org's own versions are still read every time.
    pub fn with_public_version_cache(mut self, cache: PublicVersionCache) -> Self {
        self.public_cache = Some(Arc::new(cache));
        self
    }

    /// Stores a new version; an existing `(org, name, version)` is never overwritten. A public
    /// version also claims its name for the org, or is refused when another org owns it.
    pub async fn publish(&self, record: &PluginRecord) -> Result<(), PublishError> {
        let version = parse_version(&record.spec.version, "PutItem")?;
        let item = record_item(record, &version)?;
        if record.is_public() {
            return self.publish_public(record, item).await;
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        if written("PutItem", result)? {
            Ok(())
        } else {
            Err(already_exists(record))
        }
    }

    /// The owner check reads GSI1 so that a name published before owners were recorded keeps its
    /// first publisher; the claim in the same transaction as the version is what stops two orgs
    /// claiming one name at once.
    async fn publish_public(&self, record: &PluginRecord, item: Item) -> Result<(), PublishError> {
        let name = &record.spec.name;
        let listing = self.public_listing(Some(name)).await?;
        if listing
            .owner_of(name)
            .is_some_and(|owner| owner != record.org)
        {
            return Err(public_name_taken(record));
        }
        let writes = vec![
            self.new_version_put(item)?,
            self.name_claim(name, &record.org, &record.published_at)?,
        ];
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The writes' positions: the version, then the name claim.
            Err(error) => match failed_conditions(error.as_service_error()) {
                [true, _] => Err(already_exists(record)),
                [false, true] => Err(public_name_taken(record)),
                [false, false] => Err(AwsError::classify("TransactWriteItems", error).into()),
            },
        }
    }

    fn new_version_put(&self, item: Item) -> Result<TransactWriteItem, AwsError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(invalid_transaction)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Records `org` as the owner of the public `name` unless another org already is.
    fn name_claim(&self, name: &str, org: &str, at: &str) -> Result<TransactWriteItem, AwsError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("PK", s(public_name_pk(name)))
            .key("SK", s(PUBLIC_NAME_OWNER_SK))
            .update_expression(
                "SET ownerOrg = :org, pluginName = :name, claimedAt = if_not_exists(claimedAt, :at), \
                 GSI1PK = :gsi1pk, GSI1SK = :gsi1sk",
            )
            .condition_expression("attribute_not_exists(PK) OR ownerOrg = :org")
            .expression_attribute_values(":org", s(org))
            .expression_attribute_values(":name", s(name))
            .expression_attribute_values(":at", s(at))
            .expression_attribute_values(":gsi1pk", s(PUBLIC_PLUGINS_GSI1PK))
            .expression_attribute_values(":gsi1sk", s(public_name_owner_gsi1sk(name)))
            .build()
            .map_err(invalid_transaction)?;
        Ok(TransactWriteItem::builder().update(update).build())
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

    /// The public versions of `name` other orgs may use: its owner's.
    pub async fn public_versions(&self, name: &str) -> Result<Vec<PluginRecord>, AwsError> {
        Ok(self.public_listing(Some(name)).await?.owned_versions())
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

    /// Every public version other orgs may use: of each name, its owner's.
    pub async fn public_plugins(&self) -> Result<Vec<PluginRecord>, AwsError> {
        Ok(self.public_listing(None).await?.owned_versions())
    }

    /// GSI1 as stored: owner records and every public version, of one name or of all.
    async fn public_listing(&self, name: Option<&str>) -> Result<PublicListing, AwsError> {
        let query = match name {
            Some(name) => self
                .public_query()
                .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :prefix)")
                .expression_attribute_values(":prefix", s(public_plugin_gsi1sk_prefix(name))),
            None => self.public_query().key_condition_expression("GSI1PK = :pk"),
        };
        PublicListing::from_items(&query_items(query).await?)
    }

    /// Makes a catalog written before public names had owners obey ownership: every public name
    /// without an owner record gets its earliest publisher as owner, and the public versions of
    /// other orgs become private to them. Running it again changes nothing.
    pub async fn repair_public_names(&self) -> Result<OwnershipRepairReport, AwsError> {
        let listing = self.public_listing(None).await?;
        let versions = listing.views();
        let recorded: BTreeMap<&str, &str> = listing
            .owners
            .iter()
            .map(|(name, org)| (name.as_str(), org.as_str()))
            .collect();
        let plan = plan_ownership_repair(&versions, &recorded);
        let mut report = OwnershipRepairReport::default();
        let mut unsettled = BTreeSet::new();
        for (name, org) in &plan.owners_to_record {
            let claimed_at = first_publication(&versions, name, org);
            if self.record_owner(name, org, claimed_at).await? {
                report
                    .owners_recorded
                    .push((name.to_string(), org.to_string()));
            } else {
                // Claimed since the listing was read: the next run plans against that owner.
                unsettled.insert(*name);
            }
        }
        for version in &plan.versions_to_make_private {
            if unsettled.contains(version.name) {
                continue;
            }
            self.make_private(version).await?;
            report.made_private.push(format!(
                "{}/{}@{}",
                version.org, version.name, version.version
            ));
        }
        Ok(report)
    }

    /// `false` when the name has an owner record already.
    async fn record_owner(&self, name: &str, org: &str, at: &str) -> Result<bool, AwsError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(public_name_pk(name)))
            .item("SK", s(PUBLIC_NAME_OWNER_SK))
            .item("ownerOrg", s(org))
            .item("pluginName", s(name))
            .item("claimedAt", s(at))
            .item("GSI1PK", s(PUBLIC_PLUGINS_GSI1PK))
            .item("GSI1SK", s(public_name_owner_gsi1sk(name)))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        written("PutItem", result)
    }

    /// Leaves the version in its org's catalog, private, and takes it off GSI1.
    async fn make_private(&self, version: &PublicVersion<'_>) -> Result<(), AwsError> {
        let parsed = parse_version(version.version, "UpdateItem")?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(plugin_pk(version.org, version.name)))
            .key("SK", s(plugin_sk(&parsed)))
            .update_expression("SET spec.accessModifier = :private REMOVE GSI1PK, GSI1SK")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":private", s(wire_name(AccessModifier::Private)))
            .send()
            .await;
        // Not written when the version is gone since the listing was read: nothing to make private.
        written("UpdateItem", result)?;
        Ok(())
    }

    /// The catalog entries a lookup of `names` by `org` can choose from: the org's own versions
    /// and the other orgs' public ones. Names are read concurrently, and both reads of a name
    /// together.
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
                reads.spawn(async move { catalog.candidates_named(&org, &name).await });
            }
            while let Some(joined) = reads.join_next().await {
                entries.extend(joined.map_err(|e| AwsError::local("Query", "TaskFailed", e))??);
            }
        }
        Ok(entries)
    }

    /// The org's own versions come only from its partition's consistent read: the public
    /// listing's copy of them may be older (an eventually consistent index, or the cache), and a
    /// version the org deactivated a moment ago must not resolve for it from there.
    async fn candidates_named(&self, org: &str, name: &str) -> Result<Vec<CatalogEntry>, AwsError> {
        let (own, public) = tokio::try_join!(
            self.own_versions(org, name),
            self.public_versions_for_lookup(name)
        )?;
        let other_orgs_public = public.iter().filter(|record| record.org != org);
        Ok(own
            .iter()
            .chain(other_orgs_public)
            .map(PluginRecord::entry)
            .collect())
    }

    async fn public_versions_for_lookup(
        &self,
        name: &str,
    ) -> Result<Arc<[PluginRecord]>, AwsError> {
        let Some(cache) = &self.public_cache else {
            return Ok(self.public_versions(name).await?.into());
        };
        if let Some(versions) = cache.fresh(name) {
            return Ok(versions);
        }
        let versions: Arc<[PluginRecord]> = self.public_versions(name).await?.into();
        cache.keep(name, versions.clone());
        Ok(versions)
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
            request = request
                .expression_attribute_values(":deprecated", AttributeValue::Bool(deprecated));
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
        updated_unless_condition_failed(result, record_from_item)
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

/// What [`PluginCatalog::repair_public_names`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnershipRepairReport {
    /// `(name, owner org)`.
    pub owners_recorded: Vec<(String, String)>,
    /// `org/name@version` of each version that became private.
    pub made_private: Vec<String>,
}

/// GSI1's partition of public plugins: owner records by name, and public versions.
struct PublicListing {
    owners: BTreeMap<String, String>,
    versions: Vec<PluginRecord>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OwnerRecord {
    plugin_name: String,
    owner_org: String,
}

impl PublicListing {
    fn from_items(items: &[Item]) -> Result<Self, AwsError> {
        let mut listing = PublicListing {
            owners: BTreeMap::new(),
            versions: Vec::new(),
        };
        for item in items {
            if item
                .get("SK")
                .and_then(|sk| sk.as_s().ok())
                .map(String::as_str)
                == Some(PUBLIC_NAME_OWNER_SK)
            {
                let owner: OwnerRecord = parse_item(item, "public name owner")?;
                listing.owners.insert(owner.plugin_name, owner.owner_org);
            } else {
                listing.versions.push(record_from_item(item)?);
            }
        }
        Ok(listing)
    }

    fn views(&self) -> Vec<PublicVersion<'_>> {
        self.versions
            .iter()
            .map(PluginRecord::public_view)
            .collect()
    }

    fn owner_of(&self, name: &str) -> Option<&str> {
        let versions: Vec<PublicVersion> = self
            .versions
            .iter()
            .filter(|record| record.spec.name == name)
            .map(PluginRecord::public_view)
            .collect();
        public_name_owner(self.owners.get(name).map(String::as_str), &versions)
    }

    fn owned_versions(self) -> Vec<PluginRecord> {
        let mut by_name: BTreeMap<&str, Vec<PublicVersion>> = BTreeMap::new();
        for record in &self.versions {
            by_name
                .entry(record.spec.name.as_str())
                .or_default()
                .push(record.public_view());
        }
        let owners: BTreeMap<String, String> = by_name
            .iter()
            .filter_map(|(name, versions)| {
                let recorded = self.owners.get(*name).map(String::as_str);
                public_name_owner(recorded, versions)
                    .map(|owner| (name.to_string(), owner.to_string()))
            })
            .collect();
        self.versions
            .into_iter()
            .filter(|record| owners.get(&record.spec.name) == Some(&record.org))
            .collect()
    }
}

fn first_publication<'a>(versions: &[PublicVersion<'a>], name: &str, org: &str) -> &'a str {
    versions
        .iter()
        .filter(|v| v.name == name && v.org == org)
        .map(|v| v.published_at)
        .min()
        .unwrap_or_default()
}

fn already_exists(record: &PluginRecord) -> PublishError {
    PublishError::AlreadyExists {
        name: record.spec.name.clone(),
        version: record.spec.version.clone(),
    }
}

fn public_name_taken(record: &PluginRecord) -> PublishError {
    PublishError::PublicNameTaken {
        name: record.spec.name.clone(),
    }
}

/// The serde name of a unit enum variant, as stored in the spec.
fn wire_name(value: AccessModifier) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}
