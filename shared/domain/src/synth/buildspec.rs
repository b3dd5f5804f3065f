//! The inline buildspec (version 0.2) of a command-running step.
//!
//! `failureBehavior: warn` and `ignore` must never fail the build, so each command of such a step
//! runs inside a POSIX `sh` guard: once a command exits non-zero, the rest are skipped, a log line
//! says what happened, and the command itself exits 0. Variables set by a command still reach the
//! next ones (no subshell), as CodeBuild's shell would have it. `warn` also records the failure in
//! the exported variable [`OUTCOME_VARIABLE`], which CodePipeline keeps with the action's
//! execution (its output variables), where the execution history can show it.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::plugin::{FailureBehavior, PluginSpec};

/// `succeeded`, or `failed-warned` when a `warn` step's command failed.
pub const OUTCOME_VARIABLE: &str = "PB_STEP_OUTCOME";
const FAILED_EXIT_VARIABLE: &str = "PB_STEP_FAILED_EXIT";

/// What a step's build needs besides its plugin.
pub struct BuildInputs<'a> {
    pub step_name: &'a str,
    pub plugin: &'a PluginSpec,
    pub failure: FailureBehavior,
    /// Plugin env overlaid with the step's.
    pub variables: BTreeMap<String, String>,
    /// Environment variable → Secrets Manager secret name, fetched by CodeBuild at start.
    pub secrets: BTreeMap<String, String>,
}

/// The buildspec as a JSON value (rendered to YAML by the caller).
pub fn buildspec(inputs: &BuildInputs) -> Value {
    let mut variables = inputs.variables.clone();
    if inputs.failure == FailureBehavior::Warn {
        variables.insert(OUTCOME_VARIABLE.into(), "succeeded".into());
    }
    let mut env = Map::new();
    if !variables.is_empty() {
        env.insert("variables".into(), json!(variables));
    }
    if !inputs.secrets.is_empty() {
        env.insert("secrets-manager".into(), json!(inputs.secrets));
    }
    if inputs.failure == FailureBehavior::Warn {
        env.insert("exported-variables".into(), json!([OUTCOME_VARIABLE]));
    }
    let mut phases = Map::new();
    for (phase, commands) in [
        ("install", &inputs.plugin.install_commands),
        ("build", &inputs.plugin.commands),
    ] {
        if !commands.is_empty() {
            let commands: Vec<String> = commands
                .iter()
                .map(|command| guarded(command, inputs))
                .collect();
            phases.insert(phase.into(), json!({ "commands": commands }));
        }
    }
    let mut spec = Map::new();
    spec.insert("version".into(), json!(0.2));
    if !env.is_empty() {
        spec.insert("env".into(), Value::Object(env));
    }
    spec.insert("phases".into(), Value::Object(phases));
    if let Some(directory) = &inputs.plugin.primary_output_directory {
        spec.insert(
            "artifacts".into(),
            json!({ "base-directory": directory, "files": ["**/*"] }),
        );
    }
    Value::Object(spec)
}

fn guarded(command: &str, inputs: &BuildInputs) -> String {
    let (label, record) = match inputs.failure {
        FailureBehavior::Fail => return command.to_string(),
        FailureBehavior::Ignore => ("ignore", String::new()),
        FailureBehavior::Warn => ("warn", format!(" export {OUTCOME_VARIABLE}=failed-warned;")),
    };
    let step = inputs.step_name;
    format!(
        "if [ -z \"${{{FAILED_EXIT_VARIABLE}:-}}\" ]; then\n\
         {command}\n\
         pb_exit=$?\n\
         if [ \"$pb_exit\" -ne 0 ]; then export {FAILED_EXIT_VARIABLE}=$pb_exit;{record} \
         echo \"pipeline-builder: step {step} failed (exit $pb_exit); failureBehavior {label} lets the stage go on, its remaining commands are skipped\"; fi\n\
         fi"
    )
}
