//! Synthesis: a pipeline definition, the plugin versions its steps are pinned to and the deploy
//! settings become one CloudFormation template (JSON) for a CodePipeline V2 and everything it
//! needs. Pure and deterministic: the same input gives byte-identical output, so a template can
//! be reviewed in a pull request and an unchanged one recognised by its hash.
//!
//! Stage and action names are exactly the definition's stage and step names: ingest attributes
//! execution events to steps and plugins by them.

mod buildspec;
mod intrinsics;
mod names;
mod resources;
mod source;

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Map, Value};

use crate::pipeline::{
    render_with, resolve_input, run_orders, PipelineSpec, PipelineVariable, ResolvedStep, StepSpec,
};
use crate::plugin::{ComputeType, FieldError, PluginSpec};

pub use buildspec::OUTCOME_VARIABLE;
pub use names::{deployed_name, MAX_DEPLOYED_NAME_CHARS};
pub use resources::BOUNDARY_PARAMETER;
pub use source::{SOURCE_ACTION, SOURCE_ARTIFACT};

use buildspec::{buildspec, BuildInputs};
use intrinsics::{attribute, reference, regional_arn};
use resources::{
    artifact_bucket, artifact_statements, log_group, log_statement, project, role,
    secrets_statement, statement, Project, Resources, ARTIFACT_BUCKET,
};
use source::{change_detection, source};

/// CloudFormation's limits on one stack.
pub const MAX_RESOURCES: usize = 500;
pub const MAX_TEMPLATE_BYTES: usize = 1_000_000;
/// Bodies above this go to CloudFormation through S3 (`TemplateURL`).
pub const MAX_INLINE_TEMPLATE_BYTES: usize = 51_200;
/// CodePipeline's limits on one pipeline.
pub const MAX_PIPELINE_STAGES: usize = 50;
pub const MAX_ACTIONS_PER_STAGE: usize = 50;
/// An approval action's `CustomData`.
pub const MAX_CUSTOM_DATA_CHARS: usize = 500;

const PIPELINE: &str = "Pipeline";
const PIPELINE_ROLE: &str = "PipelineRole";
const SHARED_BUILD_ROLE: &str = "BuildRole";

/// Deploy-time choices that are not part of a definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub artifact_expiry_days: u32,
    pub log_retention_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            artifact_expiry_days: 30,
            log_retention_days: 365,
        }
    }
}

pub struct SynthInput<'a> {
    pub org: &'a str,
    /// Becomes the `PIPELINE_EVENT_ID` tag, by which ingest finds the pipeline.
    pub pipeline_id: &'a str,
    /// With templates expanded.
    pub spec: &'a PipelineSpec,
    /// The plugin version of every step (from pinning).
    pub steps: &'a [ResolvedStep],
    pub settings: Settings,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Synthesized {
    pub template: Value,
    /// The stack's (and the CodePipeline's) name.
    pub stack_name: String,
    pub stack_tags: BTreeMap<String, String>,
    pub resource_count: usize,
    /// Size of the compact JSON body CloudFormation receives.
    pub body_bytes: usize,
}

impl Synthesized {
    /// Whether CloudFormation must read the body from S3 rather than inline.
    pub fn needs_upload(&self) -> bool {
        self.body_bytes > MAX_INLINE_TEMPLATE_BYTES
    }
}

/// The platform's own tags on the stack and on the Pipeline resource.
pub fn platform_tags(org: &str, pipeline_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("PIPELINE_EVENT_ID".to_string(), pipeline_id.to_string()),
        ("pipeline-builder".to_string(), "true".to_string()),
        ("pipeline-builder:org".to_string(), org.to_string()),
        (
            "pipeline-builder:component".to_string(),
            "pipeline".to_string(),
        ),
    ])
}

