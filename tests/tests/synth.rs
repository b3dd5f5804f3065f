//! Synthesis: what a definition and its pinned plugins become in the CloudFormation template,
//! taken through the write path's checks as a pipeline write does (`samples::synthesize`).
//! Offline and pure; the one process started is `sh`, to run a synthesized buildspec's commands.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use pb_domain::pipeline::PipelineSpec;
use pb_domain::plugin::{CatalogEntry, FieldError};
use pb_domain::synth::{Synthesized, MAX_DEPLOYED_NAME_CHARS, MAX_INLINE_TEMPLATE_BYTES};
use pb_domain::yaml::{to_json, Limits};
use pb_tests::emulator::unique_prefix;
use pb_tests::rng::Rng;
use pb_tests::samples::{sample_catalog, sample_pipelines, synthesize, SAMPLE_ORG};
use serde_json::{json, Value};

const CONNECTION_ARN: &str =
    "arn:aws:codeconnections:us-east-1:123456789012:connection/4f1c2a3b-5d6e-4f70-8a9b-0c1d2e3f4a5b";

fn catalog() -> Vec<CatalogEntry> {
    sample_catalog().expect("the sample plugins load")
}

/// The sample catalog and plugins of the test's own, published by the samples' org.
fn catalog_with(plugins: &[Value]) -> Vec<CatalogEntry> {
    let mut entries = catalog();
    entries.extend(plugins.iter().map(|spec| CatalogEntry {
        org: SAMPLE_ORG.into(),
        spec: serde_json::from_value(spec.clone()).expect("a plugin spec"),
    }));
    entries
}

fn sample(name: &str) -> PipelineSpec {
    sample_pipelines()
        .expect("the sample pipelines load")
        .into_iter()
        .find(|(stem, _)| stem == name)
        .unwrap_or_else(|| panic!("no sample pipeline {name}"))
        .1
}

/// A definition with a GitHub connection source and the given stages.
fn definition(name: &str, stages: Value) -> Value {
    json!({
        "name": name,
        "project": "synth",
        "source": { "type": "github", "repo": "acme/synth", "branch": "main", "connectionArn": CONNECTION_ARN },
        "stages": stages,
    })
}

/// A definition of one stage, `Build`.
fn one_stage(name: &str, steps: Value) -> Value {
    definition(name, json!([{ "name": "Build", "steps": steps }]))
}

fn step(name: &str, plugin: &str) -> Value {
    json!({ "name": name, "plugin": { "name": plugin, "version": "latest" } })
}

fn spec(definition: &Value) -> PipelineSpec {
    serde_json::from_value(definition.clone()).expect("the definition deserializes")
}

fn synthesized(definition: &Value, catalog: &[CatalogEntry]) -> Synthesized {
    synthesize(&spec(definition), catalog)
        .unwrap_or_else(|problems| panic!("does not synthesize: {problems:#?}"))
}

fn refusals(definition: &Value, catalog: &[CatalogEntry]) -> Vec<FieldError> {
    match synthesize(&spec(definition), catalog) {
        Ok(_) => panic!("synthesized a definition that should be refused: {definition:#}"),
        Err(problems) => problems,
    }
}

fn refused_fields(definition: &Value, catalog: &[CatalogEntry]) -> Vec<String> {
    refusals(definition, catalog)
        .into_iter()
        .map(|problem| problem.field)
        .collect()
}

/// The refusal of `field`, failing with every refusal when there is none.
fn refusal_of(problems: &[FieldError], field: &str) -> FieldError {
    problems
        .iter()
        .find(|problem| problem.field == field)
        .cloned()
        .unwrap_or_else(|| panic!("no refusal of {field} among {problems:#?}"))
}

fn resources<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_object()
        .expect("the template has resources")
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .map(|(id, resource)| (id.as_str(), resource))
        .collect()
}

fn pipeline_stages(template: &Value) -> &Vec<Value> {
    template["Resources"]["Pipeline"]["Properties"]["Stages"]
        .as_array()
        .expect("the pipeline has stages")
}

fn names(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item["Name"].as_str().expect("a name"))
        .collect()
}

fn action<'a>(template: &'a Value, stage: &str, step: &str) -> &'a Value {
    pipeline_stages(template)
        .iter()
        .find(|s| s["Name"] == stage)
        .and_then(|s| s["Actions"].as_array()?.iter().find(|a| a["Name"] == step))
        .unwrap_or_else(|| panic!("no action {stage}/{step}"))
}

