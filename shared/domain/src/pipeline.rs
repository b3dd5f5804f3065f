//! Pipelines: definitions composed of catalog plugins, their validation and templating, and the
//! pinning of each step to the plugin version it resolved to when the pipeline was written.

mod order;
mod spec;
mod template;
mod validate;

pub use order::{resolve_input, run_orders, StepRef};
pub use spec::{
    ExecutionMode, PinnedStep, PipelineSpec, PipelineVariable, Position, SourceSpec, StageSpec,
    StepSpec,
};
pub use template::{render_with, resolve as resolve_templates, MAX_EXPANDED_BYTES};
pub use validate::{
    separation_of_duties, validate, MAX_DESCRIPTION_CHARS, MAX_KEY_CHARS, MAX_MAP_ENTRIES,
    MAX_NAME_CHARS, MAX_PIPELINE_VARIABLES, MAX_PROJECT_CHARS, MAX_STAGES, MAX_STEPS,
    MAX_STEPS_PER_STAGE, MAX_STEP_INPUTS, MAX_TAGS, MAX_TAG_VALUE_CHARS, MAX_TIMEOUT_MINUTES,
    MAX_VALUE_BYTES, MAX_VARIABLE_DESCRIPTION_CHARS, MAX_VARIABLE_NAME_CHARS,
    MAX_VARIABLE_VALUE_CHARS, MIN_TIMEOUT_MINUTES, SEPARATION_OF_DUTIES_KEY, SOURCE_STAGE_NAME,
};

use crate::plugin::{FieldError, LookupOutcome, PluginSpec, RequestedPlugin, UnresolvedPlugin};

/// A step together with the plugin spec it was pinned to (what compliance rules look at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedStep {
    pub stage_index: usize,
    pub step_index: usize,
    pub plugin: PluginSpec,
}

/// A step whose plugin reference did not resolve, with the step's path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UnresolvedStep {
    pub field: String,
    pub plugin: String,
    pub requested: String,
    pub code: &'static str,
    pub reason: String,
}

/// Every step's plugin reference, in stage then step order (the order of the lookup request).
pub fn plugin_references(spec: &PipelineSpec) -> Vec<RequestedPlugin> {
    spec.stages
        .iter()
        .flat_map(|stage| stage.steps.iter().map(|step| step.plugin.clone()))
        .collect()
}

fn step_positions(spec: &PipelineSpec) -> Vec<(usize, usize)> {
    spec.stages
        .iter()
        .enumerate()
        .flat_map(|(i, stage)| (0..stage.steps.len()).map(move |j| (i, j)))
        .collect()
}

/// Pins every step to its resolved plugin version, or names every step that did not resolve.
/// `outcome` must be the lookup of [`plugin_references`] of the same spec.
pub fn pin_steps(
    spec: &PipelineSpec,
    outcome: &LookupOutcome,
) -> Result<(Vec<PinnedStep>, Vec<ResolvedStep>), Vec<UnresolvedStep>> {
    let positions = step_positions(spec);
    if !outcome.unresolved.is_empty() {
        return Err(outcome
            .unresolved
            .iter()
            .map(|u| unresolved_step(&positions, u))
            .collect());
    }
    let mut pinned = Vec::new();
    let mut resolved = Vec::new();
    for found in &outcome.resolved {
        let Some(&(i, j)) = positions.get(found.index) else {
            continue;
        };
        let stage = &spec.stages[i];
        pinned.push(PinnedStep {
            stage: stage.name.clone(),
            step: stage.steps[j].action_name().to_string(),
            plugin: found.name.clone(),
            requested: found.requested.clone(),
            version: found.version.clone(),
            category: found.spec.category.clone(),
            publisher_org: Some(found.publisher_org.clone()),
        });
        resolved.push(ResolvedStep {
            stage_index: i,
            step_index: j,
            plugin: found.spec.clone(),
        });
    }
    Ok((pinned, resolved))
}

/// Every `requiredMetadata` key of a step's plugin that the step's own metadata lacks, named by
/// the step and the key.
pub fn check_required_metadata(
    spec: &PipelineSpec,
    steps: &[ResolvedStep],
) -> Result<(), Vec<FieldError>> {
    let problems: Vec<FieldError> = steps
        .iter()
        .flat_map(|resolved| {
            let step = &spec.stages[resolved.stage_index].steps[resolved.step_index];
            resolved
                .plugin
                .required_metadata
                .iter()
                .filter(|key| !step.metadata.contains_key(*key))
                .map(move |key| FieldError {
                    field: format!(
                        "stages[{}].steps[{}].metadata.{key}",
                        resolved.stage_index, resolved.step_index
                    ),
                    message: format!(
                        "step {} uses plugin {}@{}, which requires the metadata key '{key}'",
                        step.action_name(),
                        resolved.plugin.name,
                        resolved.plugin.version
                    ),
                })
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn unresolved_step(positions: &[(usize, usize)], unresolved: &UnresolvedPlugin) -> UnresolvedStep {
    let field = positions
        .get(unresolved.index)
        .map(|(i, j)| format!("stages[{i}].steps[{j}].plugin"))
        .unwrap_or_else(|| "stages".into());
    UnresolvedStep {
        field,
        plugin: unresolved.name.clone(),
        requested: unresolved.requested.clone(),
        code: unresolved.code,
        reason: unresolved.reason.clone(),
    }
}

#[cfg(test)]
mod tests;
