//! Write-time checks of a [`PipelineSpec`]: every problem at once, each with its JSON path.

use std::collections::{BTreeMap, HashSet};

use crate::plugin::FieldError;

use super::order::{parallel_without_predecessor, resolve_input};
use super::spec::{PipelineSpec, PipelineVariable, SourceSpec, StageSpec, StepSpec};

/// Size limits. Steps are capped by what one plugin lookup resolves; names by CodePipeline's own
/// limits on stage and action names; tags by CloudFormation's.
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_PROJECT_CHARS: usize = 64;
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
pub const MAX_STAGES: usize = 20;
pub const MAX_STEPS_PER_STAGE: usize = 20;
pub const MAX_STEPS: usize = crate::plugin::MAX_LOOKUP_REFERENCES;
pub const MAX_MAP_ENTRIES: usize = 50;
pub const MAX_KEY_CHARS: usize = 128;
pub const MAX_VALUE_BYTES: usize = 4096;
pub const MAX_TAG_VALUE_CHARS: usize = 256;
pub const MIN_TIMEOUT_MINUTES: u32 = 5;
pub const MAX_TIMEOUT_MINUTES: u32 = 480;
/// A CodeBuild action takes at most 5 input artifacts; the source is always one of them.
pub const MAX_STEP_INPUTS: usize = 4;
/// CloudFormation allows 50 tags on a stack; the platform sets 4 of its own.
pub const MAX_TAGS: usize = 46;
/// What every stack, pipeline, bucket and role the platform deploys is named with; a source
/// may not name one (an S3 source on another org's artifact bucket would read its artifacts).
pub const PLATFORM_NAME_PREFIX: &str = "pb-";
/// The synthesized pipeline's first stage; a definition's stages cannot take its name.
pub const SOURCE_STAGE_NAME: &str = "Source";

#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }
}

/// Checks a pipeline definition before it is stored.
pub fn validate(spec: &PipelineSpec) -> Result<(), Vec<FieldError>> {
    let mut problems = Problems::default();
    check_identifier("name", &spec.name, MAX_NAME_CHARS, &mut problems);
    check_identifier("project", &spec.project, MAX_PROJECT_CHARS, &mut problems);
    if spec.description.chars().count() > MAX_DESCRIPTION_CHARS {
        problems.add(
            "description",
            format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        );
    }
    check_source(&spec.source, &mut problems);
    check_stages(&spec.stages, &mut problems);
    check_map("vars", &spec.vars, MAX_VALUE_BYTES, &mut problems);
    check_map("metadata", &spec.metadata, MAX_VALUE_BYTES, &mut problems);
    check_map("tags", &spec.tags, MAX_TAG_VALUE_CHARS, &mut problems);
    check_tags(&spec.tags, &mut problems);
    check_separation_of_duties(&spec.metadata, &mut problems);
    check_pipeline_variables(&spec.pipeline_variables, &mut problems);
    if problems.0.is_empty() {
        Ok(())
    } else {
        Err(problems.0)
    }
}

/// Pipeline metadata that asks for separation of duties: whoever started a run through the
/// platform may not approve it.
pub const SEPARATION_OF_DUTIES_KEY: &str = "separationOfDuties";

/// Whether the pipeline's metadata asks for separation of duties.
pub fn separation_of_duties(spec: &PipelineSpec) -> bool {
    spec.metadata
        .get(SEPARATION_OF_DUTIES_KEY)
        .is_some_and(|v| v == "true")
}

fn check_separation_of_duties(metadata: &BTreeMap<String, String>, problems: &mut Problems) {
    if let Some(value) = metadata.get(SEPARATION_OF_DUTIES_KEY) {
        if value != "true" && value != "false" {
            problems.add(
                format!("metadata.{SEPARATION_OF_DUTIES_KEY}"),
                "must be 'true' or 'false'",
            );
        }
    }
}

/// CodePipeline's limits on pipeline-level variables.
pub const MAX_PIPELINE_VARIABLES: usize = 50;
pub const MAX_VARIABLE_NAME_CHARS: usize = 128;
pub const MAX_VARIABLE_VALUE_CHARS: usize = 1000;
pub const MAX_VARIABLE_DESCRIPTION_CHARS: usize = 200;

/// Letters, digits and `@-_`: what CodePipeline accepts in a pipeline variable's name.
fn is_pipeline_variable_name(name: &str) -> bool {
    (1..=MAX_VARIABLE_NAME_CHARS).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@-_".contains(c))
}

