//! `/api/plugins`: the catalog as the caller sees it.

use serde::{Deserialize, Serialize};

use crate::compliance::Violation;
use crate::plugin::{AccessModifier, ComputeType, PluginSpec, PluginType};

/// Whose catalog a version comes from, as the caller sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// Published by the caller's org.
    Org,
    /// Another org's public plugin.
    Public,
}

/// One published version.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginVersion {
    pub source: Source,
    pub spec: PluginSpec,
    pub deprecated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_message: Option<String>,
    pub published_at: String,
    /// Only shown for the caller's own org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_by: Option<String>,
    /// `warning` rules the version fails (on publish only; blocking rules refuse it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance_warnings: Vec<Violation>,
}

/// A plugin as listed: its latest version.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSummary {
    pub name: String,
    pub latest_version: String,
    pub description: String,
    pub category: String,
    pub keywords: Vec<String>,
    pub plugin_type: PluginType,
    pub compute_type: ComputeType,
    pub access_modifier: AccessModifier,
    pub active: bool,
    pub deprecated: bool,
    pub source: Source,
    pub published_at: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginList {
    pub items: Vec<PluginSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionList {
    pub name: String,
    pub items: Vec<PluginVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
