//! The samples under `samples/` as the platform sees them: plugin specs as a catalog of one org,
//! and each sample pipeline taken through the write path (templates, validation, pinning,
//! required metadata) into synthesis — without a server, so templates can be linted offline.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use pb_domain::pipeline::{
    check_required_metadata, pin_steps, plugin_references, resolve_templates, validate,
    PipelineSpec,
};
use pb_domain::plugin::{resolve_batch, CatalogEntry, FieldError, PluginSpec};
use pb_domain::synth::{synth, Settings, SynthInput, Synthesized};
use pb_domain::yaml::{to_json, Limits};

/// The org the samples belong to, and the id every sample pipeline is synthesized under.
pub const SAMPLE_ORG: &str = "acme";
pub const SAMPLE_PIPELINE_ID: &str = "pl-sample";

fn samples_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(kind)
}

fn files(kind: &str) -> anyhow::Result<Vec<PathBuf>> {
    let dir = samples_dir(kind);
    let mut paths = std::fs::read_dir(&dir)
        .with_context(|| dir.display().to_string())?
        .map(|entry| Ok(entry?.path()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    paths.sort();
    Ok(paths)
}

/// Every sample plugin, published by [`SAMPLE_ORG`].
pub fn sample_catalog() -> anyhow::Result<Vec<CatalogEntry>> {
    files("plugins")?
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)?;
            let value = to_json(&text, Limits::BODY).with_context(|| path.display().to_string())?;
            let spec: PluginSpec =
                serde_json::from_value(value).with_context(|| path.display().to_string())?;
            Ok(CatalogEntry {
                org: SAMPLE_ORG.into(),
                spec,
            })
        })
        .collect()
}

/// Every sample pipeline definition, by file stem.
pub fn sample_pipelines() -> anyhow::Result<Vec<(String, PipelineSpec)>> {
    files("pipelines")?
        .iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .context("a sample file name")?
                .to_string();
            let spec = serde_json::from_slice(&std::fs::read(path)?)
                .with_context(|| path.display().to_string())?;
            Ok((stem, spec))
        })
        .collect()
}

/// A definition through the write path's checks, then synthesized.
pub fn synthesize(
    spec: &PipelineSpec,
    catalog: &[CatalogEntry],
) -> Result<Synthesized, Vec<FieldError>> {
    let resolved = resolve_templates(spec)?;
    validate(&resolved)?;
    let outcome = resolve_batch(&plugin_references(&resolved), SAMPLE_ORG, catalog);
    let (_, steps) = pin_steps(&resolved, &outcome).map_err(|unresolved| {
        unresolved
            .into_iter()
            .map(|u| FieldError {
                field: u.field,
                message: u.reason,
            })
            .collect::<Vec<_>>()
    })?;
    check_required_metadata(&resolved, &steps)?;
    synth(&SynthInput {
        org: SAMPLE_ORG,
        pipeline_id: SAMPLE_PIPELINE_ID,
        spec: &resolved,
        steps: &steps,
        settings: Settings::default(),
    })
}
