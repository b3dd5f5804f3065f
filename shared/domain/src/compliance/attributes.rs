//! The attributes rules see: a documented projection of a pipeline or plugin, computed here and
//! listed once in [`PIPELINE_ATTRIBUTES`] / [`PLUGIN_ATTRIBUTES`]. Rule validation accepts exactly
//! these names and the README's table is generated from the same lists, so documentation,
//! validation and computation cannot drift apart (a test holds the projection to the lists).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::pipeline::{PipelineSpec, Position, ResolvedStep, SourceSpec, StepSpec};
use crate::plugin::{PluginSpec, PluginType};

/// The type of an attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Number,
    Boolean,
    StringList,
    StringMap,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::StringList => "list of strings",
            Kind::StringMap => "map of strings",
        }
    }
}

/// One documented attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeDoc {
    pub name: &'static str,
    pub kind: Kind,
    pub description: &'static str,
}

const fn doc(name: &'static str, kind: Kind, description: &'static str) -> AttributeDoc {
    AttributeDoc {
        name,
        kind,
        description,
    }
}

/// Environments that count as production (compared case-insensitively).
pub const PRODUCTION_ENVIRONMENTS: &[&str] = &["production", "prod"];
/// Plugin categories that count as a security scan (compared case-insensitively).
pub const SECURITY_CATEGORIES: &[&str] = &["security"];
/// Plugin categories that count as a test step (compared case-insensitively).
pub const TEST_CATEGORIES: &[&str] = &["test"];

pub const PIPELINE_ATTRIBUTES: &[AttributeDoc] = &[
    doc("name", Kind::String, "Pipeline name."),
    doc("project", Kind::String, "Project the pipeline belongs to."),
    doc(
        "description",
        Kind::String,
        "Description (templates resolved).",
    ),
    doc("accessModifier", Kind::String, "`private` or `public`."),
    doc(
        "sourceType",
        Kind::String,
        "`github`, `codecommit` or `s3`.",
    ),
    doc(
        "sourceBranch",
        Kind::String,
        "Branch of a github or codecommit source; absent for s3.",
    ),
    doc("stageCount", Kind::Number, "Number of stages."),
    doc("stepCount", Kind::Number, "Number of steps in all stages."),
    doc("stageNames", Kind::StringList, "Stage names in order."),
    doc(
        "stepNames",
        Kind::StringList,
        "Step (action) names in stage then step order.",
    ),
    doc(
        "environments",
        Kind::StringList,
        "Distinct stage environments in stage order.",
    ),
    doc(
        "hasProductionStage",
        Kind::Boolean,
        "A stage's environment is `production` or `prod` (any case).",
    ),
    doc(
        "approvalBeforeProduction",
        Kind::Boolean,
        "Every production stage is preceded by a ManualApprovalStep: in an earlier stage, or \
         in the same stage listed before its first command-running step and not positioned \
         `post`. True when there is no production stage.",
    ),
    doc(
        "pluginNames",
        Kind::StringList,
        "Distinct plugin names in step order.",
    ),
    doc(
        "pluginRefs",
        Kind::StringList,
        "Each step's reference as written, `name@range`.",
    ),
    doc(
        "pluginVersions",
        Kind::StringList,
        "Each step's pinned plugin, `name@version`.",
    ),
    doc(
        "pluginCategories",
        Kind::StringList,
        "Distinct categories of the pinned plugins.",
    ),
    doc(
        "stepsUsingLatest",
        Kind::StringList,
        "`stage/step` of each step whose range is `latest` or `*`.",
    ),
    doc(
        "unpinnedStepCount",
        Kind::Number,
        "Steps whose range is not one exact version (`1.2.3` or `=1.2.3`).",
    ),
    doc(
        "hasApprovalStep",
        Kind::Boolean,
        "A pinned plugin is a ManualApprovalStep.",
    ),
    doc(
        "hasTestStep",
        Kind::Boolean,
        "A pinned plugin's category is `test` (any case).",
    ),
    doc(
        "hasSecurityScan",
        Kind::Boolean,
        "A pinned plugin's category is `security` (any case).",
    ),
    doc(
        "maxStepTimeoutMinutes",
        Kind::Number,
        "Largest timeout of the command-running steps (the step's timeoutMinutes, else its \
         plugin's); approval steps wait for people and are left out. 0 without such steps.",
    ),
    doc(
        "images",
        Kind::StringList,
        "Distinct container images of the pinned plugins.",
    ),
    doc(
        "computeTypes",
        Kind::StringList,
        "Distinct compute types of the command-running steps' plugins.",
    ),
    doc(
        "tags",
        Kind::StringMap,
        "Pipeline tags; `tags.<key>` reads one.",
    ),
    doc(
        "metadata",
        Kind::StringMap,
        "Pipeline metadata (templates resolved); `metadata.<key>` reads one.",
    ),
];