fn check_pipeline_variables(variables: &[PipelineVariable], problems: &mut Problems) {
    if variables.len() > MAX_PIPELINE_VARIABLES {
        problems.add(
            "pipelineVariables",
            format!("at most {MAX_PIPELINE_VARIABLES}"),
        );
        return;
    }
    let mut seen = HashSet::new();
    for (i, variable) in variables.iter().enumerate() {
        let path = format!("pipelineVariables[{i}]");
        if !is_pipeline_variable_name(&variable.name) {
            problems.add(
                format!("{path}.name"),
                format!("1-{MAX_VARIABLE_NAME_CHARS} characters of letters, digits and '@-_'"),
            );
        } else if !seen.insert(variable.name.as_str()) {
            problems.add(
                format!("{path}.name"),
                format!("'{}' is declared twice", variable.name),
            );
        }
        let too_long = |text: &Option<String>, max: usize| {
            text.as_ref().is_some_and(|t| t.chars().count() > max)
        };
        if too_long(&variable.default_value, MAX_VARIABLE_VALUE_CHARS) {
            problems.add(
                format!("{path}.defaultValue"),
                format!("at most {MAX_VARIABLE_VALUE_CHARS} characters"),
            );
        }
        if too_long(&variable.description, MAX_VARIABLE_DESCRIPTION_CHARS) {
            problems.add(
                format!("{path}.description"),
                format!("at most {MAX_VARIABLE_DESCRIPTION_CHARS} characters"),
            );
        }
    }
}

/// Letters, digits and `.@-_`: what CodePipeline accepts in pipeline, stage and action names.
fn is_codepipeline_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".@-_".contains(c))
}

fn check_identifier(field: &str, value: &str, max: usize, problems: &mut Problems) {
    if value.chars().count() > max || !is_codepipeline_name(value) {
        problems.add(
            field,
            format!("1-{max} characters of letters, digits and '.@-_'"),
        );
    }
}

fn check_source(source: &SourceSpec, problems: &mut Problems) {
    match source {
        SourceSpec::Github {
            repo,
            branch,
            connection_arn,
            token_secret,
            token,
        } => {
            let parts: Vec<&str> = repo.split('/').collect();
            if parts.len() != 2 || parts.iter().any(|p| !is_codepipeline_name(p)) {
                problems.add("source.repo", "must be owner/name");
            }
            check_branch("source.branch", branch, problems);
            if token.is_some() {
                problems.add(
                    "source.token",
                    "plaintext tokens are refused: give connectionArn, or tokenSecret naming a Secrets Manager secret",
                );
            }
            match (connection_arn, token_secret) {
                (None, None) => problems.add(
                    "source",
                    "a github source needs connectionArn or tokenSecret",
                ),
                (Some(_), Some(_)) => problems.add(
                    "source",
                    "give connectionArn or tokenSecret, not both",
                ),
                (Some(arn), None) if !is_connection_arn(arn) => problems.add(
                    "source.connectionArn",
                    "must be an arn:aws:codeconnections: or arn:aws:codestar-connections: connection ARN",
                ),
                (None, Some(secret)) if secret.is_empty() || secret.len() > 512 => problems.add(
                    "source.tokenSecret",
                    "must be a Secrets Manager secret name (1-512 characters)",
                ),
                _ => {}
            }
        }
        SourceSpec::Codecommit { repository, branch } => {
            if repository.is_empty() || repository.len() > 100 || !is_codepipeline_name(repository)
            {
                problems.add(
                    "source.repository",
                    "1-100 characters of letters, digits and '.@-_'",
                );
            }
            check_branch("source.branch", branch, problems);
        }
        SourceSpec::S3 { bucket, key } => {
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !bucket_ok {
                problems.add("source.bucket", "must be an S3 bucket name");
            } else if bucket.starts_with(PLATFORM_NAME_PREFIX) {
                problems.add(
                    "source.bucket",
                    "buckets named pb-… are the platform's (pipeline artifact buckets of every org); a source is a bucket of your own",
                );
            }
            if key.is_empty() || key.len() > 1024 {
                problems.add("source.key", "must be an object key (1-1024 bytes)");
            }
        }
    }
}

fn is_connection_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && matches!(parts[2], "codeconnections" | "codestar-connections")
        && parts[5].starts_with("connection/")
}

fn check_branch(field: &str, branch: &str, problems: &mut Problems) {
    let bad = branch.is_empty()
        || branch.len() > 255
        || branch.starts_with('-')
        || branch.contains("..")
        || branch
            .chars()
            .any(|c| c.is_whitespace() || "~^:?*[\\".contains(c));
    if bad {
        problems.add(field, "must be a git branch name");
    }
}

fn check_stages(stages: &[StageSpec], problems: &mut Problems) {
    if stages.is_empty() || stages.len() > MAX_STAGES {
        problems.add("stages", format!("list 1 to {MAX_STAGES} stages"));
    }
    let total: usize = stages.iter().map(|s| s.steps.len()).sum();
    if total > MAX_STEPS {
        problems.add(
            "stages",
            format!("at most {MAX_STEPS} steps in all, found {total}"),
        );
    }
    let mut names = HashSet::new();
    for (i, stage) in stages.iter().enumerate() {
        let path = format!("stages[{i}]");
        check_identifier(
            &format!("{path}.name"),
            &stage.name,
            MAX_NAME_CHARS,
            problems,
        );
        if !names.insert(stage.name.as_str()) {
            problems.add(
                format!("{path}.name"),
                format!("duplicate stage name '{}'", stage.name),
            );
        }
        if stage.name == SOURCE_STAGE_NAME {
            problems.add(
                format!("{path}.name"),
                format!("'{SOURCE_STAGE_NAME}' is the pipeline's source stage, which the platform adds; name this stage otherwise"),
            );
        }
        if let Some(environment) = &stage.environment {
            check_identifier(
                &format!("{path}.environment"),
                environment,
                MAX_PROJECT_CHARS,
                problems,
            );
        }
        check_steps(&path, stage, problems);
        check_step_inputs(stages, i, problems);
    }
}