/// The template, or every reason it cannot be made, each with its field path.
pub fn synth(input: &SynthInput) -> Result<Synthesized, Vec<FieldError>> {
    let mut problems = Vec::new();
    let plugins = plugins_by_step(input, &mut problems);
    let stack_name = deployed_name(input.org, &input.spec.name);
    let source = source(&input.spec.source).map_err(|problem| vec![problem])?;
    let layout = Layout::new(input.spec, &stack_name, &plugins);

    let mut resources = Resources::default();
    artifact_bucket(&mut resources, input.settings.artifact_expiry_days);
    let mut stages =
        vec![json!({ "Name": crate::pipeline::SOURCE_STAGE_NAME, "Actions": [source.action] })];
    let mut shared_role_used = false;
    for (i, stage) in input.spec.stages.iter().enumerate() {
        let orders = run_orders(stage);
        let mut actions = Vec::new();
        for (j, step) in stage.steps.iter().enumerate() {
            let Some(plugin) = plugins.get(&(i, j)) else {
                continue;
            };
            let at = StepAt {
                stage: i,
                step: j,
                spec: step,
                plugin,
                run_order: orders[j],
            };
            let action = if plugin.plugin_type.runs_commands() {
                let built = build_step(input, &layout, &at, &mut resources);
                shared_role_used |= built.as_ref().is_ok_and(|b| b.shared_role);
                built.map(|b| b.action)
            } else {
                approval_action(&at)
            };
            match action {
                Ok(action) => actions.push(action),
                Err(mut found) => problems.append(&mut found),
            }
        }
        if actions.len() > MAX_ACTIONS_PER_STAGE {
            problems.push(field(
                format!("stages[{i}].steps"),
                format!("CodePipeline allows at most {MAX_ACTIONS_PER_STAGE} actions in a stage"),
            ));
        }
        stages.push(json!({ "Name": stage.name, "Actions": actions }));
    }
    if stages.len() > MAX_PIPELINE_STAGES {
        problems.push(field("stages".into(), format!("CodePipeline allows at most {MAX_PIPELINE_STAGES} stages, the source stage included")));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if shared_role_used {
        let mut statements = artifact_statements();
        statements.push(log_statement(&format!("{}*", layout.shared_project_prefix)));
        resources.add(
            SHARED_BUILD_ROLE,
            role("codebuild.amazonaws.com", statements),
        );
    }
    let mut pipeline_statements = artifact_statements();
    pipeline_statements.push(statement(
        &[
            "codebuild:StartBuild",
            "codebuild:BatchGetBuilds",
            "codebuild:StopBuild",
        ],
        vec![regional_arn(
            "codebuild",
            &format!("project/{stack_name}_*"),
        )],
    ));
    pipeline_statements.extend(source.statements);
    resources.add(
        PIPELINE_ROLE,
        role("codepipeline.amazonaws.com", pipeline_statements),
    );
    let stack_tags = stack_tags(input);
    resources.add(
        PIPELINE,
        pipeline(
            input.spec,
            &stack_name,
            stages,
            source.triggers,
            &stack_tags,
        ),
    );
    change_detection(&input.spec.source, &mut resources);
    finish(input, stack_name, stack_tags, resources)
}

fn field(field: String, message: String) -> FieldError {
    FieldError { field, message }
}

fn plugins_by_step<'a>(
    input: &SynthInput<'a>,
    problems: &mut Vec<FieldError>,
) -> BTreeMap<(usize, usize), &'a PluginSpec> {
    let plugins: BTreeMap<(usize, usize), &PluginSpec> = input
        .steps
        .iter()
        .map(|s| ((s.stage_index, s.step_index), &s.plugin))
        .collect();
    for (i, stage) in input.spec.stages.iter().enumerate() {
        for j in 0..stage.steps.len() {
            if !plugins.contains_key(&(i, j)) {
                problems.push(field(
                    format!("stages[{i}].steps[{j}].plugin"),
                    "no plugin version is pinned for this step".into(),
                ));
            }
        }
    }
    plugins
}

fn stack_tags(input: &SynthInput) -> BTreeMap<String, String> {
    let mut tags = input.spec.tags.clone();
    tags.extend(platform_tags(input.org, input.pipeline_id));
    tags
}

/// Names the template gives each step's resources and outputs.
struct Layout {
    /// `{stack}_build-`: projects on the shared role; their log groups share this prefix, which
    /// no project with its own role has.
    shared_project_prefix: String,
    stack_name: String,
    /// The output artifact of each step that has one.
    outputs: BTreeMap<(usize, usize), String>,
}