/// The CodeBuild project a build action starts.
fn project_of<'a>(template: &'a Value, stage: &str, step: &str) -> &'a Value {
    let id = action(template, stage, step)["Configuration"]["ProjectName"]["Ref"]
        .as_str()
        .unwrap_or_else(|| panic!("{stage}/{step} starts no project"));
    &template["Resources"][id]
}

/// The logical id of the role a project runs as.
fn role_of(project: &Value) -> &str {
    project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
        .as_str()
        .expect("the project's role is a GetAtt of a role")
}

fn statements(role: &Value) -> Vec<&Value> {
    role["Properties"]["Policies"]
        .as_array()
        .expect("the role has policies")
        .iter()
        .flat_map(|policy| {
            policy["PolicyDocument"]["Statement"]
                .as_array()
                .expect("a policy has statements")
        })
        .collect()
}

fn statement_actions(statement: &Value) -> Vec<&str> {
    match &statement["Action"] {
        Value::String(action) => vec![action.as_str()],
        Value::Array(actions) => actions.iter().filter_map(Value::as_str).collect(),
        other => panic!("a statement's Action is {other}"),
    }
}

/// The `Fn::Sub` ARNs of the role's statements that act on Secrets Manager.
fn secret_arns(role: &Value) -> BTreeSet<String> {
    statements(role)
        .into_iter()
        .filter(|s| {
            statement_actions(s)
                .iter()
                .any(|a| a.starts_with("secretsmanager:"))
        })
        .flat_map(|s| s["Resource"].as_array().expect("a list of resources"))
        .map(|arn| arn["Fn::Sub"].as_str().expect("a Sub ARN").to_string())
        .collect()
}

fn secret_arn(name: &str) -> String {
    format!(
        "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{name}-??????"
    )
}

fn tags(template: &Value) -> BTreeMap<String, String> {
    template["Resources"]["Pipeline"]["Properties"]["Tags"]
        .as_array()
        .expect("the pipeline has tags")
        .iter()
        .map(|tag| {
            (
                tag["Key"].as_str().expect("a key").to_string(),
                tag["Value"].as_str().expect("a value").to_string(),
            )
        })
        .collect()
}

/// Every object of the template that is an IAM policy statement.
fn every_statement(value: &Value, found: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if map.contains_key("Effect") && map.contains_key("Action") {
                found.push(value.clone());
            }
            map.values().for_each(|v| every_statement(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| every_statement(v, found)),
        _ => {}
    }
}

fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_sample_has_one_stage_per_definition_stage_and_one_action_per_step() {
    let catalog = catalog();
    let samples = sample_pipelines().unwrap();
    assert!(samples.len() >= 5, "{} samples", samples.len());
    for (name, spec) in samples {
        let synthesized = synthesize(&spec, &catalog)
            .unwrap_or_else(|problems| panic!("{name} does not synthesize: {problems:#?}"));
        let stages = pipeline_stages(&synthesized.template);
        let expected: Vec<&str> = std::iter::once("Source")
            .chain(spec.stages.iter().map(|s| s.name.as_str()))
            .collect();
        let actual: Vec<&str> = stages.iter().map(|s| s["Name"].as_str().unwrap()).collect();
        assert_eq!(actual, expected, "{name}: stages");
        assert_eq!(names(&stages[0]["Actions"]), ["Source"], "{name}");
        for (stage, synthesized_stage) in spec.stages.iter().zip(&stages[1..]) {
            let steps: Vec<&str> = stage.steps.iter().map(|s| s.action_name()).collect();
            assert_eq!(
                names(&synthesized_stage["Actions"]),
                steps,
                "{name}: actions of stage {}",
                stage.name
            );
        }
        let build_actions = stages
            .iter()
            .flat_map(|s| s["Actions"].as_array().unwrap())
            .filter(|a| a["ActionTypeId"]["Category"] == "Build")
            .count();
        let template = &synthesized.template;
        assert_eq!(
            resources(template, "AWS::CodeBuild::Project").len(),
            build_actions,
            "{name}: one project per command step"
        );
        assert_eq!(
            resources(template, "AWS::Logs::LogGroup").len(),
            build_actions,
            "{name}: one log group per command step"
        );
    }
}

