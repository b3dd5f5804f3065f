//! Records of the tokens minted through the API, in CatalogTable under the org's partition
//! (`PK=ORG#{org}`, `SK=TOKEN#{jti}`): what each token may do and who minted it, never the token
//! itself. A record expires with its token (`expiresAt` is the table's TTL attribute), and
//! revoking marks it, so verification can refuse the token before it expires.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, Select};
use pb_domain::drift::StoredToken;
use serde::{Deserialize, Serialize};

use crate::attributes::{n, parse_item, query_items, s, to_item, Item};
use crate::conditional::updated_unless_condition_failed;
use crate::AwsError;

const TOKEN_SK_PREFIX: &str = "TOKEN#";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub org: String,
    pub jti: String,
    pub sub: String,
    /// The person at the root of the token's chain.
    pub principal: String,
    pub scope: Option<String>,
    pub perms: Vec<String>,
    /// Seconds since the epoch, like the token's `iat` and `exp`.
    pub issued_at: i64,
    pub expires_at: i64,
    /// `sub` of the token that minted this one.
    pub minted_by: String,
    /// Whether the token was also written to the org's platform secret.
    pub stored: bool,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TokenStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn token_pk(org: &str) -> String {
    format!("ORG#{org}")
}

fn token_sk(jti: &str) -> String {
    format!("{TOKEN_SK_PREFIX}{jti}")
}

impl TokenStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        TokenStore {
            client,
            table: table.into(),
        }
    }

    /// Records a freshly minted token; its jti must be new.
    pub async fn record(&self, record: &TokenRecord) -> Result<(), AwsError> {
        let mut item =
            to_item(record).map_err(|e| AwsError::local("PutItem", "Serialization", e))?;
        item.insert("PK".into(), s(token_pk(&record.org)));
        item.insert("SK".into(), s(token_sk(&record.jti)));
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

    /// Every token record of the org (expired ones until the TTL removes them).
    pub async fn org_tokens(&self, org: &str) -> Result<Vec<TokenRecord>, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(token_pk(org)))
            .expression_attribute_values(":prefix", s(TOKEN_SK_PREFIX))
            .consistent_read(true);
        query_items(query).await?.iter().map(decode).collect()
    }

    /// The org's token records that say the token was stored in its platform secret, read with
    /// only the attributes the audit needs, so its role can be limited to them
    /// (`dynamodb:Attributes`).
    pub async fn stored_tokens(&self, org: &str) -> Result<Vec<StoredToken>, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .filter_expression("#stored = :stored")
            .select(Select::SpecificAttributes)
            .projection_expression("#jti, #issuedAt, #expiresAt")
            .expression_attribute_names("#stored", "stored")
            .expression_attribute_names("#jti", "jti")
            .expression_attribute_names("#issuedAt", "issuedAt")
            .expression_attribute_names("#expiresAt", "expiresAt")
            .expression_attribute_values(":pk", s(token_pk(org)))
            .expression_attribute_values(":prefix", s(TOKEN_SK_PREFIX))
            .expression_attribute_values(":stored", AttributeValue::Bool(true));
        query_items(query)
            .await?
            .iter()
            .map(|item| {
                let stored: StoredTokenItem = parse_item(item, "token record")?;
                Ok(StoredToken {
                    org: org.to_string(),
                    jti: stored.jti,
                    issued_at: stored.issued_at,
                    expires_at: stored.expires_at,
                })
            })
            .collect()
    }

    /// Marks the org's token `jti` revoked (the first revocation's time and author stay);
    /// `None` when the org has no such token.
    pub async fn revoke(
        &self,
        org: &str,
        jti: &str,
        by: &str,
        at: i64,
    ) -> Result<Option<TokenRecord>, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(token_pk(org)))
            .key("SK", s(token_sk(jti)))
            .update_expression(
                "SET revokedAt = if_not_exists(revokedAt, :at), revokedBy = if_not_exists(revokedBy, :by)",
            )
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":by", s(by))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        updated_unless_condition_failed(result, decode)
    }

    /// Whether the org's token `jti` was revoked. Tokens without a record (minted by the CLI)
    /// are not revoked.
    pub async fn is_revoked(&self, org: &str, jti: &str) -> Result<bool, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(token_pk(org)))
            .key("SK", s(token_sk(jti)))
            .projection_expression("revokedAt")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::classify("GetItem", e))?;
        Ok(output
            .item
            .is_some_and(|item| item.contains_key("revokedAt")))
    }
}

/// The attributes [`TokenStore::stored_tokens`] projects.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredTokenItem {
    jti: String,
    issued_at: i64,
    expires_at: i64,
}

fn decode(item: &Item) -> Result<TokenRecord, AwsError> {
    parse_item(item, "token record")
}
