//! `/api/compliance`: stored rules and the dry run.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compliance::{Exempted, Exemption, ExemptionStatus, RuleSpec, Target, Violation};
use crate::pipeline::PipelineSpec;
use crate::plugin::PluginSpec;

/// A stored rule.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    pub id: String,
    /// Also the `ETag`; give it back in `If-Match` to replace or delete this version.
    pub version: u64,
    /// The rule as written; `PUT` takes this object back.
    pub spec: RuleSpec,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleList {
    pub items: Vec<RuleView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What to check: a pipeline definition (templates allowed) or a plugin spec.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginSpec>,
    /// Whose exemptions apply: a pipeline id; for a plugin, its name unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// Rules to try instead of the org's stored ones, e.g. a rule before saving it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<RuleSpec>>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateResponse {
    pub target: Target,
    /// No `error` or `critical` rule fails: the write would be accepted.
    pub compliant: bool,
    /// The attributes the rules saw.
    pub attributes: Value,
    pub warnings: Vec<Violation>,
    pub violations: Vec<Violation>,
    pub exempted: Vec<Exempted>,
}

/// An exemption and where it stands now.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExemptionView {
    #[serde(flatten)]
    pub exemption: Exemption,
    pub status: ExemptionStatus,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExemptionList {
    pub items: Vec<ExemptionView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
