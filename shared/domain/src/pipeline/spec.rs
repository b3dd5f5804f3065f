//! A pipeline definition as developers write it: a source and stages of steps, each step a
//! catalog plugin. Shape is checked here; rules and limits in [`validate`](super::validate).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plugin::{AccessModifier, FailureBehavior, RequestedPlugin};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineSpec {
    pub name: String,
    pub project: String,
    #[serde(default)]
    pub description: String,
    pub source: SourceSpec,
    pub stages: Vec<StageSpec>,
    /// Values for `{{ vars.x }}`; may themselves use templates (cycles are refused).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Become CloudFormation stack tags of the deployed pipeline.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub access_modifier: AccessModifier,
    /// What CodePipeline does with a run started while another is in progress; CodePipeline's
    /// own default (`SUPERSEDED`) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<ExecutionMode>,
    /// Run-time variables of the deployed CodePipeline: a run started through the platform may
    /// set them, and actions read them as `#{variables.NAME}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipeline_variables: Vec<PipelineVariable>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineVariable {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ExecutionMode {
    Queued,
    #[default]
    Superseded,
    Parallel,
}

impl ExecutionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionMode::Queued => "QUEUED",
            ExecutionMode::Superseded => "SUPERSEDED",
            ExecutionMode::Parallel => "PARALLEL",
        }
    }
}

/// Where the pipeline's code comes from. Credentials are never inline: a GitHub source names a
/// CodeConnections ARN or a Secrets Manager secret holding the token.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceSpec {
    #[serde(rename_all = "camelCase")]
    Github {
        /// `owner/name`.
        repo: String,
        branch: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connection_arn: Option<String>,
        /// Name of a Secrets Manager secret holding the token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_secret: Option<String>,
        /// Accepted only so that a plaintext token is refused with a clear error.
        #[serde(default, skip_serializing)]
        token: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Codecommit { repository: String, branch: String },
    #[serde(rename_all = "camelCase")]
    S3 { bucket: String, key: String },
}

impl SourceSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Github { .. } => "github",
            SourceSpec::Codecommit { .. } => "codecommit",
            SourceSpec::S3 { .. } => "s3",
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StageSpec {
    pub name: String,
    /// e.g. `dev`, `staging`, `production`; compliance rules key on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub steps: Vec<StepSpec>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepSpec {
    /// Unique in its stage; defaults to the plugin name. It becomes the CodePipeline action
    /// name, which is how execution events are attributed back to the step and its plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub plugin: RequestedPlugin,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole_number::optional_u32"
    )]
    pub timeout_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_behavior: Option<FailureBehavior>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// Runs side by side with the step before it in the same position (the same CodePipeline
    /// `RunOrder`), e.g. test suites that need not wait for each other.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parallel: bool,
    /// Earlier steps whose output this step reads besides the source: `Step` names a step of
    /// the same stage, `Stage/Step` one of an earlier stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
}

impl StepSpec {
    /// The action name: the explicit name, else the plugin's.
    pub fn action_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.plugin.name)
    }
}

/// Whether a step runs before or after the stage's main work (CDK Pipelines' pre/post).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    Pre,
    Post,
}

/// The plugin version a step was pinned to when the pipeline was written.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PinnedStep {
    pub stage: String,
    pub step: String,
    pub plugin: String,
    pub requested: String,
    pub version: String,
    pub category: String,
    /// The org whose version was pinned. Definitions stored before it was recorded lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher_org: Option<String>,
}
