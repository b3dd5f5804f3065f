use serde_json::json;

use super::*;
use crate::plugin::{resolve_batch, CatalogEntry};

fn sample() -> serde_json::Value {
    json!({
        "name": "payments-service",
        "project": "payments",
        "description": "Builds {{ vars.service }} for {{ metadata.team }}",
        "source": {"type": "github", "repo": "acme/payments", "branch": "{{ branch | default: 'main' }}",
                   "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/abc"},
        "stages": [
            {"name": "Build", "steps": [
                {"plugin": {"name": "node-build", "version": "^2"}, "env": {"SERVICE": "{{ vars.service }}"}},
                {"name": "Scan", "plugin": {"name": "security-scan", "version": "~0.9"}}
            ]},
            {"name": "Prod", "environment": "production", "steps": [
                {"plugin": {"name": "manual-approval", "version": "1.0.0"}, "metadata": {"approverGroup": "{{ metadata.team }}-leads"}},
                {"plugin": {"name": "cfn-deploy", "version": "latest"}, "timeoutMinutes": 30}
            ]}
        ],
        "vars": {"service": "payments-{{ vars.suffix }}", "suffix": "api"},
        "metadata": {"team": "platform"},
        "tags": {"cost-center": "{{ vars.service }}"}
    })
}

fn spec(value: serde_json::Value) -> PipelineSpec {
    serde_json::from_value(value).unwrap()
}

/// The sample with its templates expanded, as validation sees a definition.
fn resolved_sample() -> serde_json::Value {
    serde_json::to_value(resolve_templates(&spec(sample())).unwrap()).unwrap()
}