pub const PLUGIN_ATTRIBUTES: &[AttributeDoc] = &[
    doc("name", Kind::String, "Plugin name."),
    doc("version", Kind::String, "Version being published."),
    doc("description", Kind::String, "Description."),
    doc("keywords", Kind::StringList, "Keywords."),
    doc("category", Kind::String, "Category as published."),
    doc(
        "pluginType",
        Kind::String,
        "`CodeBuildStep`, `ShellStep` or `ManualApprovalStep`.",
    ),
    doc(
        "computeType",
        Kind::String,
        "`SMALL`, `MEDIUM`, `LARGE` or `X2_LARGE`.",
    ),
    doc(
        "image",
        Kind::String,
        "Container image; absent for a ManualApprovalStep.",
    ),
    doc(
        "imageTag",
        Kind::String,
        "Tag of the image (`node:20` → `20`); absent when the image names only a digest.",
    ),
    doc(
        "imageIsDigestPinned",
        Kind::Boolean,
        "The image names a `@sha256:` digest. False without an image.",
    ),
    doc("installCommands", Kind::StringList, "Install commands."),
    doc("commands", Kind::StringList, "Build commands."),
    doc(
        "env",
        Kind::StringMap,
        "Environment; `env.<NAME>` reads one.",
    ),
    doc(
        "secrets",
        Kind::StringList,
        "Names of the Secrets Manager secrets the step reads.",
    ),
    doc("timeoutMinutes", Kind::Number, "Timeout in minutes."),
    doc(
        "failureBehavior",
        Kind::String,
        "`fail`, `warn` or `ignore`.",
    ),
    doc(
        "primaryOutputDirectory",
        Kind::String,
        "Output directory; absent when none.",
    ),
    doc(
        "requiredMetadata",
        Kind::StringList,
        "Metadata keys a pipeline must supply.",
    ),
    doc("accessModifier", Kind::String, "`private` or `public`."),
    doc(
        "active",
        Kind::Boolean,
        "Whether lookup may pick the version.",
    ),
];