fn check_step_inputs(stages: &[StageSpec], stage_index: usize, problems: &mut Problems) {
    for (j, step) in stages[stage_index].steps.iter().enumerate() {
        let path = format!("stages[{stage_index}].steps[{j}].inputs");
        if step.inputs.len() > MAX_STEP_INPUTS {
            problems.add(
                &path,
                format!("at most {MAX_STEP_INPUTS} steps: a CodeBuild action takes 5 input artifacts, and the source is one of them"),
            );
            continue;
        }
        let mut seen = HashSet::new();
        for (k, reference) in step.inputs.iter().enumerate() {
            if !seen.insert(reference.as_str()) {
                problems.add(
                    format!("{path}[{k}]"),
                    format!("'{reference}' is listed twice"),
                );
            } else if let Err(message) = resolve_input(stages, stage_index, j, reference) {
                problems.add(format!("{path}[{k}]"), message);
            }
        }
    }
}

/// Tag keys the platform sets itself (or AWS reserves): a definition's own tag under one of
/// them could make a stack look like another pipeline's.
fn is_reserved_tag_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    key == "PIPELINE_EVENT_ID" || lower.starts_with("pipeline-builder") || lower.starts_with("aws:")
}

fn check_tags(tags: &BTreeMap<String, String>, problems: &mut Problems) {
    if tags.len() > MAX_TAGS {
        problems.add(
            "tags",
            format!(
                "at most {MAX_TAGS}: CloudFormation allows 50 stack tags and the platform sets 4"
            ),
        );
    }
    for key in tags.keys().filter(|key| is_reserved_tag_key(key)) {
        problems.add(
            format!("tags.{key}"),
            "reserved: PIPELINE_EVENT_ID, pipeline-builder* and aws:* are set by the platform or AWS",
        );
    }
}

fn check_steps(stage_path: &str, stage: &StageSpec, problems: &mut Problems) {
    let steps: &[StepSpec] = &stage.steps;
    if steps.is_empty() || steps.len() > MAX_STEPS_PER_STAGE {
        problems.add(
            format!("{stage_path}.steps"),
            format!("list 1 to {MAX_STEPS_PER_STAGE} steps"),
        );
    }
    let mut names = HashSet::new();
    for (j, step) in steps.iter().enumerate() {
        let path = format!("{stage_path}.steps[{j}]");
        let name = step.action_name();
        check_identifier(&format!("{path}.name"), name, MAX_NAME_CHARS, problems);
        if !names.insert(name) {
            problems.add(
                format!("{path}.name"),
                format!("duplicate step name '{name}' in this stage; name the step explicitly"),
            );
        }
        if step.plugin.name.is_empty() {
            problems.add(format!("{path}.plugin.name"), "required");
        }
        if parallel_without_predecessor(stage, j) {
            problems.add(
                format!("{path}.parallel"),
                "runs a step beside the one listed before it in the same position, and there is none",
            );
        }
        if let Some(timeout) = step.timeout_minutes {
            if !(MIN_TIMEOUT_MINUTES..=MAX_TIMEOUT_MINUTES).contains(&timeout) {
                problems.add(
                    format!("{path}.timeoutMinutes"),
                    format!("must be {MIN_TIMEOUT_MINUTES} to {MAX_TIMEOUT_MINUTES}"),
                );
            }
        }
        check_map(&format!("{path}.env"), &step.env, MAX_VALUE_BYTES, problems);
        check_map(
            &format!("{path}.metadata"),
            &step.metadata,
            MAX_VALUE_BYTES,
            problems,
        );
    }
}

fn check_map(
    field: &str,
    map: &BTreeMap<String, String>,
    max_value: usize,
    problems: &mut Problems,
) {
    if map.len() > MAX_MAP_ENTRIES {
        problems.add(field, format!("at most {MAX_MAP_ENTRIES} entries"));
    }
    for (key, value) in map {
        let key_ok = !key.is_empty()
            && key.chars().count() <= MAX_KEY_CHARS
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c));
        if !key_ok {
            problems.add(
                format!("{field}.{key}"),
                format!("keys are 1-{MAX_KEY_CHARS} characters of letters, digits and '_-.:/'"),
            );
        }
        if value.len() > max_value {
            problems.add(
                format!("{field}.{key}"),
                format!("at most {max_value} bytes"),
            );
        }
    }
}
