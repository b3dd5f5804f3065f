//! `/api/pipelines`: stored definitions as the caller sees them.

use serde::{Deserialize, Serialize};

use crate::compliance::Violation;
use crate::pipeline::{PinnedStep, PipelineSpec};
use crate::plugin::AccessModifier;
use crate::wire::plugins::Source;

/// A stored pipeline as the caller sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineView {
    pub id: String,
    /// Also the `ETag`; give it back in `If-Match` to update or delete this version.
    pub version: u64,
    pub source: Source,
    /// The definition as written, templates unexpanded.
    pub spec: PipelineSpec,
    /// The plugin version each step was pinned to when this version was written.
    pub pinned: Vec<PinnedStep>,
    /// The definition with templates expanded (`?resolve=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<PipelineSpec>,
    pub created_at: String,
    pub updated_at: String,
    /// Only shown to the owning org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// `warning` rules this version fails (on writes only; blocking rules refuse the write).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance_warnings: Vec<Violation>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSummary {
    pub id: String,
    pub name: String,
    pub project: String,
    pub description: String,
    pub access_modifier: AccessModifier,
    pub source: Source,
    pub version: u64,
    pub environments: Vec<String>,
    pub plugins: Vec<String>,
    pub updated_at: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineList {
    pub items: Vec<PipelineSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
