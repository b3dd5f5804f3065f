//! `make bench`, compliance: evaluation of a 50-step pipeline against 100 rules, the cost every
//! pipeline write pays before it is stored. Pure domain code, no emulator. Figures, not
//! assertions: the machine is shared.
//!
//! The rules are the pipeline rules of `samples/rules/` plus generated ones until there are 100,
//! cycling through every operator and computed field, a third of them combining conditions.
//! Prints min / median / p90 per evaluation, and the same for the two steps around it: the
//! attribute projection and compiling the stored rules (regexes included).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context as _};
use pb_domain::compliance::{evaluate, pipeline_attributes, Evaluation, Rule, RuleSpec, Target};
use pb_domain::pipeline::{pin_steps, plugin_references, PipelineSpec, ResolvedStep};
use pb_domain::plugin::{resolve_batch, CatalogEntry};
use pb_tests::timing::{time, Spread};
use serde_json::{json, Value};

const ORG: &str = "acme";
const STAGES: usize = 10;
const STEPS_PER_STAGE: usize = 5;
const RULES: usize = 100;
const EVALUATIONS: usize = 20_000;
const COMPILATIONS: usize = 500;

fn main() -> anyhow::Result<()> {
    let (spec, steps) = pipeline()?;
    ensure!(
        steps.len() == STAGES * STEPS_PER_STAGE,
        "expected a 50-step pipeline"
    );
    let specs = rule_specs()?;
    ensure!(
        specs.len() == RULES,
        "expected {RULES} rules, built {}",
        specs.len()
    );
    let rules = compile(&specs)?;
    let attributes = pipeline_attributes(&spec, &steps);
    let now = chrono::Utc::now();
    let run = |attributes: &Value| -> Evaluation {
        evaluate(&rules, Target::Pipeline, "pl-bench", attributes, now, &[])
    };
    let outcome = run(&attributes);

    let evaluation = time(EVALUATIONS, || {
        black_box(run(black_box(&attributes)));
    });
    let projection = time(EVALUATIONS, || {
        black_box(pipeline_attributes(black_box(&spec), black_box(&steps)));
    });
    let compilation = time(COMPILATIONS, || {
        black_box(compile(black_box(&specs)).ok());
    });
    let end_to_end = time(EVALUATIONS, || {
        black_box(run(&pipeline_attributes(
            black_box(&spec),
            black_box(&steps),
        )));
    });

    println!(
        "compliance: {}-step pipeline, {RULES} rules ({} blocking and {} warning conditions fail)",
        steps.len(),
        outcome.violations.len(),
        outcome.warnings.len()
    );
    report("evaluate", EVALUATIONS, &evaluation);
    report("project attributes", EVALUATIONS, &projection);
    report("project + evaluate", EVALUATIONS, &end_to_end);
    report("compile 100 rules", COMPILATIONS, &compilation);
    Ok(())
}

fn report(label: &str, iterations: usize, samples: &[Duration]) {
    let spread = Spread::of(samples);
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "  {label:<20} min {:>8.1} µs   median {:>8.1} µs   p90 {:>8.1} µs   ({iterations} runs)",
        micros(spread.min),
        micros(spread.median),
        micros(spread.p90),
    );
}

fn compile(specs: &[RuleSpec]) -> anyhow::Result<Vec<Rule>> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            Rule::compile(format!("rule-{i:03}"), spec)
                .map_err(|errors| anyhow::anyhow!("rule {i} ({}): {errors:?}", spec.name))
        })
        .collect()
}

/// Ten plugins of every type and category a pipeline mixes.
fn catalog() -> anyhow::Result<Vec<CatalogEntry>> {
    let plugins = [
        ("checkout", "source", "CodeBuildStep", 10),
        ("node-build", "build", "CodeBuildStep", 30),
        ("rust-build", "build", "CodeBuildStep", 60),
        ("unit-tests", "test", "CodeBuildStep", 30),
        ("integration-tests", "test", "CodeBuildStep", 90),
        ("security-scan", "security", "CodeBuildStep", 20),
        ("lint", "quality", "ShellStep", 15),
        ("package", "build", "ShellStep", 20),
        ("cfn-deploy", "deploy", "ShellStep", 60),
        ("manual-approval", "approval", "ManualApprovalStep", 480),
    ];
    plugins
        .iter()
        .map(|(name, category, plugin_type, timeout)| {
            let mut spec = json!({
                "name": name, "version": "1.4.2", "category": category,
                "description": format!("{name} for the benchmark"), "pluginType": plugin_type,
                "timeoutMinutes": timeout, "accessModifier": "public",
            });
            if *plugin_type != "ManualApprovalStep" {
                spec["image"] = json!(format!("public.ecr.aws/acme/{name}:1.4"));
                spec["commands"] = json!([format!("./{name}.sh")]);
            }
            Ok(CatalogEntry {
                org: ORG.into(),
                spec: serde_json::from_value(spec)?,
            })
        })
        .collect()
}

