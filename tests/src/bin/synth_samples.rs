//! Writes the template of every sample pipeline to a folder (`make test` lints them with
//! cfn-lint and checkov). Fails naming the sample and fields if one does not synthesize.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use pb_tests::samples::{sample_catalog, sample_pipelines, synthesize};

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .context("usage: synth_samples OUTPUT_DIR")?,
    );
    std::fs::create_dir_all(&out)?;
    let catalog = sample_catalog()?;
    for (name, spec) in sample_pipelines()? {
        let synthesized = match synthesize(&spec, &catalog) {
            Ok(synthesized) => synthesized,
            Err(problems) => {
                bail!("samples/pipelines/{name}.json does not synthesize: {problems:#?}")
            }
        };
        let path = out.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&synthesized.template)?)?;
        println!(
            "{}: {} resources, {} bytes",
            path.display(),
            synthesized.resource_count,
            synthesized.body_bytes
        );
    }
    Ok(())
}