impl Layout {
    fn new(
        spec: &PipelineSpec,
        stack_name: &str,
        plugins: &BTreeMap<(usize, usize), &PluginSpec>,
    ) -> Layout {
        let mut taken: HashSet<String> = HashSet::from([SOURCE_ARTIFACT.to_string()]);
        let mut outputs = BTreeMap::new();
        for (&(i, j), plugin) in plugins {
            if !plugin.plugin_type.runs_commands() || plugin.primary_output_directory.is_none() {
                continue;
            }
            let base = artifact_name(spec.stages[i].steps[j].action_name());
            let mut name = base.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{base}_{n}");
                n += 1;
            }
            outputs.insert((i, j), name);
        }
        Layout {
            shared_project_prefix: format!("{stack_name}_build-"),
            stack_name: stack_name.to_string(),
            outputs,
        }
    }

    fn project_name(&self, at: &StepAt, own_role: bool) -> String {
        let kind = if own_role { "secrets" } else { "build" };
        let name = format!(
            "{}_{kind}-{}-{}-{}",
            self.stack_name,
            at.stage + 1,
            at.step + 1,
            artifact_name(at.spec.action_name())
        );
        name.chars().take(255).collect()
    }
}

/// Artifact names allow letters, digits, `_` and `-`, at most 100 characters.
fn artifact_name(step: &str) -> String {
    step.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(90)
        .collect()
}

struct StepAt<'a> {
    stage: usize,
    step: usize,
    spec: &'a StepSpec,
    plugin: &'a PluginSpec,
    run_order: u32,
}

impl StepAt<'_> {
    fn path(&self) -> String {
        format!("stages[{}].steps[{}]", self.stage, self.step)
    }

    fn logical_id(&self, suffix: &str) -> String {
        format!("Stage{}Step{}{suffix}", self.stage + 1, self.step + 1)
    }
}

fn approval_action(at: &StepAt) -> Result<Value, Vec<FieldError>> {
    let mut configuration = Map::new();
    if !at.spec.metadata.is_empty() {
        let custom = serde_json::to_string(&at.spec.metadata).unwrap_or_default();
        if custom.chars().count() > MAX_CUSTOM_DATA_CHARS {
            return Err(vec![field(format!("{}.metadata", at.path()), format!("becomes the approval's CustomData, which CodePipeline caps at {MAX_CUSTOM_DATA_CHARS} characters; this is {}", custom.chars().count()))]);
        }
        configuration.insert("CustomData".into(), json!(custom));
    }
    Ok(json!({
        "Name": at.spec.action_name(),
        "ActionTypeId": { "Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1" },
        "Configuration": configuration,
        "RunOrder": at.run_order,
    }))
}

struct BuiltStep {
    action: Value,
    shared_role: bool,
}

fn build_step(
    input: &SynthInput,
    layout: &Layout,
    at: &StepAt,
    resources: &mut Resources,
) -> Result<BuiltStep, Vec<FieldError>> {
    let mut problems = Vec::new();
    let mut variables = variables(input.spec, at, &mut problems);
    let secrets = secret_variables(at, &mut variables, &mut problems);
    let inputs = input_artifacts(input, layout, at, &mut problems);
    let Some(image) = at.plugin.image.as_deref() else {
        problems.push(field(
            format!("{}.plugin", at.path()),
            format!("plugin {} runs commands but names no image", at.plugin.name),
        ));
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let own_role = !at.plugin.secrets.is_empty();
    let project_name = layout.project_name(at, own_role);
    let log_group_id = at.logical_id("Logs");
    resources.add(
        &log_group_id,
        log_group(&project_name, input.settings.log_retention_days),
    );
    let role_id = if own_role {
        let id = at.logical_id("Role");
        let mut statements = artifact_statements();
        statements.push(log_statement(&project_name));
        let names: Vec<&str> = at.plugin.secrets.iter().map(|s| s.name.as_str()).collect();
        statements.push(secrets_statement(&names));
        resources.add(&id, role("codebuild.amazonaws.com", statements));
        id
    } else {
        SHARED_BUILD_ROLE.to_string()
    };
    let failure = at
        .spec
        .failure_behavior
        .unwrap_or(at.plugin.failure_behavior);
    let buildspec = crate::yaml::to_yaml(&buildspec(&BuildInputs {
        step_name: at.spec.action_name(),
        plugin: at.plugin,
        failure,
        variables,
        secrets,
    }));
    let project_id = at.logical_id("Project");
    resources.add(
        &project_id,
        project(&Project {
            name: &project_name,
            role: &role_id,
            log_group: &log_group_id,
            image,
            compute_type: compute_type(at.plugin.compute_type),
            timeout_minutes: at.spec.timeout_minutes.unwrap_or(at.plugin.timeout_minutes),
            buildspec,
        }),
    );
    let mut configuration = Map::new();
    configuration.insert("ProjectName".into(), reference(&project_id));
    if inputs.len() > 1 {
        configuration.insert("PrimarySource".into(), json!(SOURCE_ARTIFACT));
    }
    let mut action = json!({
        "Name": at.spec.action_name(),
        "ActionTypeId": { "Category": "Build", "Owner": "AWS", "Provider": "CodeBuild", "Version": "1" },
        "Configuration": configuration,
        "InputArtifacts": inputs.iter().map(|name| json!({ "Name": name })).collect::<Vec<_>>(),
        "RunOrder": at.run_order,
    });
    if let Some(output) = layout.outputs.get(&(at.stage, at.step)) {
        action["OutputArtifacts"] = json!([{ "Name": output }]);
    }
    if failure == crate::plugin::FailureBehavior::Warn {
        action["Namespace"] = json!(format!("Step{}x{}", at.stage + 1, at.step + 1));
    }
    Ok(BuiltStep {
        action,
        shared_role: !own_role,
    })
}

fn compute_type(compute: ComputeType) -> &'static str {
    match compute {
        ComputeType::Small => "BUILD_GENERAL1_SMALL",
        ComputeType::Medium => "BUILD_GENERAL1_MEDIUM",
        ComputeType::Large => "BUILD_GENERAL1_LARGE",
        ComputeType::X2Large => "BUILD_GENERAL1_2XLARGE",
    }
}

