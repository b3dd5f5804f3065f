//! Compliance rules and their exemptions in CatalogTable, in the org's partition
//! (`PK=ORG#{org}`, `SK=RULE#{id}` / `SK=EXEMPTION#{id}`), all reads consistent: a rule written a
//! moment ago must already apply to the next pipeline write.
//!
//! Every rule carries a `version` (its ETag): replacing or deleting it can be conditioned on the
//! version the caller read, so of two concurrent edits exactly one wins. Rules stored before
//! versions existed read as version 1.
//!
//! Listings resume after the last id of the previous page with `SK BETWEEN`, so a page costs
//! reads proportional to its size, not to the org's whole rule set.

use crate::conditional::written;
use crate::keys::{
    exemption_pk, exemption_sk, prefix_end, rule_pk, rule_sk, EXEMPTION_SK_PREFIX, RULE_SK_PREFIX,
};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use pb_domain::compliance::{Exemption, RuleSpec, Target};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::attributes::{from_item, n, s, to_item, Item};
use crate::conditional::updated_unless_condition_failed;
use crate::AwsError;

/// A stored rule: the rule as written plus who wrote it when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleRecord {
    pub org: String,
    pub id: String,
    /// 1 when created, one more on every replacement; the ETag.
    #[serde(default = "first_version")]
    pub version: u64,
    pub spec: RuleSpec,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
}