/// The attributes of a pipeline whose templates are resolved, with the plugin specs its steps
/// were pinned to.
pub fn pipeline_attributes(spec: &PipelineSpec, steps: &[ResolvedStep]) -> Value {
    let plugins: HashMap<(usize, usize), &PluginSpec> = steps
        .iter()
        .map(|step| ((step.stage_index, step.step_index), &step.plugin))
        .collect();
    let located: Vec<LocatedStep> = spec
        .stages
        .iter()
        .enumerate()
        .flat_map(|(i, stage)| {
            let plugins = &plugins;
            stage
                .steps
                .iter()
                .enumerate()
                .map(move |(j, step)| LocatedStep {
                    stage_index: i,
                    stage: &stage.name,
                    step,
                    plugin: plugins.get(&(i, j)).copied(),
                })
        })
        .collect();
    let pinned: Vec<&PluginSpec> = located.iter().filter_map(|s| s.plugin).collect();
    let command_steps: Vec<&LocatedStep> = located.iter().filter(|s| s.runs_commands()).collect();

    let mut attributes = Map::new();
    let mut put = |name: &str, value: Value| {
        attributes.insert(name.to_string(), value);
    };
    put("name", json!(spec.name));
    put("project", json!(spec.project));
    put("description", json!(spec.description));
    put("accessModifier", serialized(&spec.access_modifier));
    put("sourceType", json!(spec.source.kind()));
    if let Some(branch) = source_branch(&spec.source) {
        put("sourceBranch", json!(branch));
    }
    put("stageCount", json!(spec.stages.len()));
    put("stepCount", json!(located.len()));
    put(
        "stageNames",
        json!(spec.stages.iter().map(|s| &s.name).collect::<Vec<_>>()),
    );
    put(
        "stepNames",
        json!(located
            .iter()
            .map(|s| s.step.action_name())
            .collect::<Vec<_>>()),
    );
    put(
        "environments",
        json!(distinct(
            spec.stages.iter().filter_map(|s| s.environment.as_deref())
        )),
    );
    put(
        "hasProductionStage",
        json!(spec
            .stages
            .iter()
            .any(|s| is_production(s.environment.as_deref()))),
    );
    put(
        "approvalBeforeProduction",
        json!(approval_before_production(spec, &located)),
    );
    put(
        "pluginNames",
        json!(distinct(
            located.iter().map(|s| s.step.plugin.name.as_str())
        )),
    );
    put(
        "pluginRefs",
        json!(located
            .iter()
            .map(|s| format!("{}@{}", s.step.plugin.name, s.step.plugin.version.trim()))
            .collect::<Vec<_>>()),
    );
    put(
        "pluginVersions",
        json!(pinned
            .iter()
            .map(|p| format!("{}@{}", p.name, p.version))
            .collect::<Vec<_>>()),
    );
    put(
        "pluginCategories",
        json!(distinct(pinned.iter().map(|p| p.category.as_str()))),
    );
    put(
        "stepsUsingLatest",
        json!(located
            .iter()
            .filter(|s| floats_to_latest(&s.step.plugin.version))
            .map(|s| format!("{}/{}", s.stage, s.step.action_name()))
            .collect::<Vec<_>>()),
    );
    put(
        "unpinnedStepCount",
        json!(located
            .iter()
            .filter(|s| !is_exact_version(&s.step.plugin.version))
            .count()),
    );
    put(
        "hasApprovalStep",
        json!(pinned
            .iter()
            .any(|p| p.plugin_type == PluginType::ManualApprovalStep)),
    );
    put(
        "hasTestStep",
        json!(pinned
            .iter()
            .any(|p| in_categories(&p.category, TEST_CATEGORIES))),
    );
    put(
        "hasSecurityScan",
        json!(pinned
            .iter()
            .any(|p| in_categories(&p.category, SECURITY_CATEGORIES))),
    );
    put(
        "maxStepTimeoutMinutes",
        json!(command_steps
            .iter()
            .filter_map(|s| s.timeout_minutes())
            .max()
            .unwrap_or(0)),
    );
    put(
        "images",
        json!(distinct(pinned.iter().filter_map(|p| p.image.as_deref()))),
    );
    put(
        "computeTypes",
        json!(distinct_values(
            command_steps
                .iter()
                .filter_map(|s| s.plugin)
                .map(|p| serialized(&p.compute_type))
        )),
    );
    put("tags", json!(spec.tags));
    put("metadata", json!(spec.metadata));
    Value::Object(attributes)
}

/// The attributes of a plugin spec as it is published.
pub fn plugin_attributes(spec: &PluginSpec) -> Value {
    let mut attributes = Map::new();
    let mut put = |name: &str, value: Value| {
        attributes.insert(name.to_string(), value);
    };
    put("name", json!(spec.name));
    put("version", json!(spec.version));
    put("description", json!(spec.description));
    put("keywords", json!(spec.keywords));
    put("category", json!(spec.category));
    put("pluginType", serialized(&spec.plugin_type));
    put("computeType", serialized(&spec.compute_type));
    if let Some(image) = spec.image.as_deref() {
        put("image", json!(image));
        if let Some(tag) = image_tag(image) {
            put("imageTag", json!(tag));
        }
    }
    put(
        "imageIsDigestPinned",
        json!(spec.image.as_deref().is_some_and(is_digest_pinned)),
    );
    put("installCommands", json!(spec.install_commands));
    put("commands", json!(spec.commands));
    put("env", json!(spec.env));
    put(
        "secrets",
        json!(spec.secrets.iter().map(|s| &s.name).collect::<Vec<_>>()),
    );
    put("timeoutMinutes", json!(spec.timeout_minutes));
    put("failureBehavior", serialized(&spec.failure_behavior));
    if let Some(directory) = spec.primary_output_directory.as_deref() {
        put("primaryOutputDirectory", json!(directory));
    }
    put("requiredMetadata", json!(spec.required_metadata));
    put("accessModifier", serialized(&spec.access_modifier));
    put("active", json!(spec.active));
    Value::Object(attributes)
}