/// A shell variable name that CodeBuild does not reserve for itself.
fn is_variable_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("CODEBUILD_")
}

/// The plugin's env, its templates expanded against the pipeline's vars and metadata (the
/// step's metadata over the pipeline's: `STACK_NAME: "{{ metadata.stackName }}"`), overlaid with
/// the step's env.
fn variables(
    spec: &PipelineSpec,
    at: &StepAt,
    problems: &mut Vec<FieldError>,
) -> BTreeMap<String, String> {
    for name in at.spec.env.keys().filter(|name| !is_variable_name(name)) {
        problems.push(field(format!("{}.env.{name}", at.path()), "must be a shell variable name (letters, digits and _, not starting with a digit or CODEBUILD_)".into()));
    }
    let mut metadata = spec.metadata.clone();
    metadata.extend(at.spec.metadata.clone());
    let mut variables = BTreeMap::new();
    for (name, value) in &at.plugin.env {
        match render_with(&spec.vars, &metadata, value) {
            Ok(text) => {
                variables.insert(name.clone(), text);
            }
            Err(message) => problems.push(field(
                format!("{}.plugin", at.path()),
                format!("plugin {}'s env.{name}: {message}", at.plugin.name),
            )),
        }
    }
    variables.extend(at.spec.env.clone());
    variables
}

/// A required secret becomes the variable named after the last segment of its name
/// (`team/npm-token` → `NPM_TOKEN`), a `secrets-manager` reference CodeBuild resolves when the
/// build starts. An optional one cannot be such a reference (CodeBuild fails the build when it is
/// missing): its name is given in `{VAR}_SECRET_ID` for the step to read if it exists. Either way
/// the step's own role may read it. Optional names join `variables`; the references are returned.
fn secret_variables(
    at: &StepAt,
    variables: &mut BTreeMap<String, String>,
    problems: &mut Vec<FieldError>,
) -> BTreeMap<String, String> {
    let mut references = BTreeMap::new();
    for (k, secret) in at.plugin.secrets.iter().enumerate() {
        let variable = secret_variable(&secret.name);
        let variable = if secret.required {
            variable
        } else {
            format!("{variable}_SECRET_ID")
        };
        if variables.contains_key(&variable) || references.contains_key(&variable) {
            problems.push(field(format!("{}.plugin", at.path()), format!("plugin {}'s secret {} (secrets[{k}]) would be the variable {variable}, which the step already sets", at.plugin.name, secret.name)));
        } else if secret.required {
            references.insert(variable, secret.name.clone());
        } else {
            variables.insert(variable, secret.name.clone());
        }
    }
    references
}

fn secret_variable(secret: &str) -> String {
    let last = secret.rsplit('/').next().unwrap_or(secret);
    let name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        format!("SECRET_{name}")
    }
}

