//! `GET /api/me`: who the presented token says the caller is.

use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub org: String,
    pub subject: String,
    /// The person the token answers to: the root of its minting chain.
    pub principal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub permissions: Vec<String>,
    pub issued_at: String,
    pub expires_at: String,
}