struct LocatedStep<'a> {
    stage_index: usize,
    stage: &'a str,
    step: &'a StepSpec,
    plugin: Option<&'a PluginSpec>,
}

impl LocatedStep<'_> {
    fn is_approval(&self) -> bool {
        self.plugin
            .is_some_and(|p| p.plugin_type == PluginType::ManualApprovalStep)
    }

    /// A step without a pinned plugin is counted as running commands: what it runs is unknown,
    /// so it must not be mistaken for an approval.
    fn runs_commands(&self) -> bool {
        !self.is_approval()
    }

    fn timeout_minutes(&self) -> Option<u32> {
        self.step
            .timeout_minutes
            .or(self.plugin.map(|p| p.timeout_minutes))
    }
}

fn approval_before_production(spec: &PipelineSpec, steps: &[LocatedStep]) -> bool {
    spec.stages
        .iter()
        .enumerate()
        .filter(|(_, stage)| is_production(stage.environment.as_deref()))
        .all(|(index, _)| approved_before_stage_runs(index, steps))
}

/// An approval in an earlier stage, or one in this stage ahead of its first command-running step
/// and not deferred to after the stage's work (`position: post`).
fn approved_before_stage_runs(stage_index: usize, steps: &[LocatedStep]) -> bool {
    let earlier = steps
        .iter()
        .any(|s| s.stage_index < stage_index && s.is_approval());
    let in_stage_first = steps
        .iter()
        .filter(|s| s.stage_index == stage_index)
        .take_while(|s| !s.runs_commands())
        .any(|s| s.step.position != Some(Position::Post));
    earlier || in_stage_first
}

fn is_production(environment: Option<&str>) -> bool {
    environment.is_some_and(|e| in_categories(e, PRODUCTION_ENVIRONMENTS))
}

fn in_categories(value: &str, set: &[&str]) -> bool {
    set.iter().any(|c| value.eq_ignore_ascii_case(c))
}

fn source_branch(source: &SourceSpec) -> Option<&str> {
    match source {
        SourceSpec::Github { branch, .. } | SourceSpec::Codecommit { branch, .. } => Some(branch),
        SourceSpec::S3 { .. } => None,
    }
}

fn floats_to_latest(range: &str) -> bool {
    matches!(range.trim(), "latest" | "*")
}

/// Plugin lookup reads a bare full version, or one written with `=`, as an exact pin.
fn is_exact_version(range: &str) -> bool {
    let text = range.trim();
    let text = text.strip_prefix('=').unwrap_or(text).trim_start();
    semver::Version::parse(text).is_ok()
}

/// `repository:tag[@digest]` → `tag`; the last `:` after the last `/` (an earlier one is a port).
fn image_tag(image: &str) -> Option<&str> {
    let name = image.split('@').next().unwrap_or(image);
    let last_component = &name[name.rfind('/').map_or(0, |slash| slash + 1)..];
    last_component.rsplit_once(':').map(|(_, tag)| tag)
}

fn is_digest_pinned(image: &str) -> bool {
    image.split_once('@').is_some_and(|(_, digest)| {
        digest
            .strip_prefix("sha256:")
            .is_some_and(|hex| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
    })
}

/// First occurrences, in order.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = Vec::new();
    for value in values {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}

fn distinct_values(values: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut seen = Vec::new();
    for value in values {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}

/// The value's API spelling (`ManualApprovalStep`, `X2_LARGE`, `private`).
fn serialized<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
