//! `make bench`, synthesis: a definition of 10, 50 and 100 steps through the write path's checks
//! and synthesis (`samples::synthesize`), the cost a pipeline write pays to produce its
//! CloudFormation template. Pure domain code, no emulator. Figures, not assertions: the machine
//! is shared.
//!
//! Steps cycle through the sample plugins in stages of at most 20 (the definition limit), every
//! other step in parallel with the one before it. Prints min / median / p90 per synthesis, the
//! template's resource count, its compact body (what CloudFormation receives) and pretty-printed
//! sizes, and whether the body is over the inline limit and goes through S3.

use std::hint::black_box;
use std::time::Duration;

use anyhow::anyhow;
use pb_domain::pipeline::{PipelineSpec, MAX_STEPS_PER_STAGE};
use pb_domain::plugin::CatalogEntry;
use pb_domain::synth::MAX_INLINE_TEMPLATE_BYTES;
use pb_tests::samples::{sample_catalog, synthesize};
use pb_tests::timing::{time, Spread};
use serde_json::{json, Value};

/// Steps in the definition, and how many timed syntheses of it.
const SIZES: [(usize, usize); 3] = [(10, 2_000), (50, 500), (100, 300)];

fn main() -> anyhow::Result<()> {
    let catalog = sample_catalog()?;
    println!(
        "synthesis: write-path checks + synth, {} sample plugins cycled, stages of at most {MAX_STEPS_PER_STAGE} steps; S3 upload above {MAX_INLINE_TEMPLATE_BYTES} body bytes",
        catalog.len()
    );
    println!(
        "  {:>5} {:>6} {:>9} {:>10} {:>12} {:>6}   timing",
        "steps", "stages", "resources", "body B", "pretty B", "S3"
    );
    for (steps, runs) in SIZES {
        let spec = pipeline(steps, &catalog)?;
        let synthesized = synthesize(&spec, &catalog)
            .map_err(|problems| anyhow!("{steps} steps do not synthesize: {problems:#?}"))?;
        let pretty = serde_json::to_string_pretty(&synthesized.template)?.len();
        let samples = time(runs, || {
            black_box(synthesize(black_box(&spec), black_box(&catalog)).ok());
        });
        println!(
            "  {steps:>5} {:>6} {:>9} {:>10} {pretty:>12} {:>6}   {}",
            spec.stages.len(),
            synthesized.resource_count,
            synthesized.body_bytes,
            if synthesized.needs_upload() {
                "yes"
            } else {
                "no"
            },
            summary(runs, &samples)
        );
    }
    Ok(())
}

fn summary(iterations: usize, samples: &[Duration]) -> String {
    let spread = Spread::of(samples);
    let millis = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "min {:.3} ms   median {:.3} ms   p90 {:.3} ms   ({iterations} runs)",
        millis(spread.min),
        millis(spread.median),
        millis(spread.p90),
    )
}

/// `steps` steps over as few stages as the per-stage limit allows, each step given the metadata
/// its plugin requires.
fn pipeline(steps: usize, catalog: &[CatalogEntry]) -> anyhow::Result<PipelineSpec> {
    let stages: Vec<Value> = (0..steps)
        .collect::<Vec<_>>()
        .chunks(MAX_STEPS_PER_STAGE)
        .enumerate()
        .map(|(stage, positions)| {
            let steps: Vec<Value> = positions
                .iter()
                .enumerate()
                .map(|(j, &n)| {
                    let plugin = &catalog[n % catalog.len()].spec;
                    let metadata: serde_json::Map<String, Value> = plugin
                        .required_metadata
                        .iter()
                        .map(|key| (key.clone(), json!(format!("bench-{n}"))))
                        .collect();
                    json!({
                        "name": format!("{}-{n}", plugin.name),
                        "plugin": { "name": plugin.name, "version": plugin.version },
                        "parallel": j % 2 == 1,
                        "metadata": metadata,
                    })
                })
                .collect();
            json!({ "name": format!("Stage{}", stage + 1), "steps": steps })
        })
        .collect();
    Ok(serde_json::from_value(json!({
        "name": format!("bench-{steps}-steps"),
        "project": "bench",
        "source": {
            "type": "github", "repo": "acme/bench", "branch": "main",
            "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/4f1c2a3b-5d6e-4f70-8a9b-0c1d2e3f4a5b",
        },
        "stages": stages,
        "tags": { "cost-center": "bench" },
    }))?)
}