fn first_version() -> u64 {
    1
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditional {
    Written,
    /// There is no such rule.
    Missing,
    /// The rule is no longer at the expected version.
    Stale,
}

/// One page of a listing; `more` when items follow the last one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

#[derive(Debug, Clone)]
pub struct RuleStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl RuleStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        RuleStore {
            client,
            table: table.into(),
        }
    }

    /// Stores a new rule; its id must be fresh.
    pub async fn create(&self, record: &RuleRecord) -> Result<(), AwsError> {
        let item = keyed_item(record, rule_pk(&record.org), rule_sk(&record.id))?;
        self.put_new(item).await
    }

    pub async fn get(&self, org: &str, id: &str) -> Result<Option<RuleRecord>, AwsError> {
        self.get_item(rule_pk(org), rule_sk(id)).await
    }

    /// Replaces a rule still at `expected_version`; `record.version` must be the next one.
    pub async fn replace(
        &self,
        record: &RuleRecord,
        expected_version: u64,
    ) -> Result<Conditional, AwsError> {
        let item = keyed_item(record, rule_pk(&record.org), rule_sk(&record.id))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(at_version(expected_version))
            .expression_attribute_values(":expected", n(expected_version))
            .send()
            .await;
        if written("PutItem", result)? {
            Ok(Conditional::Written)
        } else {
            self.explain_condition_failure(&record.org, &record.id)
                .await
        }
    }

    /// Deletes a rule, only at `expected_version` when given.
    pub async fn delete(
        &self,
        org: &str,
        id: &str,
        expected_version: Option<u64>,
    ) -> Result<Conditional, AwsError> {
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(rule_pk(org)))
            .key("SK", s(rule_sk(id)));
        let request = match expected_version {
            Some(version) => request
                .condition_expression(at_version(version))
                .expression_attribute_values(":expected", n(version)),
            None => request.condition_expression("attribute_exists(PK)"),
        };
        if written("DeleteItem", request.send().await)? {
            Ok(Conditional::Written)
        } else {
            self.explain_condition_failure(org, id).await
        }
    }

    async fn explain_condition_failure(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Conditional, AwsError> {
        Ok(match self.get(org, id).await? {
            None => Conditional::Missing,
            Some(_) => Conditional::Stale,
        })
    }

    /// The org's rules in id order, starting after `after`, those that `keep` accepts.
    pub async fn list(
        &self,
        org: &str,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&RuleRecord) -> bool,
    ) -> Result<Page<RuleRecord>, AwsError> {
        let from = after.map(rule_sk);
        self.page(rule_pk(org), RULE_SK_PREFIX, from, limit, keep)
            .await
    }

    /// The org's active rules for `target` (effective windows are the evaluation's to check).
    pub async fn active_rules(
        &self,
        org: &str,
        target: Target,
    ) -> Result<Vec<RuleRecord>, AwsError> {
        let keep = |r: &RuleRecord| r.spec.active && r.spec.target == target;
        self.all(rule_pk(org), RULE_SK_PREFIX, keep).await
    }

    /// The org's active rules of both targets (the per-org cap counts them all).
    pub async fn active(&self, org: &str) -> Result<Vec<RuleRecord>, AwsError> {
        self.all(rule_pk(org), RULE_SK_PREFIX, |r: &RuleRecord| r.spec.active)
            .await
    }

    /// Stores a new exemption request; its id must be fresh.
    pub async fn create_exemption(&self, org: &str, exemption: &Exemption) -> Result<(), AwsError> {
        let item = keyed_item(exemption, exemption_pk(org), exemption_sk(&exemption.id))?;
        self.put_new(item).await
    }

    pub async fn get_exemption(&self, org: &str, id: &str) -> Result<Option<Exemption>, AwsError> {
        self.get_item(exemption_pk(org), exemption_sk(id)).await
    }

    /// The org's exemptions in id order, starting after `after`, those that `keep` accepts.
    pub async fn list_exemptions(
        &self,
        org: &str,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&Exemption) -> bool,
    ) -> Result<Page<Exemption>, AwsError> {
        let from = after.map(exemption_sk);
        self.page(exemption_pk(org), EXEMPTION_SK_PREFIX, from, limit, keep)
            .await
    }

    /// Every exemption of the org for `entity`, whatever its status.
    pub async fn exemptions_for(
        &self,
        org: &str,
        entity: &str,
    ) -> Result<Vec<Exemption>, AwsError> {
        let keep = |e: &Exemption| e.entity == entity;
        self.all(exemption_pk(org), EXEMPTION_SK_PREFIX, keep).await
    }

    /// Stores the approval of `approved` unless someone approved it first or it no longer
    /// exists; `None` then. The requester check is repeated in the condition so that no
    /// interleaving can let a requester approve their own exemption.
    pub async fn record_approval(
        &self,
        org: &str,
        approved: &Exemption,
    ) -> Result<Option<Exemption>, AwsError> {
        let (Some(by), Some(at)) = (&approved.approved_by, &approved.approved_at) else {
            return Err(AwsError::local(
                "UpdateItem",
                "InvalidRequest",
                "an approval needs approvedBy and approvedAt",
            ));
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(exemption_pk(org)))
            .key("SK", s(exemption_sk(&approved.id)))
            .update_expression("SET approvedBy = :by, approvedAt = :at")
            .condition_expression(
                "attribute_exists(PK) AND attribute_not_exists(approvedBy) AND requestedBy <> :by",
            )
            .expression_attribute_values(":by", s(by))
            .expression_attribute_values(":at", s(at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        updated_unless_condition_failed(result, decode)
    }

    async fn put_new(&self, item: Item) -> Result<(), AwsError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(|e| AwsError::classify("PutItem", e))?;
        Ok(())
    }

    async fn get_item<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<T>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        output.item.as_ref().map(decode).transpose()
    }

    /// Items of one kind (`prefix`) in the partition, after the sort key `from` when given.
    fn range_query(
        &self,
        pk: String,
        prefix: &str,
        from: Option<&str>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":from", s(from.unwrap_or(prefix)))
            .expression_attribute_values(":to", s(prefix_end(prefix)))
            .consistent_read(true)
    }

    async fn page<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        from: Option<String>,
        limit: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Page<T>, AwsError> {
        // One more than the page to learn whether more follow, one for the resumed-after item.
        let read_size = i32::try_from(limit.saturating_add(2)).unwrap_or(i32::MAX);
        let mut items = self
            .range_query(pk, prefix, from.as_deref())
            .limit(read_size)
            .into_paginator()
            .items()
            .send();
        // BETWEEN is inclusive: the item the previous page ended with comes back first.
        let resumed_after = from.map(AttributeValue::S);
        let mut page = Vec::new();
        while let Some(item) = items.next().await {
            let item = item.map_err(|e| AwsError::classify("Query", e))?;
            if resumed_after.is_some() && item.get("SK") == resumed_after.as_ref() {
                continue;
            }
            let value: T = decode(&item)?;
            if !keep(&value) {
                continue;
            }
            if page.len() == limit {
                return Ok(Page {
                    items: page,
                    more: true,
                });
            }
            page.push(value);
        }
        Ok(Page {
            items: page,
            more: false,
        })
    }

    async fn all<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Vec<T>, AwsError> {
        let items: Vec<Item> = self
            .range_query(pk, prefix, None)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| AwsError::classify("Query", e))?;
        let mut kept = Vec::new();
        for item in &items {
            let value: T = decode(item)?;
            if keep(&value) {
                kept.push(value);
            }
        }
        Ok(kept)
    }
}

/// The condition for a write at `version` (`:expected`); a rule stored before versions existed
/// has none and is at version 1.
fn at_version(version: u64) -> &'static str {
    if version == first_version() {
        "attribute_exists(PK) AND (version = :expected OR attribute_not_exists(version))"
    } else {
        "attribute_exists(PK) AND version = :expected"
    }
}

fn keyed_item<T: Serialize>(value: &T, pk: String, sk: String) -> Result<Item, AwsError> {
    let mut item = to_item(value).map_err(|e| AwsError::local("PutItem", "Serialization", e))?;
    item.insert("PK".into(), s(pk));
    item.insert("SK".into(), s(sk));
    Ok(item)
}

fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, AwsError> {
    from_item(item).map_err(|e| AwsError::Rejected {
        operation: "Query",
        code: "CorruptItem".into(),
        message: format!("stored compliance item does not parse: {e}"),
    })
}