#[test]
fn approval_steps_become_manual_approvals_carrying_their_metadata() {
    let synthesized = synthesize(&sample("storefront-web"), &catalog()).unwrap();
    let approval = action(&synthesized.template, "Approve", "ApproveRelease");
    assert_eq!(
        approval["ActionTypeId"],
        json!({ "Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1" })
    );
    assert_eq!(
        approval["Configuration"]["CustomData"],
        r#"{"approverGroup":"storefront-leads"}"#
    );
}

#[test]
fn parallel_steps_share_a_run_order_and_inputs_become_input_artifacts() {
    let synthesized = synthesize(&sample("storefront-web"), &catalog()).unwrap();
    let template = &synthesized.template;
    let run_order = |step: &str| action(template, "Test", step)["RunOrder"].clone();
    assert_eq!(
        ["Scan", "UnitTests", "IntegrationTests", "Publish"].map(run_order),
        [json!(1), json!(2), json!(2), json!(3)]
    );
    assert_eq!(
        names(&action(template, "Test", "Publish")["InputArtifacts"]),
        ["Source", "UnitTests", "IntegrationTests"]
    );
    assert_eq!(
        names(&action(template, "Production", "Deploy")["InputArtifacts"]),
        ["Source", "Compile"]
    );
}

#[test]
fn only_a_step_whose_plugin_names_secrets_gets_a_role_that_reads_them() {
    let catalog = catalog_with(&[json!({
        "name": "npm-publish", "version": "1.0.0", "category": "deploy", "pluginType": "CodeBuildStep",
        "image": "public.ecr.aws/docker/library/node:20-bookworm", "commands": ["npm publish"],
        "secrets": [{ "name": "team/npm-token" }, { "name": "team/sentry-dsn", "required": false }],
    })]);
    let definition = definition(
        "secrets",
        json!([{ "name": "Ship", "steps": [
            step("Build", "node-build"),
            step("Publish", "npm-publish"),
            { "name": "Deploy", "plugin": { "name": "cfn-deploy", "version": "latest" },
              "metadata": { "stackName": "shop" } },
            step("Tests", "unit-tests"),
        ] }]),
    );
    let synthesized = synthesized(&definition, &catalog);
    let template = &synthesized.template;

    let readers: BTreeMap<&str, BTreeSet<String>> = BTreeMap::from([
        (
            role_of(project_of(template, "Ship", "Publish")),
            BTreeSet::from([secret_arn("team/npm-token"), secret_arn("team/sentry-dsn")]),
        ),
        (
            role_of(project_of(template, "Ship", "Deploy")),
            BTreeSet::from([secret_arn("pipeline-builder/deploy/notifications-webhook")]),
        ),
    ]);
    assert_eq!(
        readers.keys().copied().collect::<Vec<_>>(),
        ["Stage1Step2Role", "Stage1Step3Role"]
    );
    for step in ["Build", "Tests"] {
        assert_eq!(role_of(project_of(template, "Ship", step)), "BuildRole");
    }
    let roles = resources(template, "AWS::IAM::Role");
    assert_eq!(
        roles.len(),
        4,
        "BuildRole, PipelineRole and two of their own"
    );
    for (id, role) in roles {
        let expected = readers.get(id).cloned().unwrap_or_default();
        assert_eq!(secret_arns(role), expected, "secrets {id} can read");
        let wildcards: Vec<&str> = statements(role)
            .into_iter()
            .flat_map(statement_actions)
            .filter(|action| action.contains('*'))
            .collect();
        assert!(
            wildcards.is_empty(),
            "{id} has wildcard actions {wildcards:?}"
        );
    }
    let shared_actions: Vec<&str> = statements(&template["Resources"]["BuildRole"])
        .into_iter()
        .flat_map(statement_actions)
        .collect();
    assert!(
        !shared_actions
            .iter()
            .any(|a| a.starts_with("secretsmanager")),
        "{shared_actions:?}"
    );
    let buildspec = to_json(
        project_of(template, "Ship", "Publish")["Properties"]["Source"]["BuildSpec"]
            .as_str()
            .unwrap(),
        Limits::BODY,
    )
    .unwrap();
    assert_eq!(
        buildspec["env"]["secrets-manager"],
        json!({ "NPM_TOKEN": "team/npm-token" })
    );
    assert_eq!(
        buildspec["env"]["variables"]["SENTRY_DSN_SECRET_ID"],
        "team/sentry-dsn"
    );
}

