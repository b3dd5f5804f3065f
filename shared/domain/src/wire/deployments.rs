//! `/api/pipelines/{id}/deployments`: a pipeline's stack deployments.

use serde::{Deserialize, Serialize};

use crate::deployment::DeploymentStatus;

/// A deployment as the caller sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentView {
    pub id: String,
    pub pipeline_id: String,
    pub definition_version: u64,
    /// SHA-256 of the template body sent.
    pub template_hash: String,
    pub stack_name: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_id: Option<String>,
    pub status: DeploymentStatus,
    /// `create`, `update`, `recreate`, `preview` or `none`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub requested_by: String,
    pub requested_at: String,
    pub updated_at: String,
    /// A preview's change set and its proposed changes (on a single deployment's read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub change_set: Option<ChangeSetView>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentList {
    pub items: Vec<DeploymentView>,
}

/// A change set's proposed changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSetView {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub changes: Vec<ResourceChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`, …
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False` or `Conditional` for a modification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}
