//! Every rule under `samples/rules/` validates, accepts a compliant entity and reports a
//! violating one, through attributes that the projection really computes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::*;
use crate::{pipeline, plugin as plugin_domain};

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/rules")
}

fn sample_rules() -> BTreeMap<String, RuleSpec> {
    std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let spec: RuleSpec =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            (stem, spec)
        })
        .collect()
}

fn remove_step(definition: &mut Value, stage: usize, step: usize) {
    definition["stages"][stage]["steps"]
        .as_array_mut()
        .unwrap()
        .remove(step);
}

fn many_stages(count: usize) -> Value {
    let mut definition = compliant_pipeline();
    definition["stages"] = (0..count)
        .map(|i| {
            json!({"name": format!("Stage{i}"), "steps": [
            {"plugin": {"name": "node-build", "version": "2.0.1"}}]})
        })
        .collect();
    definition
}

fn long_script() -> String {
    (0..40)
        .map(|i| format!("echo line {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How to break each sample rule: a change to the compliant pipeline or plugin.
fn violating_entity(sample: &str) -> Value {
    let mut pipeline = compliant_pipeline();
    let mut plugin = build_plugin(json!({}));
    match sample {
        "block-latest-versions" => {
            pipeline["stages"][0]["steps"][0]["plugin"]["version"] = json!("latest")
        }
        "require-security-scan" => remove_step(&mut pipeline, 0, 2),
        "require-test-step" => remove_step(&mut pipeline, 0, 1),
        "require-approval-before-production" => remove_step(&mut pipeline, 2, 0),
        "cap-stages" => pipeline = many_stages(11),
        "stage-naming-convention" => pipeline["stages"][0]["name"] = json!("build-and-test"),
        "step-timeout-cap" => pipeline["stages"][1]["steps"][0]["timeoutMinutes"] = json!(240),
        "require-cost-center-tag" => pipeline["tags"] = json!({"team": "payments"}),
        "allowed-environments" => pipeline["stages"][1]["environment"] = json!("qa"),
        "production-deploys-from-main" => pipeline["source"]["branch"] = json!("release"),
        "require-digest-pinned-public-plugins" => {
            plugin["image"] = json!("public.ecr.aws/docker/library/node:20")
        }
        "plugin-description-required" => plugin["description"] = json!("Builds."),
        "plugin-commands-reviewable" => plugin["commands"] = json!([long_script()]),
        "plugin-image-not-latest" => {
            plugin["image"] = json!("public.ecr.aws/docker/library/node:latest")
        }
        other => panic!("samples/rules/{other}.json has no violating case in this test"),
    }
    if sample.starts_with("plugin-") || sample.contains("plugins") {
        plugin
    } else {
        pipeline
    }
}

/// The attributes of a definition for `target`, after the same validation the API applies.
fn attributes_of(target: Target, definition: &Value) -> Value {
    match target {
        Target::Pipeline => {
            let (spec, resolved) = resolve(definition);
            assert_eq!(pipeline::validate(&spec), Ok(()), "{definition}");
            pipeline_attributes(&spec, &resolved)
        }
        Target::Plugin => {
            let spec = plugin(definition.clone());
            assert_eq!(plugin_domain::validate(&spec), Ok(()), "{definition}");
            plugin_attributes(&spec)
        }
    }
}

fn reports(rule: &Rule, attributes: &Value) -> Vec<Violation> {
    let evaluation = evaluate(
        std::slice::from_ref(rule),
        rule.target,
        "entity-1",
        attributes,
        now(),
        &[],
    );
    assert!(
        if rule.severity.blocks() {
            evaluation.warnings.is_empty()
        } else {
            evaluation.violations.is_empty()
        },
        "{evaluation:?}"
    );
    [evaluation.warnings, evaluation.violations].concat()
}

#[test]
fn every_sample_rule_passes_a_compliant_entity_and_reports_a_violating_one() {
    let samples = sample_rules();
    assert!(samples.len() >= 14, "{:?}", samples.keys());
    for (name, spec) in &samples {
        let rule = Rule::compile(name.as_str(), spec)
            .unwrap_or_else(|e| panic!("samples/rules/{name}.json does not validate: {e:?}"));
        let compliant = match rule.target {
            Target::Pipeline => compliant_pipeline(),
            Target::Plugin => build_plugin(json!({})),
        };
        assert_eq!(
            reports(&rule, &attributes_of(rule.target, &compliant)),
            [],
            "{name} on the compliant {}",
            rule.target.as_str()
        );
        let violating = attributes_of(rule.target, &violating_entity(name));
        let found = reports(&rule, &violating);
        assert!(
            !found.is_empty(),
            "{name} did not report its violating case"
        );
        assert!(found.iter().all(|v| v.rule_id == *name), "{found:?}");
    }
}

#[test]
fn approval_plugins_need_no_image_digest() {
    let samples = sample_rules();
    let rule = Rule::compile("digest", &samples["require-digest-pinned-public-plugins"]).unwrap();
    let approval = catalog()
        .into_iter()
        .find(|e| e.spec.name == "manual-approval")
        .unwrap();
    assert_eq!(
        approval.spec.access_modifier,
        crate::plugin::AccessModifier::Public
    );
    assert_eq!(reports(&rule, &plugin_attributes(&approval.spec)), []);
}

#[test]
fn all_samples_together_accept_the_compliant_pipeline() {
    let rules: Vec<Rule> = sample_rules()
        .iter()
        .map(|(name, spec)| Rule::compile(name.as_str(), spec).unwrap())
        .collect();
    let evaluation = evaluate(
        &rules,
        Target::Pipeline,
        "pipe-1",
        &pipeline_attrs(&compliant_pipeline()),
        now(),
        &[],
    );
    assert_eq!(evaluation, Evaluation::default());
}