#[test]
fn every_role_carries_the_boundary_and_no_statement_grants_every_resource() {
    let catalog = catalog();
    for (name, spec) in sample_pipelines().unwrap() {
        let template = synthesize(&spec, &catalog).unwrap().template;
        assert_eq!(
            template["Parameters"]["PermissionsBoundaryArn"]["Type"], "String",
            "{name}"
        );
        let roles = resources(&template, "AWS::IAM::Role");
        assert!(roles.len() >= 2, "{name}: {} roles", roles.len());
        for (id, role) in roles {
            assert_eq!(
                role["Properties"]["PermissionsBoundary"],
                json!({ "Ref": "PermissionsBoundaryArn" }),
                "{name}: {id}"
            );
        }
        let mut found = Vec::new();
        every_statement(&template, &mut found);
        assert!(found.len() > 5, "{name}: {} statements", found.len());
        for statement in found {
            let resources = match &statement["Resource"] {
                Value::Array(items) => items.clone(),
                single => vec![single.clone()],
            };
            assert!(
                !resources.contains(&json!("*")),
                "{name}: a statement on every resource: {statement}"
            );
        }
    }
}

#[test]
fn the_pipeline_and_the_stack_carry_the_platform_tags_and_the_definitions() {
    let synthesized = synthesize(&sample("storefront-web"), &catalog()).unwrap();
    let expected = string_map(&[
        ("PIPELINE_EVENT_ID", "pl-sample"),
        ("pipeline-builder", "true"),
        ("pipeline-builder:org", "acme"),
        ("pipeline-builder:component", "pipeline"),
        ("cost-center", "storefront"),
        ("owner", "web-platform"),
    ]);
    assert_eq!(tags(&synthesized.template), expected);
    assert_eq!(synthesized.stack_tags, expected);
}

#[test]
fn a_definition_cannot_set_the_tags_the_platform_or_aws_reserve() {
    let catalog = catalog();
    for key in [
        "PIPELINE_EVENT_ID",
        "pipeline-builder:x",
        "Pipeline-Builder",
        "aws:foo",
        "AWS:foo",
    ] {
        let mut definition = one_stage("tagged", json!([step("Compile", "node-build")]));
        definition["tags"] = json!({ key: "mine", "team": "web" });
        let refused = refused_fields(&definition, &catalog);
        assert_eq!(refused, [format!("tags.{key}")], "{key}");
    }
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let catalog = catalog();
    for (name, spec) in sample_pipelines().unwrap() {
        let first = serde_json::to_string(&synthesize(&spec, &catalog).unwrap().template).unwrap();
        let again = serde_json::to_string(&synthesize(&spec, &catalog).unwrap().template).unwrap();
        assert_eq!(first, again, "{name}: twice");
        let round_tripped: PipelineSpec =
            serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        let after =
            serde_json::to_string(&synthesize(&round_tripped, &catalog).unwrap().template).unwrap();
        assert_eq!(first, after, "{name}: after a serde round trip");
    }
}

#[test]
fn the_catalogs_order_does_not_change_the_template() {
    // An older node-build too, so resolution has a choice to make whatever the order.
    let mut older = serde_json::to_value(
        &catalog()
            .into_iter()
            .find(|e| e.spec.name == "node-build")
            .unwrap()
            .spec,
    )
    .unwrap();
    older["version"] = json!("2.0.0");
    older["image"] = json!("public.ecr.aws/docker/library/node:18-bookworm");
    let catalog = catalog_with(&[older]);
    let spec = sample("storefront-web");
    let expected = serde_json::to_string(&synthesize(&spec, &catalog).unwrap().template).unwrap();
    assert!(expected.contains("node:20-bookworm") && !expected.contains("node:18-bookworm"));
    for seed in 1..=8 {
        let mut shuffled = catalog.clone();
        let mut rng = Rng::new(seed);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.index(i + 1));
        }
        let actual =
            serde_json::to_string(&synthesize(&spec, &shuffled).unwrap().template).unwrap();
        assert_eq!(actual, expected, "seed {seed}");
    }
}

/// What running a buildspec's commands the way CodeBuild does showed.
struct Run {
    stdout: String,
    succeeded: bool,
    dir: std::path::PathBuf,
}