/// The source, then the outputs of the steps the step names in `inputs`.
fn input_artifacts(
    input: &SynthInput,
    layout: &Layout,
    at: &StepAt,
    problems: &mut Vec<FieldError>,
) -> Vec<String> {
    let mut artifacts = vec![SOURCE_ARTIFACT.to_string()];
    for (k, reference) in at.spec.inputs.iter().enumerate() {
        let path = format!("{}.inputs[{k}]", at.path());
        match resolve_input(&input.spec.stages, at.stage, at.step, reference) {
            Err(message) => problems.push(field(path, message)),
            Ok(found) => match layout.outputs.get(&(found.stage, found.step)) {
                Some(artifact) => artifacts.push(artifact.clone()),
                None => problems.push(field(path, format!("'{reference}' produces no output: its plugin has no primaryOutputDirectory"))),
            },
        }
    }
    artifacts
}

fn pipeline(
    spec: &PipelineSpec,
    stack_name: &str,
    stages: Vec<Value>,
    triggers: Vec<Value>,
    tags: &BTreeMap<String, String>,
) -> Value {
    let mut properties = json!({
        "Name": stack_name,
        "PipelineType": "V2",
        "ExecutionMode": spec.execution_mode.unwrap_or_default().as_str(),
        "RoleArn": attribute(PIPELINE_ROLE, "Arn"),
        "ArtifactStore": { "Type": "S3", "Location": reference(ARTIFACT_BUCKET) },
        "Stages": stages,
        "Tags": tags.iter().map(|(k, v)| json!({ "Key": k, "Value": v })).collect::<Vec<_>>(),
    });
    if !triggers.is_empty() {
        properties["Triggers"] = json!(triggers);
    }
    if !spec.pipeline_variables.is_empty() {
        properties["Variables"] = json!(spec
            .pipeline_variables
            .iter()
            .map(variable_declaration)
            .collect::<Vec<_>>());
    }
    json!({
        "Type": "AWS::CodePipeline::Pipeline",
        "Metadata": { "checkov": { "skip": [{
            "id": "CKV_AWS_219",
            "comment": "Artifacts are encrypted by the bucket's SSE-S3 default; a customer managed key per pipeline is not configured.",
        }] } },
        "Properties": properties,
    })
}

fn variable_declaration(variable: &PipelineVariable) -> Value {
    let mut declaration = json!({ "Name": variable.name });
    if let Some(default) = &variable.default_value {
        declaration["DefaultValue"] = json!(default);
    }
    if let Some(description) = &variable.description {
        declaration["Description"] = json!(description);
    }
    declaration
}

fn finish(
    input: &SynthInput,
    stack_name: String,
    stack_tags: BTreeMap<String, String>,
    resources: Resources,
) -> Result<Synthesized, Vec<FieldError>> {
    let resource_count = resources.len();
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("pipeline-builder: pipeline {} of org {} ({})", input.spec.name, input.org, input.pipeline_id),
        "Metadata": { "pipeline-builder": {
            "org": input.org,
            "pipelineId": input.pipeline_id,
            "pipelineName": input.spec.name,
            "stackName": stack_name,
            "stackTags": stack_tags,
        } },
        "Parameters": { BOUNDARY_PARAMETER: {
            "Type": "String",
            "Description": "Permissions boundary every role of this stack carries (the platform's).",
            "AllowedPattern": "^arn:aws[a-z-]*:iam::[0-9]{12}:policy/.+$",
        } },
        "Resources": resources.into_value(),
        "Outputs": {
            "PipelineName": { "Value": reference(PIPELINE) },
            "ArtifactBucketName": { "Value": reference(ARTIFACT_BUCKET) },
        },
    });
    let body_bytes = template.to_string().len();
    let mut problems = Vec::new();
    if resource_count > MAX_RESOURCES {
        problems.push(field("stages".into(), format!("the template would have {resource_count} resources; CloudFormation allows {MAX_RESOURCES} in a stack")));
    }
    if body_bytes > MAX_TEMPLATE_BYTES {
        problems.push(field("stages".into(), format!("the template would be {body_bytes} bytes; CloudFormation allows {MAX_TEMPLATE_BYTES}")));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Synthesized {
        template,
        stack_name,
        stack_tags,
        resource_count,
        body_bytes,
    })
}

#[cfg(test)]
mod tests;
