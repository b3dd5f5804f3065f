//! `/api/audit/runs`: the stack audit's runs as one org sees them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::drift::{ExpiringToken, Finding, FindingType, RunStatus};

/// A run as one org sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgAuditRun {
    pub started_at: String,
    pub finished_at: String,
    /// `failed` when the registry or a region holding this org's entries could not be read
    /// (this org's findings are partial); otherwise `drift` when it has findings, else `clean`.
    /// Another org's unreadable region does not fail this org's part.
    pub status: RunStatus,
    pub trigger: String,
    pub regions: Vec<String>,
    /// What could not be read for this org (the registry, or regions of its entries), by kind.
    pub unscanned: Vec<Unscanned>,
    pub findings: Vec<Finding>,
    pub in_progress: Vec<Finding>,
    pub counts: BTreeMap<FindingType, usize>,
    /// This org's stored platform token when it expires within 14 days of the run or has
    /// expired: store a new one (`POST /api/tokens` with `store`). Not drift: the status
    /// ignores it.
    pub expiring_tokens: Vec<ExpiringToken>,
    /// The run could not read this org's token records: `expiringTokens` says nothing.
    pub stored_tokens_unread: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unscanned {
    pub region: Option<String>,
    pub kind: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRunList {
    pub items: Vec<OrgAuditRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
