//! A pipeline's CloudFormation template: from a stored definition (its steps' plugins read back
//! at the versions pinned when it was written) or from a definition checked as a write checks it.

use std::collections::BTreeMap;

use pb_aws::pipelines::PipelineRecord;
use pb_domain::pipeline::{resolve_templates, PipelineSpec, ResolvedStep};
use pb_domain::plugin::{FieldError, PluginSpec};
use pb_domain::synth::{synth, Settings, SynthInput, Synthesized};
use semver::Version;

use crate::problem::ApiError;
use crate::services::definitions::check_pipeline;
use crate::state::AppState;

/// What a definition that is never stored is synthesized under (it has no id yet).
pub const DRY_RUN_PIPELINE_ID: &str = "dry-run";

/// The template the stored pipeline would deploy as.
pub async fn stored_template(
    state: &AppState,
    record: &PipelineRecord,
) -> Result<Synthesized, ApiError> {
    let (resolved, steps) = stored_definition(state, record).await?;
    synthesize(&record.org, &record.id, &resolved, &steps)
}

/// The stored definition with templates expanded, and each step's plugin at its pinned version.
pub async fn stored_definition(
    state: &AppState,
    record: &PipelineRecord,
) -> Result<(PipelineSpec, Vec<ResolvedStep>), ApiError> {
    let resolved = resolve_templates(&record.spec).map_err(ApiError::Validation)?;
    let steps = pinned_plugins(state, record, &resolved).await?;
    Ok((resolved, steps))
}

/// The template a definition would deploy as, after every check a write runs but compliance.
pub async fn dry_run_template(
    state: &AppState,
    org: &str,
    spec: &PipelineSpec,
) -> Result<Synthesized, ApiError> {
    let checked = check_pipeline(state, org, spec).await?;
    synthesize(org, DRY_RUN_PIPELINE_ID, &checked.resolved, &checked.steps)
}

pub fn synthesize(
    org: &str,
    pipeline_id: &str,
    resolved: &PipelineSpec,
    steps: &[ResolvedStep],
) -> Result<Synthesized, ApiError> {
    synth(&SynthInput {
        org,
        pipeline_id,
        spec: resolved,
        steps,
        settings: Settings::default(),
    })
    .map_err(ApiError::Validation)
}

/// Each step's plugin at its pinned version, read once per distinct version.
async fn pinned_plugins(
    state: &AppState,
    record: &PipelineRecord,
    resolved: &PipelineSpec,
) -> Result<Vec<ResolvedStep>, ApiError> {
    let mut loaded: BTreeMap<(String, String, String), PluginSpec> = BTreeMap::new();
    let mut steps = Vec::new();
    let mut problems = Vec::new();
    for (i, stage) in resolved.stages.iter().enumerate() {
        for (j, step) in stage.steps.iter().enumerate() {
            let field = format!("stages[{i}].steps[{j}].plugin");
            let Some(pin) = record
                .pinned
                .iter()
                .find(|p| p.stage == stage.name && p.step == step.action_name())
            else {
                problems.push(FieldError {
                    field,
                    message:
                        "no plugin version is pinned for this step; update the pipeline to pin one"
                            .into(),
                });
                continue;
            };
            let publisher = pin
                .publisher_org
                .clone()
                .unwrap_or_else(|| record.org.clone());
            let key = (publisher, pin.plugin.clone(), pin.version.clone());
            if !loaded.contains_key(&key) {
                match load(state, &key).await? {
                    Some(spec) => {
                        loaded.insert(key.clone(), spec);
                    }
                    None => {
                        problems.push(FieldError { field, message: format!("the pinned version {}@{} is no longer in the catalog; update the pipeline to pin another", pin.plugin, pin.version) });
                        continue;
                    }
                }
            }
            steps.push(ResolvedStep {
                stage_index: i,
                step_index: j,
                plugin: loaded[&key].clone(),
            });
        }
    }
    if problems.is_empty() {
        Ok(steps)
    } else {
        Err(ApiError::UnresolvedPlugins(problems))
    }
}

async fn load(
    state: &AppState,
    (org, name, version): &(String, String, String),
) -> Result<Option<PluginSpec>, ApiError> {
    let Ok(version) = Version::parse(version) else {
        return Ok(None);
    };
    Ok(state
        .catalog
        .get(org, name, &version)
        .await?
        .map(|record| record.spec))
}
