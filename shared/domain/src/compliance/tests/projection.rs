//! The attribute projection: exact values, and agreement with the documented lists.

use serde_json::{json, Value};

use super::*;

fn kind_of(value: &Value) -> Kind {
    match value {
        Value::String(_) => Kind::String,
        Value::Number(_) => Kind::Number,
        Value::Bool(_) => Kind::Boolean,
        Value::Array(items) if items.iter().all(Value::is_string) => Kind::StringList,
        Value::Object(map) if map.values().all(Value::is_string) => Kind::StringMap,
        other => panic!("not an attribute value: {other}"),
    }
}

/// The projection computes exactly the documented attributes, each of its documented type.
fn assert_matches_documentation(attributes: &Value, documented: &[AttributeDoc]) {
    let computed: Vec<(&str, Kind)> = attributes
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| (name.as_str(), kind_of(value)))
        .collect();
    let mut listed: Vec<(&str, Kind)> = documented.iter().map(|a| (a.name, a.kind)).collect();
    listed.sort_by_key(|(name, _)| *name);
    // serde_json's map is ordered by key.
    assert_eq!(computed, listed);
}

#[test]
fn a_pipeline_projects_every_documented_attribute() {
    let attributes = pipeline_attrs(&compliant_pipeline());
    assert_matches_documentation(&attributes, PIPELINE_ATTRIBUTES);
    assert_eq!(
        attributes,
        json!({
            "name": "payments-service",
            "project": "payments",
            "description": "Builds and ships the payments API.",
            "accessModifier": "private",
            "sourceType": "github",
            "sourceBranch": "main",
            "stageCount": 3,
            "stepCount": 6,
            "stageNames": ["Build", "Staging", "Production"],
            "stepNames": ["node-build", "unit-tests", "Scan", "cfn-deploy", "Approve", "cfn-deploy"],
            "environments": ["staging", "production"],
            "hasProductionStage": true,
            "approvalBeforeProduction": true,
            "pluginNames": ["node-build", "unit-tests", "security-scan", "cfn-deploy", "manual-approval"],
            "pluginRefs": ["node-build@2.0.1", "unit-tests@=1.0.0", "security-scan@^0.9",
                           "cfn-deploy@~1.1", "manual-approval@1.0.0", "cfn-deploy@1.1.0"],
            "pluginVersions": ["node-build@2.0.1", "unit-tests@1.0.0", "security-scan@0.9.0",
                               "cfn-deploy@1.1.0", "manual-approval@1.0.0", "cfn-deploy@1.1.0"],
            "pluginCategories": ["build", "test", "security", "deploy", "approval"],
            "stepsUsingLatest": [],
            "unpinnedStepCount": 2,
            "hasApprovalStep": true,
            "hasTestStep": true,
            "hasSecurityScan": true,
            "maxStepTimeoutMinutes": 90,
            "images": [
                format!("public.ecr.aws/docker/library/node:20@{DIGEST}"),
                "public.ecr.aws/aquasecurity/trivy:0.57.1",
                "public.ecr.aws/aws-cli/aws-cli:2.22.4"
            ],
            "computeTypes": ["MEDIUM", "SMALL"],
            "tags": {"cost-center": "cc-42", "team": "payments"},
            "metadata": {"owner": "payments-team"},
        })
    );
}

#[test]
fn a_plugin_projects_every_documented_attribute() {
    let spec = plugin(build_plugin(json!({
        "installCommands": ["npm i -g pnpm"],
        "secrets": [{"name": "npm/token"}],
        "requiredMetadata": ["team"],
    })));
    let attributes = plugin_attributes(&spec);
    assert_matches_documentation(&attributes, PLUGIN_ATTRIBUTES);
    assert_eq!(attributes["imageTag"], "20");
    assert_eq!(attributes["imageIsDigestPinned"], true);
    assert_eq!(attributes["pluginType"], "CodeBuildStep");
    assert_eq!(attributes["computeType"], "MEDIUM");
    assert_eq!(attributes["failureBehavior"], "fail");
    assert_eq!(attributes["secrets"], json!(["npm/token"]));
    assert_eq!(attributes["timeoutMinutes"], 30);
    assert_eq!(attributes["active"], true);
}

#[test]
fn image_tags_and_digests_are_read_from_the_reference() {
    let cases = [
        ("node:20", Some("20"), false),
        ("registry.local:5000/team/app:1.4", Some("1.4"), false),
        (
            &*format!("registry.local:5000/app:1.4@{DIGEST}"),
            Some("1.4"),
            true,
        ),
        (&*format!("app@{DIGEST}"), None, true),
        ("app:latest", Some("latest"), false),
    ];
    for (image, tag, pinned) in cases {
        let attributes = plugin_attributes(&plugin(build_plugin(json!({"image": image}))));
        assert_eq!(
            attributes.get("imageTag").and_then(Value::as_str),
            tag,
            "{image}"
        );
        assert_eq!(attributes["imageIsDigestPinned"], pinned, "{image}");
    }
    let approval = catalog()
        .into_iter()
        .find(|e| e.spec.name == "manual-approval")
        .unwrap();
    let attributes = plugin_attributes(&approval.spec);
    assert_eq!(attributes.get("image"), None);
    assert_eq!(attributes.get("imageTag"), None);
    assert_eq!(attributes["imageIsDigestPinned"], false);
}

