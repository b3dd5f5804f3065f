//! `/api/tokens`: minting a machine token, and storing the platform's.

use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    /// What the token is for, e.g. `deploy:ci`; becomes the `scope` claim. Required unless
    /// `store`, whose scope is always `events:ingest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Permissions of the token; each must be held by the caller, none may grant
    /// `tokens:create`. Required unless `store`, whose permissions are always `plugins:read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perms: Option<Vec<String>>,
    /// 1-365, default 30; never past the caller's own token's expiry.
    #[serde(
        default,
        deserialize_with = "crate::whole_number::optional_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_in_days: Option<u32>,
    /// Mint the platform token and write it to Secrets Manager at
    /// `pipeline-builder/{orgId}/platform` (needs `tokens:store`).
    #[serde(default)]
    pub store: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSecret {
    pub secret_name: String,
    /// `created` or `newVersion`.
    pub result: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub token: String,
    pub token_type: String,
    pub jti: String,
    pub subject: String,
    /// The person the token answers to: the root of the minting chain.
    pub principal: String,
    pub scope: String,
    pub perms: Vec<String>,
    pub issued_at: String,
    pub expires_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredSecret>,
}