/// The install then build commands of a buildspec, in one `sh` with the buildspec's variables,
/// stopping at the first command that exits non-zero as CodeBuild fails the build there; prints
/// `PB_STEP_OUTCOME` at the end.
fn run_buildspec(buildspec: &Value) -> Run {
    let mut script = String::new();
    let mut count = 0;
    for phase in ["install", "build"] {
        for command in buildspec["phases"][phase]["commands"]
            .as_array()
            .into_iter()
            .flatten()
        {
            count += 1;
            script.push_str(command.as_str().expect("a command is a string"));
            script.push_str(&format!(
                "\npb_harness_status=$?\nif [ \"$pb_harness_status\" -ne 0 ]; then echo \"harness: command {count} exited $pb_harness_status\"; exit 1; fi\n"
            ));
        }
    }
    script.push_str("echo \"outcome=${PB_STEP_OUTCOME:-unset}\"\n");
    let dir = std::env::temp_dir().join(unique_prefix("buildspec"));
    std::fs::create_dir_all(&dir).unwrap();
    let variables = buildspec["env"]["variables"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().expect("a string value").to_string()));
    let output = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .env_remove("PB_STEP_OUTCOME")
        .env_remove("PB_STEP_FAILED_EXIT")
        .envs(variables)
        .output()
        .expect("sh runs");
    Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        succeeded: output.status.success(),
        dir,
    }
}

impl Run {
    fn file(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(name)).ok()
    }

    fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The buildspec of a one-step pipeline whose plugin sets a variable, writes `ran-one` with it,
/// then runs `commands`, with the step's `failureBehavior`.
fn flaky_buildspec(commands: &[&str], failure_behavior: &str) -> Value {
    let catalog = catalog_with(&[json!({
        "name": "flaky", "version": "1.0.0", "category": "test", "pluginType": "ShellStep",
        "image": "public.ecr.aws/docker/library/alpine:3.20",
        "installCommands": ["export FIRST=one", "echo \"$FIRST\" > ran-one"],
        "commands": commands,
    })]);
    let mut flaky = step("Flaky", "flaky");
    flaky["failureBehavior"] = json!(failure_behavior);
    let synthesized = synthesized(
        &definition("flaky", json!([{ "name": "Check", "steps": [flaky] }])),
        &catalog,
    );
    let text = project_of(&synthesized.template, "Check", "Flaky")["Properties"]["Source"]
        ["BuildSpec"]
        .as_str()
        .expect("an inline buildspec")
        .to_string();
    to_json(&text, Limits::BODY).expect("the buildspec is YAML")
}

const FAILING: [&str; 2] = ["false", "echo three > ran-three"];

/// Runs the flaky plugin's failing commands under `failure_behavior` and checks that the build
/// went on past the failure without running the command after it.
fn run_past_the_failure(failure_behavior: &str) -> Run {
    let run = run_buildspec(&flaky_buildspec(&FAILING, failure_behavior));
    assert!(run.succeeded, "{}", run.stdout);
    assert!(!run.stdout.contains("harness:"), "{}", run.stdout);
    assert_eq!(run.file("ran-one").as_deref(), Some("one\n"));
    assert_eq!(
        run.file("ran-three"),
        None,
        "a command after the failure ran"
    );
    let notice = format!("step Flaky failed (exit 1); failureBehavior {failure_behavior}");
    assert!(run.stdout.contains(&notice), "{}", run.stdout);
    run
}

#[test]
fn an_ignore_step_cannot_fail_its_build_and_skips_what_follows_the_failure() {
    assert_eq!(run_past_the_failure("ignore").last_line(), "outcome=unset");
}

#[test]
fn a_warn_step_cannot_fail_its_build_and_exports_the_failure() {
    assert_eq!(
        run_past_the_failure("warn").last_line(),
        "outcome=failed-warned"
    );

    let buildspec = flaky_buildspec(&["true", "echo three > ran-three"], "warn");
    assert_eq!(
        buildspec["env"]["exported-variables"],
        json!(["PB_STEP_OUTCOME"])
    );
    let clean = run_buildspec(&buildspec);
    assert_eq!(clean.file("ran-three").as_deref(), Some("three\n"));
    assert_eq!(clean.last_line(), "outcome=succeeded");
}

#[test]
fn a_fail_step_fails_its_build_at_the_failing_command() {
    let run = run_buildspec(&flaky_buildspec(&FAILING, "fail"));
    assert!(!run.succeeded, "{}", run.stdout);
    assert_eq!(run.last_line(), "harness: command 3 exited 1");
    assert_eq!(run.file("ran-one").as_deref(), Some("one\n"));
    assert_eq!(run.file("ran-three"), None);
}