/// A step as (plugin, position).
type Step<'a> = (&'a str, Option<&'a str>);

/// `stages` as (name, environment, steps).
fn staged(stages: &[(&str, Option<&str>, &[Step])]) -> Value {
    let mut definition = compliant_pipeline();
    definition["stages"] = stages
        .iter()
        .map(|(name, environment, steps)| {
            let steps: Vec<Value> = steps
                .iter()
                .map(|(plugin, position)| {
                    let version = catalog()
                        .into_iter()
                        .find(|e| e.spec.name == *plugin)
                        .unwrap()
                        .spec
                        .version;
                    let mut step = json!({"plugin": {"name": plugin, "version": version}});
                    if let Some(position) = position {
                        step["position"] = json!(position);
                    }
                    step
                })
                .collect();
            let mut stage = json!({"name": name, "steps": steps});
            if let Some(environment) = environment {
                stage["environment"] = json!(environment);
            }
            stage
        })
        .collect();
    definition
}

#[test]
fn approval_before_production_follows_stage_and_step_order() {
    const APPROVE: (&str, Option<&str>) = ("manual-approval", None);
    const DEPLOY: (&str, Option<&str>) = ("cfn-deploy", None);
    let cases: Vec<(&str, Value, bool, bool)> = vec![
        (
            "approval in an earlier stage",
            staged(&[
                ("Gate", None, &[APPROVE]),
                ("Prod", Some("production"), &[DEPLOY]),
            ]),
            true,
            true,
        ),
        (
            "approval first in the production stage",
            staged(&[("Prod", Some("prod"), &[APPROVE, DEPLOY])]),
            true,
            true,
        ),
        (
            "approval after the deploy",
            staged(&[("Prod", Some("production"), &[DEPLOY, APPROVE])]),
            true,
            false,
        ),
        (
            "approval first but positioned post",
            staged(&[(
                "Prod",
                Some("production"),
                &[("manual-approval", Some("post")), DEPLOY],
            )]),
            true,
            false,
        ),
        (
            "approval in a later stage only",
            staged(&[
                ("Prod", Some("PRODUCTION"), &[DEPLOY]),
                ("Gate", None, &[APPROVE]),
            ]),
            true,
            false,
        ),
        (
            "no production stage",
            staged(&[("Dev", Some("dev"), &[DEPLOY])]),
            false,
            true,
        ),
        (
            "second production stage after an approved one",
            staged(&[
                ("Prod1", Some("production"), &[APPROVE, DEPLOY]),
                ("Prod2", Some("production"), &[DEPLOY]),
            ]),
            true,
            true,
        ),
    ];
    for (case, definition, has_production, approved) in cases {
        let attributes = pipeline_attrs(&definition);
        assert_eq!(attributes["hasProductionStage"], has_production, "{case}");
        assert_eq!(attributes["approvalBeforeProduction"], approved, "{case}");
    }
}

#[test]
fn ranges_count_as_pinned_only_when_exact() {
    let mut definition = staged(&[("Build", None, &[("node-build", None); 7])]);
    let ranges = ["2.0.1", "=2.0.1", " 2.0.1 ", "^2", "~2.0", "latest", "*"];
    for (j, range) in ranges.iter().enumerate() {
        definition["stages"][0]["steps"][j]["plugin"]["version"] = json!(range);
        definition["stages"][0]["steps"][j]["name"] = json!(format!("s{j}"));
    }
    let attributes = pipeline_attrs(&definition);
    assert_eq!(attributes["unpinnedStepCount"], 4);
    assert_eq!(
        attributes["stepsUsingLatest"],
        json!(["Build/s5", "Build/s6"])
    );
}

#[test]
fn step_timeouts_override_plugin_timeouts_and_approvals_are_left_out() {
    let mut definition = staged(&[(
        "Build",
        None,
        &[
            ("node-build", None),
            ("security-scan", None),
            ("manual-approval", None),
        ],
    )]);
    let attributes = pipeline_attrs(&definition);
    // node-build 30, security-scan 20; the approval's 480 does not count.
    assert_eq!(attributes["maxStepTimeoutMinutes"], 30);
    definition["stages"][0]["steps"][1]["timeoutMinutes"] = json!(45);
    assert_eq!(pipeline_attrs(&definition)["maxStepTimeoutMinutes"], 45);
    definition["stages"][0]["steps"][0]["timeoutMinutes"] = json!(10);
    definition["stages"][0]["steps"][1]["timeoutMinutes"] = json!(10);
    assert_eq!(pipeline_attrs(&definition)["maxStepTimeoutMinutes"], 10);
    let only_approval = staged(&[("Gate", None, &[("manual-approval", None)])]);
    assert_eq!(pipeline_attrs(&only_approval)["maxStepTimeoutMinutes"], 0);
}

#[test]
fn s3_sources_have_no_branch() {
    let mut definition = compliant_pipeline();
    definition["source"] = json!({"type": "s3", "bucket": "acme-src", "key": "app.zip"});
    let attributes = pipeline_attrs(&definition);
    assert_eq!(attributes["sourceType"], "s3");
    assert_eq!(attributes.get("sourceBranch"), None);
}
