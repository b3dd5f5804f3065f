//! Fixtures shared by the compliance tests: a catalog like `samples/plugins`, a compliant
//! pipeline resolved against it the way the API resolves one, and rule helpers.

mod cost;
mod evaluation;
mod exemptions;
mod operators;
mod projection;
mod reference;
mod samples;
mod validation;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::*;
use crate::pipeline::{pin_steps, plugin_references, PipelineSpec, ResolvedStep};
use crate::plugin::{resolve_batch, CatalogEntry, PluginSpec};

const ORG: &str = "acme";
pub(crate) const DIGEST: &str =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn now() -> DateTime<Utc> {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

fn plugin(value: Value) -> PluginSpec {
    serde_json::from_value(value).unwrap()
}

/// A public build plugin; `overrides` replace fields.
fn build_plugin(overrides: Value) -> Value {
    let mut spec = json!({
        "name": "node-build", "version": "2.0.1",
        "description": "Installs dependencies and builds the package.",
        "keywords": ["node", "build"], "category": "build", "pluginType": "CodeBuildStep",
        "computeType": "MEDIUM", "image": format!("public.ecr.aws/docker/library/node:20@{DIGEST}"),
        "commands": ["npm ci", "npm run build"], "env": {"NODE_ENV": "production"},
        "timeoutMinutes": 30, "primaryOutputDirectory": "dist", "accessModifier": "public",
    });
    merge(&mut spec, overrides);
    spec
}

fn merge(target: &mut Value, overrides: Value) {
    if let (Some(target), Value::Object(overrides)) = (target.as_object_mut(), overrides) {
        for (key, value) in overrides {
            target.insert(key, value);
        }
    }
}

/// The catalog the fixtures resolve against (the shapes of `samples/plugins`).
fn catalog() -> Vec<CatalogEntry> {
    let specs = [
        build_plugin(json!({})),
        build_plugin(json!({"name": "unit-tests", "version": "1.0.0", "category": "test"})),
        build_plugin(json!({
            "name": "security-scan", "version": "0.9.0", "category": "security",
            "computeType": "SMALL", "timeoutMinutes": 20,
            "image": "public.ecr.aws/aquasecurity/trivy:0.57.1",
        })),
        build_plugin(json!({
            "name": "cfn-deploy", "version": "1.1.0", "category": "deploy",
            "pluginType": "ShellStep", "computeType": "SMALL", "timeoutMinutes": 60,
            "image": "public.ecr.aws/aws-cli/aws-cli:2.22.4", "accessModifier": "private",
        })),
        json!({
            "name": "manual-approval", "version": "1.0.0", "category": "approval",
            "pluginType": "ManualApprovalStep", "timeoutMinutes": 480,
            "accessModifier": "public",
        }),
    ];
    specs
        .into_iter()
        .map(|spec| CatalogEntry {
            org: ORG.into(),
            spec: plugin(spec),
        })
        .collect()
}

/// A pipeline every sample rule accepts.
fn compliant_pipeline() -> Value {
    json!({
        "name": "payments-service", "project": "payments",
        "description": "Builds and ships the payments API.",
        "source": {"type": "github", "repo": "acme/payments", "branch": "main",
                   "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/abc"},
        "stages": [
            {"name": "Build", "steps": [
                {"plugin": {"name": "node-build", "version": "2.0.1"}},
                {"plugin": {"name": "unit-tests", "version": "=1.0.0"}},
                {"name": "Scan", "plugin": {"name": "security-scan", "version": "^0.9"}}
            ]},
            {"name": "Staging", "environment": "staging", "steps": [
                {"plugin": {"name": "cfn-deploy", "version": "~1.1"}}
            ]},
            {"name": "Production", "environment": "production", "steps": [
                {"name": "Approve", "plugin": {"name": "manual-approval", "version": "1.0.0"}},
                {"plugin": {"name": "cfn-deploy", "version": "1.1.0"}, "timeoutMinutes": 90}
            ]}
        ],
        "tags": {"cost-center": "cc-42", "team": "payments"},
        "metadata": {"owner": "payments-team"}
    })
}

/// Resolves a pipeline definition against [`catalog`] and pins its steps, as the API does.
fn resolve(definition: &Value) -> (PipelineSpec, Vec<ResolvedStep>) {
    let spec: PipelineSpec = serde_json::from_value(definition.clone()).unwrap();
    let outcome = resolve_batch(&plugin_references(&spec), ORG, &catalog());
    let (_, resolved) = pin_steps(&spec, &outcome).unwrap();
    (spec, resolved)
}

fn pipeline_attrs(definition: &Value) -> Value {
    let (spec, resolved) = resolve(definition);
    pipeline_attributes(&spec, &resolved)
}

fn rule_spec(value: Value) -> RuleSpec {
    serde_json::from_value(value).unwrap()
}

/// A one-condition pipeline rule.
fn single(field: &str, operator: &str, value: Option<Value>) -> RuleSpec {
    let mut rule = json!({
        "name": "test rule", "target": "pipeline", "severity": "error",
        "field": field, "operator": operator,
    });
    if let Some(value) = value {
        rule["value"] = value;
    }
    rule_spec(rule)
}

fn compile(spec: &RuleSpec) -> Rule {
    Rule::compile("r1", spec).unwrap_or_else(|e| panic!("{spec:?}: {e:?}"))
}

fn evaluate_one(rule: &Rule, attributes: &Value) -> Evaluation {
    evaluate(
        std::slice::from_ref(rule),
        rule.target,
        "entity-1",
        attributes,
        now(),
        &[],
    )
}