#[test]
fn a_github_source_with_only_a_token_secret_is_refused_for_a_connection() {
    let mut definition = one_stage("token", json!([step("Compile", "node-build")]));
    definition["source"] = json!({
        "type": "github", "repo": "acme/synth", "branch": "main", "tokenSecret": "team/github-token",
    });
    let problems = refusals(&definition, &catalog());
    let refusal = refusal_of(&problems, "source.tokenSecret");
    assert!(
        refusal.message.contains("connection"),
        "{}",
        refusal.message
    );
}

#[test]
fn more_than_four_inputs_are_refused() {
    let letters: Vec<Value> = ["A", "B", "C", "D", "E"]
        .iter()
        .map(|name| step(name, "node-build"))
        .collect();
    let mut deploy = step("Deploy", "shell-script");
    deploy["inputs"] = json!(["Build/A", "Build/B", "Build/C", "Build/D", "Build/E"]);
    let definition = definition(
        "five",
        json!([{ "name": "Build", "steps": letters }, { "name": "Ship", "steps": [deploy] }]),
    );
    assert_eq!(
        refused_fields(&definition, &catalog()),
        ["stages[1].steps[0].inputs"]
    );
}

#[test]
fn an_input_is_refused_at_the_reference_that_cannot_be_read() {
    let catalog = catalog();
    let mut early = step("Early", "shell-script");
    early["inputs"] = json!(["Late/Compile"]);
    let later_stage = definition(
        "later",
        json!([{ "name": "First", "steps": [early] },
               { "name": "Late", "steps": [step("Compile", "node-build")] }]),
    );
    assert_eq!(
        refused_fields(&later_stage, &catalog),
        ["stages[0].steps[0].inputs[0]"]
    );

    let mut beside = step("Beside", "shell-script");
    beside["parallel"] = json!(true);
    beside["inputs"] = json!(["Compile"]);
    let same_run_order = one_stage("beside", json!([step("Compile", "node-build"), beside]));
    assert_eq!(
        refused_fields(&same_run_order, &catalog),
        ["stages[0].steps[1].inputs[0]"]
    );

    let mut reader = step("Reader", "shell-script");
    reader["inputs"] = json!(["Compile", "Nowhere"]);
    let unknown = one_stage("unknown", json!([step("Compile", "node-build"), reader]));
    assert_eq!(
        refused_fields(&unknown, &catalog),
        ["stages[0].steps[1].inputs[1]"]
    );

    let mut reader = step("Reader", "shell-script");
    reader["inputs"] = json!(["Scan"]);
    let no_output = one_stage("no-output", json!([step("Scan", "security-scan"), reader]));
    let problems = refusals(&no_output, &catalog);
    let refusal = refusal_of(&problems, "stages[0].steps[1].inputs[0]");
    assert!(refusal.message.contains("no output"), "{}", refusal.message);
}

#[test]
fn parallel_needs_a_step_before_it_in_its_own_position() {
    let mut first = step("Compile", "node-build");
    first["parallel"] = json!(true);
    let mut post = step("Report", "shell-script");
    post["position"] = json!("post");
    post["parallel"] = json!(true);
    let definition = one_stage(
        "parallel",
        json!([first, step("Tests", "unit-tests"), post]),
    );
    assert_eq!(
        refused_fields(&definition, &catalog()),
        ["stages[0].steps[0].parallel", "stages[0].steps[2].parallel"]
    );
}

#[test]
fn a_stage_cannot_take_the_source_stages_name() {
    let definition = definition(
        "source-stage",
        json!([{ "name": "Build", "steps": [step("Compile", "node-build")] },
               { "name": "Source", "steps": [step("Tests", "unit-tests")] }]),
    );
    assert_eq!(refused_fields(&definition, &catalog()), ["stages[1].name"]);
}

#[test]
fn step_variables_must_be_shell_names_codebuild_does_not_reserve() {
    let mut compile = step("Compile", "node-build");
    compile["env"] = json!({ "1BAD": "x", "CODEBUILD_X": "y", "GOOD_1": "z" });
    assert_eq!(
        refused_fields(&one_stage("env", json!([compile])), &catalog()),
        [
            "stages[0].steps[0].env.1BAD",
            "stages[0].steps[0].env.CODEBUILD_X"
        ]
    );
}