/// Ten stages of five steps, resolved and pinned as a pipeline write does.
fn pipeline() -> anyhow::Result<(PipelineSpec, Vec<ResolvedStep>)> {
    let catalog = catalog()?;
    let ranges = ["1.4.2", "^1", "~1.4", "latest", ">=1 <2"];
    let environments = [
        "dev",
        "dev",
        "test",
        "test",
        "staging",
        "staging",
        "production",
    ];
    let stages: Vec<Value> = (0..STAGES)
        .map(|i| {
            let steps: Vec<Value> = (0..STEPS_PER_STAGE)
                .map(|j| {
                    let plugin = &catalog[(i * STEPS_PER_STAGE + j) % catalog.len()].spec.name;
                    json!({"name": format!("{plugin}-{j}"),
                           "plugin": {"name": plugin, "version": ranges[(i + j) % ranges.len()]},
                           "timeoutMinutes": if j == 2 { Some(45) } else { None }})
                })
                .collect();
            let mut stage = json!({"name": format!("Stage{i}"), "steps": steps});
            if let Some(environment) = environments.get(i) {
                stage["environment"] = json!(environment);
            }
            stage
        })
        .collect();
    let spec: PipelineSpec = serde_json::from_value(json!({
        "name": "bench-pipeline", "project": "bench",
        "description": "A long pipeline\nwith a multi-line description\nfor $lines",
        "source": {"type": "github", "repo": "acme/bench", "branch": "main",
                   "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/abc"},
        "stages": stages,
        "tags": {"cost-center": "cc-1", "team": "platform", "tier": "1"},
        "metadata": {"owner": "platform"},
    }))?;
    let outcome = resolve_batch(&plugin_references(&spec), ORG, &catalog);
    let (_, steps) = pin_steps(&spec, &outcome)
        .map_err(|unresolved| anyhow::anyhow!("unresolved: {unresolved:?}"))?;
    Ok((spec, steps))
}

/// The sample pipeline rules, then generated ones up to [`RULES`].
fn rule_specs() -> anyhow::Result<Vec<RuleSpec>> {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/rules");
    let mut specs = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&samples)
        .with_context(|| samples.display().to_string())?
        .collect::<Result<_, _>>()?;
    files.sort_by_key(|f| f.path());
    for file in files {
        let spec: RuleSpec = serde_json::from_slice(&std::fs::read(file.path())?)
            .with_context(|| file.path().display().to_string())?;
        if spec.target == Target::Pipeline {
            specs.push(spec);
        }
    }
    let mut i = 0;
    while specs.len() < RULES {
        specs.push(serde_json::from_value(generated_rule(i))?);
        i += 1;
    }
    Ok(specs)
}

fn generated_rule(i: usize) -> Value {
    let severity = ["warning", "error", "critical"][i % 3];
    let condition = |k: usize| -> Value {
        let n = i + k;
        match n % 18 {
            0 => json!({"field": "stageCount", "operator": "lte", "value": 5 + n % 10}),
            1 => json!({"field": "sourceBranch", "operator": "eq", "value": "main"}),
            2 => json!({"field": "name", "operator": "neq", "value": format!("forbidden-{n}")}),
            3 => json!({"field": "pluginNames", "operator": "contains", "value": "security-scan"}),
            4 => {
                json!({"field": "pluginRefs", "operator": "notContains", "value": format!("x-{n}@latest")})
            }
            5 => {
                json!({"field": "stepNames", "operator": "regex", "value": "^[a-z][a-z0-9-]*-[0-9]$"})
            }
            6 => json!({"field": "$length(description)", "operator": "lt", "value": 60 + n}),
            7 => json!({"field": "stepCount", "operator": "gte", "value": n % 60}),
            8 => json!({"field": "environments", "operator": "in",
                        "value": ["dev", "test", "staging", "production", format!("env-{n}")]}),
            9 => {
                json!({"field": "pluginCategories", "operator": "notIn", "value": ["experimental", format!("c-{n}")]})
            }
            10 => json!({"field": format!("tags.owner-{}", n % 4), "operator": "exists"}),
            11 => json!({"field": "metadata.legacy", "operator": "notExists"}),
            12 => json!({"field": "stageNames", "operator": "notEmpty"}),
            13 => json!({"field": "$keys(tags)", "operator": "countGt", "value": n % 4}),
            14 => {
                json!({"field": "$lines(description)", "operator": "countLt", "value": 2 + n % 4})
            }
            15 => json!({"field": "name", "operator": "lengthGt", "value": n % 20}),
            16 => json!({"field": "project", "operator": "lengthLt", "value": 3 + n % 10}),
            _ => json!({"field": "$count(stepsUsingLatest)", "operator": "gt", "value": n % 5}),
        }
    };
    let mut rule =
        json!({"name": format!("generated {i}"), "target": "pipeline", "severity": severity});
    if i.is_multiple_of(3) {
        rule["mode"] = json!(if i.is_multiple_of(2) { "all" } else { "any" });
        rule["conditions"] = json!([condition(0), condition(7), condition(11)]);
    } else {
        let single = condition(0);
        for key in ["field", "operator", "value"] {
            if let Some(value) = single.get(key) {
                rule[key] = value.clone();
            }
        }
    }
    rule
}
