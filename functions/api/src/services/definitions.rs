//! A pipeline definition or plugin spec checked as a write checks it, down to the attributes the
//! compliance rules see. The dry run (`/api/compliance/validate`) runs exactly these steps, so it
//! cannot judge a definition differently from the write it previews.

use pb_domain::compliance::{pipeline_attributes, plugin_attributes};
use pb_domain::pipeline::{
    check_required_metadata, pin_steps, plugin_references, resolve_templates, validate, PinnedStep,
    PipelineSpec, ResolvedStep,
};
use pb_domain::plugin::{
    names_to_load, resolve_batch, validate_for_publisher, FieldError, PluginSpec,
};
use serde_json::Value;

use crate::problem::ApiError;
use crate::state::AppState;

/// A pipeline definition that passed every check but compliance.
pub struct CheckedPipeline {
    /// Each step's plugin, pinned to the version its range resolved to.
    pub pinned: Vec<PinnedStep>,
    /// What compliance rules on pipelines see.
    pub attributes: Value,
    /// The definition with templates expanded, and each step's pinned plugin: what synthesis
    /// takes.
    pub resolved: PipelineSpec,
    pub steps: Vec<ResolvedStep>,
}

/// Templates, limits, plugin references and the metadata the plugins require, in that order:
/// plugin lookup only runs for a definition that is otherwise valid, and the attributes describe
/// the pinned plugins.
pub async fn check_pipeline(
    state: &AppState,
    org: &str,
    spec: &PipelineSpec,
) -> Result<CheckedPipeline, ApiError> {
    let resolved = resolve_templates(spec).map_err(ApiError::Validation)?;
    validate(&resolved).map_err(ApiError::Validation)?;
    let references = plugin_references(&resolved);
    let candidates = state
        .catalog
        .candidates(org, &names_to_load(&references))
        .await?;
    let outcome = resolve_batch(&references, org, &candidates);
    let (pinned, steps) = pin_steps(&resolved, &outcome).map_err(|unresolved| {
        ApiError::UnresolvedPlugins(
            unresolved
                .into_iter()
                .map(|u| FieldError {
                    field: u.field,
                    message: format!("{}@{}: {}", u.plugin, u.requested, u.reason),
                })
                .collect(),
        )
    })?;
    check_required_metadata(&resolved, &steps).map_err(ApiError::Validation)?;
    Ok(CheckedPipeline {
        pinned,
        attributes: pipeline_attributes(&resolved, &steps),
        resolved,
        steps,
    })
}

/// A plugin spec as its publisher may write it; the attributes compliance rules on plugins see.
pub fn check_plugin(state: &AppState, org: &str, spec: &PluginSpec) -> Result<Value, ApiError> {
    validate_for_publisher(spec, org, &state.config.platform_secret_prefix)
        .map_err(ApiError::Validation)?;
    Ok(plugin_attributes(spec))
}