#[test]
fn a_plugins_required_metadata_must_be_given() {
    let definition = one_stage(
        "approval",
        json!([
            step("Compile", "node-build"),
            step("Release", "manual-approval")
        ]),
    );
    assert_eq!(
        refused_fields(&definition, &catalog()),
        ["stages[0].steps[1].metadata.approverGroup"]
    );
}

#[test]
fn approval_metadata_must_fit_codepipelines_custom_data() {
    // `{"approverGroup":"…"}` is the value's length plus 20 characters.
    let approval = |group: String| {
        let mut release = step("Release", "manual-approval");
        release["metadata"] = json!({ "approverGroup": group });
        one_stage("custom-data", json!([release]))
    };
    let catalog = catalog();
    let fits = synthesized(&approval("g".repeat(480)), &catalog);
    let custom = &action(&fits.template, "Build", "Release")["Configuration"]["CustomData"];
    assert_eq!(custom.as_str().map(|s| s.chars().count()), Some(500));
    let problems = refusals(&approval("g".repeat(481)), &catalog);
    let refusal = refusal_of(&problems, "stages[0].steps[0].metadata");
    assert!(refusal.message.contains("501"), "{}", refusal.message);
}

#[test]
fn the_stack_and_the_pipeline_share_the_deployed_name() {
    let synthesized = synthesize(&sample("storefront-web"), &catalog()).unwrap();
    assert_eq!(synthesized.stack_name, "pb-acme-storefront-web");
    assert_eq!(
        synthesized.template["Resources"]["Pipeline"]["Properties"]["Name"],
        "pb-acme-storefront-web"
    );
}

#[test]
fn a_long_name_is_hashed_within_codepipelines_limit() {
    let catalog = catalog();
    let steps = json!([step("Compile", "node-build")]);
    let deployed = |last: char| {
        let name = format!("storefront-{}{last}", "a".repeat(88));
        assert_eq!(name.len(), 100);
        let synthesized = synthesized(&one_stage(&name, steps.clone()), &catalog);
        assert_eq!(
            synthesized.template["Resources"]["Pipeline"]["Properties"]["Name"],
            synthesized.stack_name.as_str()
        );
        synthesized.stack_name
    };
    let one = deployed('1');
    assert!(one.chars().count() <= MAX_DEPLOYED_NAME_CHARS, "{one}");
    assert!(one.starts_with("pb-acme-storefront-aaa"), "{one}");
    let (_, hash) = one.rsplit_once('-').unwrap();
    assert!(
        hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{one}"
    );
    assert_ne!(one, deployed('2'), "names that differ only past the cut");
}

/// 100 steps in stages of 20, cycling through the sample plugins, each step given the metadata
/// its plugin requires.
fn hundred_steps(catalog: &[CatalogEntry]) -> Value {
    let stages: Vec<Value> = (0..5)
        .map(|i| {
            let steps: Vec<Value> = (0..20)
                .map(|j| {
                    let plugin = &catalog[(i * 20 + j) % catalog.len()].spec;
                    let mut step = step(&format!("Step{j:02}"), &plugin.name);
                    step["metadata"] = plugin
                        .required_metadata
                        .iter()
                        .map(|key| (key.clone(), json!(format!("{key}-{i}-{j}"))))
                        .collect();
                    step
                })
                .collect();
            json!({ "name": format!("Wave{i}"), "steps": steps })
        })
        .collect();
    definition("hundred", json!(stages))
}

#[test]
fn a_hundred_step_pipeline_synthesizes_and_goes_through_s3() {
    let catalog = catalog();
    let synthesized = synthesized(&hundred_steps(&catalog), &catalog);
    println!(
        "100 steps: {} resources, {} bytes",
        synthesized.resource_count, synthesized.body_bytes
    );
    let actions: usize = pipeline_stages(&synthesized.template)[1..]
        .iter()
        .map(|s| s["Actions"].as_array().unwrap().len())
        .sum();
    assert_eq!(actions, 100);
    assert_eq!(
        synthesized.resource_count,
        synthesized.template["Resources"].as_object().unwrap().len()
    );
    assert_eq!(
        synthesized.body_bytes,
        serde_json::to_string(&synthesized.template).unwrap().len()
    );
    assert!(synthesized.body_bytes > MAX_INLINE_TEMPLATE_BYTES);
    assert!(synthesized.needs_upload());

    let small = synthesize(&sample("storefront-web"), &catalog).unwrap();
    assert!(small.body_bytes <= MAX_INLINE_TEMPLATE_BYTES);
    assert!(!small.needs_upload());
}
