use serde_json::{json, Value};

use super::*;
use crate::pipeline::PipelineSpec;

fn definition(step: Value) -> PipelineSpec {
    serde_json::from_value(json!({
        "name": "api", "project": "p",
        "source": {"type": "codecommit", "repository": "api", "branch": "main"},
        "stages": [{"name": "Deploy", "steps": [step]}],
        "vars": {"region": "eu-west-1"},
        "metadata": {"team": "core", "stackName": "from-pipeline"}
    }))
    .unwrap()
}

fn deployer() -> PluginSpec {
    serde_json::from_value(json!({
        "name": "deployer", "version": "1.0.0", "category": "deploy", "pluginType": "ShellStep",
        "image": "alpine:3", "commands": ["deploy"],
        "env": {"STACK_NAME": "{{ metadata.stackName }}", "OWNER": "{{ metadata.team }}-{{ vars.region }}", "KEEP": "x"}
    }))
    .unwrap()
}

fn variables_of(spec: &PipelineSpec, plugin: PluginSpec) -> Result<Value, Vec<FieldError>> {
    let steps = [ResolvedStep {
        stage_index: 0,
        step_index: 0,
        plugin,
    }];
    let synthesized = synth(&SynthInput {
        org: "acme",
        pipeline_id: "pl-1",
        spec,
        steps: &steps,
        settings: Settings::default(),
    })?;
    let buildspec = synthesized.template["Resources"]["Stage1Step1Project"]["Properties"]["Source"]
        ["BuildSpec"]
        .as_str()
        .unwrap()
        .to_string();
    let parsed = crate::yaml::to_json(&buildspec, crate::yaml::Limits::BODY).unwrap();
    Ok(parsed["env"]["variables"].clone())
}

#[test]
fn plugin_env_takes_the_steps_metadata_and_the_pipelines_vars_and_the_step_env_wins() {
    let spec = definition(json!({
        "plugin": {"name": "deployer", "version": "1"},
        "metadata": {"stackName": "from-step"},
        "env": {"KEEP": "step"}
    }));
    assert_eq!(
        variables_of(&spec, deployer()).unwrap(),
        json!({"STACK_NAME": "from-step", "OWNER": "core-eu-west-1", "KEEP": "step"})
    );
}

#[test]
fn an_undefined_name_in_plugin_env_is_refused_naming_the_step() {
    let spec = definition(json!({"plugin": {"name": "deployer", "version": "1"}}));
    let mut plugin = deployer();
    plugin
        .env
        .insert("MISSING".into(), "{{ metadata.nothing }}".into());
    let problems = variables_of(&spec, plugin).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, "stages[0].steps[0].plugin");
    assert!(
        problems[0].message.contains("env.MISSING"),
        "{}",
        problems[0].message
    );
}

#[test]
fn declared_pipeline_variables_become_the_pipelines_variables() {
    let variables_of = |spec: &PipelineSpec| {
        let synthesized = synth(&SynthInput {
            org: "acme",
            pipeline_id: "pl-1",
            spec,
            steps: &[ResolvedStep {
                stage_index: 0,
                step_index: 0,
                plugin: deployer(),
            }],
            settings: Settings::default(),
        })
        .unwrap();
        synthesized.template["Resources"]["Pipeline"]["Properties"]
            .get("Variables")
            .cloned()
    };
    let mut spec = definition(json!({"plugin": {"name": "deployer", "version": "1"}}));
    assert_eq!(variables_of(&spec), None);
    spec.pipeline_variables = serde_json::from_value(json!([
        {"name": "RELEASE_NOTE", "defaultValue": "none", "description": "shown in the run"},
        {"name": "TICKET"}
    ]))
    .unwrap();
    assert_eq!(
        variables_of(&spec),
        Some(json!([
            {"Name": "RELEASE_NOTE", "DefaultValue": "none", "Description": "shown in the run"},
            {"Name": "TICKET"}
        ]))
    );
}
