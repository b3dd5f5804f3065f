//! The plugin spec as published to the catalog, in JSON or `plugin-spec.yaml` (same field names).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One immutable version of a plugin.
///
/// Unknown fields are rejected so that a misspelt field (`timeout` for `timeoutMinutes`) fails the
/// publish instead of silently taking the default. Shape is checked here, rules in
/// [`validate`](super::validate); `version` stays a string so that a bad one is reported with the
/// other field errors rather than aborting deserialisation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginSpec {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    pub category: String,
    pub plugin_type: PluginType,
    /// Meaningless for a [`PluginType::ManualApprovalStep`], which runs no build.
    #[serde(default)]
    pub compute_type: ComputeType,
    /// Container image the step runs in; required for the steps that run commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default)]
    pub install_commands: Vec<String>,
    #[serde(default)]
    pub commands: Vec<String>,
    /// Ordered so that the serialised spec, and anything hashed from it, is stable.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: Vec<SecretRef>,
    /// CodeBuild's own default, so an omitted timeout behaves as it would without the catalog.
    #[serde(
        default = "default_timeout_minutes",
        deserialize_with = "crate::whole_number::u32"
    )]
    pub timeout_minutes: u32,
    #[serde(default)]
    pub failure_behavior: FailureBehavior,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_output_directory: Option<String>,
    /// Metadata keys the pipeline must supply for the step to run.
    #[serde(default)]
    pub required_metadata: Vec<String>,
    /// Private unless said otherwise: publishing to every org must be a deliberate act.
    #[serde(default)]
    pub access_modifier: AccessModifier,
    #[serde(default = "default_active")]
    pub active: bool,
}

fn default_timeout_minutes() -> u32 {
    60
}

fn default_active() -> bool {
    true
}

/// A reference to a Secrets Manager secret the step reads at run time; never the value itself.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    pub name: String,
    #[serde(default = "default_required")]
    pub required: bool,
}

/// A secret is listed because the step needs it; optional ones have to be said so.
fn default_required() -> bool {
    true
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PluginType {
    CodeBuildStep,
    ShellStep,
    ManualApprovalStep,
}

impl PluginType {
    /// Whether the step executes commands in a build container (and so needs an image).
    pub fn runs_commands(self) -> bool {
        !matches!(self, PluginType::ManualApprovalStep)
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ComputeType {
    #[default]
    #[serde(rename = "SMALL")]
    Small,
    #[serde(rename = "MEDIUM")]
    Medium,
    #[serde(rename = "LARGE")]
    Large,
    #[serde(rename = "X2_LARGE")]
    X2Large,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureBehavior {
    #[default]
    Fail,
    Warn,
    Ignore,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessModifier {
    #[default]
    Private,
    Public,
}