fn fields(errors: &[crate::plugin::FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn a_complete_definition_validates_and_resolves() {
    let pipeline = spec(sample());
    let resolved = resolve_templates(&pipeline).unwrap();
    assert_eq!(validate(&resolved), Ok(()));
    assert_eq!(resolved.description, "Builds payments-api for platform");
    assert_eq!(resolved.vars["service"], "payments-api");
    assert_eq!(resolved.tags["cost-center"], "payments-api");
    assert_eq!(resolved.stages[0].steps[0].env["SERVICE"], "payments-api");
    assert_eq!(
        resolved.stages[1].steps[0].metadata["approverGroup"],
        "platform-leads"
    );
    match &resolved.source {
        SourceSpec::Github { branch, .. } => assert_eq!(branch, "main"),
        other => panic!("{other:?}"),
    }
    assert_eq!(pipeline.stages[0].steps[0].action_name(), "node-build");
    assert_eq!(pipeline.stages[0].steps[1].action_name(), "Scan");
}

#[test]
fn template_cycles_and_unknown_names_are_reported_with_their_fields() {
    let mut value = sample();
    value["vars"] = json!({"a": "{{ vars.b }}", "b": "x{{ a }}", "service": "s", "suffix": ""});
    value["description"] = json!("{{ vars.missing }} {{ nope.x }} {{ vars.a | upper }}");
    let errors = resolve_templates(&spec(value)).unwrap_err();
    let messages: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    assert_eq!(
        messages,
        [
            "vars.a: template cycle: vars.a → vars.b → vars.a",
            "vars.b: template cycle: vars.b → vars.a → vars.b",
            "description: 'vars.missing' is not defined (add it, or write {{ vars.missing | default: '…' }})",
        ]
    );
    let mut value = sample();
    value["description"] = json!("{{ nope.x }}");
    value["tags"] = json!({"a": "{{ vars.service | upper }}", "b": "{{ vars.service"});
    let errors = resolve_templates(&spec(value)).unwrap_err();
    assert_eq!(fields(&errors), ["description", "tags.a", "tags.b"]);
    assert!(errors[0]
        .message
        .contains("unknown template namespace 'nope'"));
    assert!(errors[1].message.contains("unknown filter"));
    assert!(errors[2].message.contains("unclosed"));
}

#[test]
fn exponential_expansion_is_cut_off() {
    let mut vars = serde_json::Map::new();
    for i in 0..30 {
        vars.insert(
            format!("v{i}"),
            json!(format!("{{{{ v{} }}}}{{{{ v{} }}}}", i + 1, i + 1)),
        );
    }
    vars.insert("v30".into(), json!("xxxxxxxx"));
    let mut value = sample();
    value["vars"] = serde_json::Value::Object(vars);
    value["description"] = json!("{{ v0 }}");
    value["tags"] = json!({});
    value["stages"][0]["steps"][0]["env"] = json!({});
    let errors = resolve_templates(&spec(value)).unwrap_err();
    assert!(errors
        .iter()
        .all(|e| e.message.contains("expands to more than")));
    assert!(fields(&errors).contains(&"description"));
}

#[test]
fn every_shape_problem_is_listed_once_with_its_path() {
    let mut value = resolved_sample();
    value["name"] = json!("bad name!");
    value["source"] =
        json!({"type": "github", "repo": "acme", "branch": "main", "token": "ghp_123"});
    value["stages"][1]["name"] = json!("Build");
    value["stages"][1]["steps"][1]["name"] = json!("manual-approval");
    value["stages"][1]["steps"][1]["timeoutMinutes"] = json!(1000);
    value["tags"] = json!({"bad key": "x"});
    let errors = validate(&spec(value)).unwrap_err();
    assert_eq!(
        fields(&errors),
        [
            "name",
            "source.repo",
            "source.token",
            "source",
            "stages[1].name",
            "stages[1].steps[1].name",
            "stages[1].steps[1].timeoutMinutes",
            "tags.bad key",
        ]
    );
    assert!(errors[2].message.contains("plaintext tokens are refused"));
}

#[test]
fn limits_on_counts_are_enforced() {
    let mut value = resolved_sample();
    value["stages"] = json!([]);
    assert_eq!(
        fields(&validate(&spec(value.clone())).unwrap_err()),
        ["stages"]
    );
    let step = json!({"plugin": {"name": "x", "version": "*"}});
    let steps: Vec<_> = (0..21)
        .map(|i| {
            let mut s = step.clone();
            s["name"] = json!(format!("s{i}"));
            s
        })
        .collect();
    value["stages"] = json!([{"name": "Big", "steps": steps}]);
    assert_eq!(
        fields(&validate(&spec(value)).unwrap_err()),
        ["stages[0].steps"]
    );
    let s3 = json!({"type": "s3", "bucket": "Bad_Bucket", "key": ""});
    let mut value = resolved_sample();
    value["source"] = s3;
    assert_eq!(
        fields(&validate(&spec(value)).unwrap_err()),
        ["source.bucket", "source.key"]
    );
}

#[test]
fn unknown_fields_are_refused() {
    let mut value = sample();
    value["stages"][0]["steps"][0]["timeout"] = json!(5);
    let error = serde_json::from_value::<PipelineSpec>(value).unwrap_err();
    assert!(error.to_string().contains("unknown field `timeout`"));
}

fn catalog() -> Vec<CatalogEntry> {
    [
        "node-build@2.0.1@build",
        "security-scan@0.9.0@security",
        "manual-approval@1.0.0@approval",
        "cfn-deploy@1.1.0@deploy",
    ]
    .iter()
    .map(|text| {
        let parts: Vec<&str> = text.split('@').collect();
        let spec: PluginSpec = serde_json::from_value(json!({
            "name": parts[0], "version": parts[1], "category": parts[2],
            "pluginType": "CodeBuildStep", "image": "alpine:3", "commands": ["true"]
        }))
        .unwrap();
        CatalogEntry {
            org: "acme".into(),
            spec,
        }
    })
    .collect()
}

#[test]
fn steps_are_pinned_in_order_or_every_unresolved_one_is_named() {
    let pipeline = spec(sample());
    let references = plugin_references(&pipeline);
    let outcome = resolve_batch(&references, "acme", &catalog());
    let (pinned, resolved) = pin_steps(&pipeline, &outcome).unwrap();
    let summary: Vec<String> = pinned
        .iter()
        .map(|p| {
            format!(
                "{}/{}={}@{} ({})",
                p.stage, p.step, p.plugin, p.version, p.category
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "Build/node-build=node-build@2.0.1 (build)",
            "Build/Scan=security-scan@0.9.0 (security)",
            "Prod/manual-approval=manual-approval@1.0.0 (approval)",
            "Prod/cfn-deploy=cfn-deploy@1.1.0 (deploy)",
        ]
    );
    assert_eq!((resolved[3].stage_index, resolved[3].step_index), (1, 1));

    let mut value = sample();
    value["stages"][1]["steps"][1]["plugin"] = json!({"name": "cfn-deploy", "version": "^9"});
    value["stages"][0]["steps"][0]["plugin"] = json!({"name": "node", "version": "*"});
    let broken = spec(value);
    let outcome = resolve_batch(&plugin_references(&broken), "acme", &catalog());
    let unresolved = pin_steps(&broken, &outcome).unwrap_err();
    let named: Vec<(&str, &str)> = unresolved
        .iter()
        .map(|u| (u.field.as_str(), u.code))
        .collect();
    assert_eq!(
        named,
        [
            ("stages[0].steps[0].plugin", "plugin_not_found"),
            ("stages[1].steps[1].plugin", "plugin_not_found"),
        ]
    );
}

#[test]
fn unknown_source_fields_are_refused() {
    let mut value = sample();
    value["source"]["brnach"] = json!("main");
    let error = serde_json::from_value::<PipelineSpec>(value).unwrap_err();
    assert!(
        error.to_string().contains("unknown field `brnach`"),
        "{error}"
    );
}

#[test]
fn a_pin_stored_before_publishers_were_recorded_still_loads() {
    let stored = json!({"stage": "Prod", "step": "approve", "plugin": "manual-approval",
        "requested": "^1", "version": "1.0.0", "category": "approval"});
    let pin: PinnedStep = serde_json::from_value(stored.clone()).unwrap();
    assert_eq!(pin.publisher_org, None);
    assert_eq!(serde_json::to_value(&pin).unwrap(), stored);
}

#[test]
fn an_s3_source_cannot_be_a_platform_bucket() {
    let mut value = resolved_sample();
    value["source"] =
        json!({"type": "s3", "bucket": "pb-globex-api-artifactbucket-1a2b3c", "key": "x.zip"});
    let errors = validate(&spec(value.clone())).unwrap_err();
    assert_eq!(fields(&errors), ["source.bucket"]);
    value["source"]["bucket"] = json!("acme-exports");
    assert_eq!(validate(&spec(value)), Ok(()));
}

#[test]
fn pipeline_variables_are_checked_against_codepipelines_limits() {
    let mut value = sample();
    value["pipelineVariables"] = json!([
        {"name": "RELEASE", "defaultValue": "x".repeat(MAX_VARIABLE_VALUE_CHARS)},
        {"name": "RELEASE"},
        {"name": "has space"},
        {"name": "LONG", "defaultValue": "x".repeat(MAX_VARIABLE_VALUE_CHARS + 1), "description": "d".repeat(201)}
    ]);
    let resolved = resolve_templates(&spec(value)).unwrap();
    let errors = validate(&resolved).unwrap_err();
    assert_eq!(
        fields(&errors),
        [
            "pipelineVariables[1].name",
            "pipelineVariables[2].name",
            "pipelineVariables[3].defaultValue",
            "pipelineVariables[3].description"
        ]
    );
    let mut many = sample();
    many["pipelineVariables"] = json!((0..=MAX_PIPELINE_VARIABLES)
        .map(|i| json!({"name": format!("V{i}")}))
        .collect::<Vec<_>>());
    let errors = validate(&resolve_templates(&spec(many)).unwrap()).unwrap_err();
    assert_eq!(fields(&errors), ["pipelineVariables"]);
}

#[test]
fn separation_of_duties_is_asked_for_by_metadata_true_and_only_true_or_false_is_accepted() {
    let mut value = sample();
    assert!(!separation_of_duties(&spec(value.clone())));
    value["metadata"][SEPARATION_OF_DUTIES_KEY] = json!("true");
    let asked = resolve_templates(&spec(value.clone())).unwrap();
    assert!(separation_of_duties(&asked));
    assert_eq!(validate(&asked), Ok(()));
    value["metadata"][SEPARATION_OF_DUTIES_KEY] = json!("yes");
    let errors = validate(&resolve_templates(&spec(value)).unwrap()).unwrap_err();
    assert_eq!(fields(&errors), ["metadata.separationOfDuties"]);
}
