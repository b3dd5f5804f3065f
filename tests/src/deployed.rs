//! The CodePipeline of a deployed pipeline stack, created in the emulator from the template's own
//! `Pipeline` resource. moto's CloudFormation creates the stack's roles, bucket, log groups and
//! rules but silently skips `AWS::CodePipeline::Pipeline` and `AWS::CodeBuild::Project` (and the
//! bucket policy), so no pipeline exists after a deployment; this creates the one CloudFormation would have, with the
//! resource's intrinsics resolved against what the stack did create, so events of it reach
//! ingest exactly as a deployed pipeline's would.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context as _};
use aws_sdk_codepipeline::types::{
    ActionCategory, ActionDeclaration, ActionOwner, ActionTypeId, ArtifactStore, ArtifactStoreType,
    ExecutionMode, GitBranchFilterCriteria, GitConfiguration, GitPushFilter, InputArtifact,
    OutputArtifact, PipelineDeclaration, PipelineTriggerDeclaration, PipelineTriggerProviderType,
    PipelineType, StageDeclaration, Tag,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::emulator::TestBed;

/// The logical id synthesis gives the pipeline.
const PIPELINE_RESOURCE: &str = "Pipeline";
/// Resource types moto's CloudFormation skips whose `Ref` is their `Name` property, which the
/// template states.
const SKIPPED_NAMED_TYPES: [&str; 1] = ["AWS::CodeBuild::Project"];

/// The pipeline created for a deployed stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedPipeline {
    pub name: String,
    pub arn: String,
}

/// Creates, in the emulator, the CodePipeline that `template` (the one deployed as `stack_name`)
/// declares, with the template's tags on it.
pub async fn create_deployed_pipeline(
    bed: &TestBed,
    stack_name: &str,
    template: &Value,
) -> anyhow::Result<DeployedPipeline> {
    let stack = DeployedStack::read(bed, stack_name, template).await?;
    let properties = template["Resources"][PIPELINE_RESOURCE]["Properties"].clone();
    anyhow::ensure!(
        properties.is_object(),
        "the template has no {PIPELINE_RESOURCE} resource with properties"
    );
    let resolved = stack
        .resolve(&properties)
        .with_context(|| format!("resolving {PIPELINE_RESOURCE} against stack {stack_name}"))?;
    let properties: PipelineProperties = serde_json::from_value(resolved)
        .with_context(|| format!("reading the {PIPELINE_RESOURCE} resource's properties"))?;
    let tags = properties
        .tags
        .iter()
        .map(|t| Tag::builder().key(&t.key).value(&t.value).build())
        .collect::<Result<Vec<_>, _>>()?;
    let declaration = properties.declaration()?;
    let name = declaration.name.clone();
    bed.clients
        .codepipeline
        .create_pipeline()
        .pipeline(declaration)
        .set_tags(Some(tags))
        .send()
        .await
        .with_context(|| format!("CreatePipeline {name}"))?;
    let arn = format!(
        "arn:{}:codepipeline:{}:{}:{name}",
        stack.partition, stack.region, stack.account
    );
    Ok(DeployedPipeline { name, arn })
}

/// What a template's intrinsics resolve against: the stack's pseudo parameters and the
/// resources CloudFormation created for it.
struct DeployedStack<'a> {
    partition: String,
    region: String,
    account: String,
    resources: &'a Map<String, Value>,
    /// Logical id → physical id, of every resource the stack holds.
    physical: BTreeMap<String, String>,
    /// Logical id → ARN, of every IAM role the stack holds.
    role_arns: BTreeMap<String, String>,
}

impl<'a> DeployedStack<'a> {
    async fn read(bed: &TestBed, stack_name: &str, template: &'a Value) -> anyhow::Result<Self> {
        let resources = template["Resources"]
            .as_object()
            .context("the template has no Resources")?;
        let stacks = bed
            .clients
            .cloudformation
            .describe_stacks()
            .stack_name(stack_name)
            .send()
            .await
            .with_context(|| format!("DescribeStacks {stack_name}"))?;
        let stack_id = stacks
            .stacks()
            .first()
            .and_then(|s| s.stack_id())
            .with_context(|| format!("stack {stack_name} has no id"))?;
        // arn:{partition}:cloudformation:{region}:{account}:stack/{name}/{uuid}
        let arn: Vec<&str> = stack_id.splitn(6, ':').collect();
        let [_, partition, _, region, account, _] = arn[..] else {
            bail!("stack id {stack_id} is not an ARN");
        };
        let described = bed
            .clients
            .cloudformation
            .describe_stack_resources()
            .stack_name(stack_name)
            .send()
            .await
            .with_context(|| format!("DescribeStackResources {stack_name}"))?;
        let mut physical = BTreeMap::new();
        let mut role_arns = BTreeMap::new();
        for resource in described.stack_resources() {
            let (Some(logical), Some(id)) = (
                resource.logical_resource_id(),
                resource.physical_resource_id(),
            ) else {
                continue;
            };
            physical.insert(logical.to_string(), id.to_string());
            if resource.resource_type() == Some("AWS::IAM::Role") {
                let role = bed
                    .iam
                    .get_role()
                    .role_name(id)
                    .send()
                    .await
                    .with_context(|| format!("GetRole {id} ({logical})"))?;
                let arn = role.role().map(|r| r.arn().to_string()).unwrap_or_default();
                role_arns.insert(logical.to_string(), arn);
            }
        }
        Ok(DeployedStack {
            partition: partition.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            resources,
            physical,
            role_arns,
        })
    }

    /// `value` with every `Ref`, `Fn::GetAtt` and `Fn::Sub` in it replaced by its value.
    fn resolve(&self, value: &Value) -> anyhow::Result<Value> {
        match value {
            Value::Array(items) => items.iter().map(|v| self.resolve(v)).collect(),
            Value::Object(object) => match intrinsic(object) {
                Some(("Ref", argument)) => Ok(Value::from(self.reference(text(argument, "Ref")?)?)),
                Some(("Fn::GetAtt", argument)) => Ok(Value::from(self.attribute(argument)?)),
                Some(("Fn::Sub", argument)) => {
                    Ok(Value::from(self.substitute(text(argument, "Fn::Sub")?)?))
                }
                Some((other, _)) => bail!("{other} is not resolved here"),
                None => self.resolve_fields(object),
            },
            other => Ok(other.clone()),
        }
    }

    fn resolve_fields(&self, object: &Map<String, Value>) -> anyhow::Result<Value> {
        object
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
            .collect::<anyhow::Result<Map<_, _>>>()
            .map(Value::Object)
    }

    fn reference(&self, name: &str) -> anyhow::Result<String> {
        if let Some(value) = self.pseudo_parameter(name) {
            return Ok(value.to_string());
        }
        if let Some(id) = self.physical.get(name) {
            return Ok(id.clone());
        }
        let resource = self.resources.get(name).with_context(|| {
            format!("Ref {name}: neither a resource of the stack nor of the template")
        })?;
        let kind = resource["Type"].as_str().unwrap_or_default();
        anyhow::ensure!(
            SKIPPED_NAMED_TYPES.contains(&kind),
            "Ref {name}: the stack holds no {kind} {name}"
        );
        resource["Properties"]["Name"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("Ref {name}: the {kind} has no literal Name"))
    }

    fn attribute(&self, argument: &Value) -> anyhow::Result<String> {
        let parts: Vec<&str> = match argument {
            Value::String(dotted) => dotted.splitn(2, '.').collect(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        match parts[..] {
            [logical, "Arn"] => self.role_arns.get(logical).cloned().with_context(|| {
                format!("Fn::GetAtt {logical}.Arn: the stack holds no IAM role {logical}")
            }),
            _ => bail!("Fn::GetAtt {argument}: only an IAM role's Arn is resolved here"),
        }
    }

    fn pseudo_parameter(&self, name: &str) -> Option<&str> {
        match name {
            "AWS::Partition" => Some(&self.partition),
            "AWS::Region" => Some(&self.region),
            "AWS::AccountId" => Some(&self.account),
            _ => None,
        }
    }

    /// `Fn::Sub`'s string form: `${Name}` is a `Ref`, `${Name.Attribute}` a `Fn::GetAtt`,
    /// `${!Text}` the literal `${Text}`.
    fn substitute(&self, template: &str) -> anyhow::Result<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .with_context(|| format!("Fn::Sub {template}: an unclosed ${{"))?;
            let name = &after[..end];
            match name.strip_prefix('!') {
                Some(literal) => out.push_str(&format!("${{{literal}}}")),
                None if name.contains('.') => out.push_str(&self.attribute(&Value::from(name))?),
                None => out.push_str(&self.reference(name)?),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The function and argument of an object that is an intrinsic function call.
fn intrinsic(object: &Map<String, Value>) -> Option<(&str, &Value)> {
    let mut entries = object.iter();
    match (entries.next(), entries.next()) {
        (Some((key, argument)), None) if key == "Ref" || key.starts_with("Fn::") => {
            Some((key.as_str(), argument))
        }
        _ => None,
    }
}

fn text<'v>(value: &'v Value, function: &str) -> anyhow::Result<&'v str> {
    value
        .as_str()
        .with_context(|| format!("{function} {value}: only the string form is resolved here"))
}

/// The `AWS::CodePipeline::Pipeline` properties synthesis writes, intrinsics resolved. Unknown
/// fields are refused: a property synthesis adds must not be dropped here unnoticed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PipelineProperties {
    name: String,
    pipeline_type: Option<String>,
    execution_mode: Option<String>,
    role_arn: String,
    artifact_store: ArtifactStoreProperty,
    stages: Vec<StageProperty>,
    #[serde(default)]
    triggers: Vec<TriggerProperty>,
    #[serde(default)]
    tags: Vec<TagProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ArtifactStoreProperty {
    r#type: String,
    location: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct StageProperty {
    name: String,
    actions: Vec<ActionProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ActionProperty {
    name: String,
    action_type_id: ActionTypeIdProperty,
    #[serde(default)]
    configuration: BTreeMap<String, Value>,
    #[serde(default)]
    input_artifacts: Vec<ArtifactProperty>,
    #[serde(default)]
    output_artifacts: Vec<ArtifactProperty>,
    run_order: Option<i32>,
    namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ActionTypeIdProperty {
    category: String,
    owner: String,
    provider: String,
    version: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ArtifactProperty {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TriggerProperty {
    provider_type: String,
    git_configuration: GitConfigurationProperty,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GitConfigurationProperty {
    source_action_name: String,
    #[serde(default)]
    push: Vec<PushProperty>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PushProperty {
    branches: BranchesProperty,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct BranchesProperty {
    includes: Option<Vec<String>>,
    excludes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TagProperty {
    key: String,
    value: String,
}

impl PipelineProperties {
    fn declaration(&self) -> anyhow::Result<PipelineDeclaration> {
        let stages = self
            .stages
            .iter()
            .map(StageProperty::declaration)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let triggers = self
            .triggers
            .iter()
            .map(TriggerProperty::declaration)
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(PipelineDeclaration::builder()
            .name(&self.name)
            .role_arn(&self.role_arn)
            .artifact_store(
                ArtifactStore::builder()
                    .r#type(ArtifactStoreType::from(self.artifact_store.r#type.as_str()))
                    .location(&self.artifact_store.location)
                    .build()?,
            )
            .set_stages(Some(stages))
            .set_pipeline_type(self.pipeline_type.as_deref().map(PipelineType::from))
            .set_execution_mode(self.execution_mode.as_deref().map(ExecutionMode::from))
            .set_triggers((!triggers.is_empty()).then_some(triggers))
            .build()?)
    }
}

impl StageProperty {
    fn declaration(&self) -> anyhow::Result<StageDeclaration> {
        let actions = self
            .actions
            .iter()
            .map(ActionProperty::declaration)
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(StageDeclaration::builder()
            .name(&self.name)
            .set_actions(Some(actions))
            .build()?)
    }
}

impl ActionProperty {
    fn declaration(&self) -> anyhow::Result<ActionDeclaration> {
        let kind = &self.action_type_id;
        let inputs = self
            .input_artifacts
            .iter()
            .map(|a| InputArtifact::builder().name(&a.name).build())
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = self
            .output_artifacts
            .iter()
            .map(|a| OutputArtifact::builder().name(&a.name).build())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ActionDeclaration::builder()
            .name(&self.name)
            .action_type_id(
                ActionTypeId::builder()
                    .category(ActionCategory::from(kind.category.as_str()))
                    .owner(ActionOwner::from(kind.owner.as_str()))
                    .provider(&kind.provider)
                    .version(&kind.version)
                    .build()?,
            )
            .set_configuration(Some(configuration(&self.configuration)))
            .set_input_artifacts(Some(inputs))
            .set_output_artifacts(Some(outputs))
            .set_run_order(self.run_order)
            .set_namespace(self.namespace.clone())
            .build()?)
    }
}

/// CodePipeline's configuration values are strings; CloudFormation also takes booleans and
/// numbers there (`PollForSourceChanges: false`) and sends them as their text.
fn configuration(values: &BTreeMap<String, Value>) -> HashMap<String, String> {
    values
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect()
}

impl TriggerProperty {
    fn declaration(&self) -> anyhow::Result<PipelineTriggerDeclaration> {
        let git = &self.git_configuration;
        let push = git
            .push
            .iter()
            .map(|p| {
                GitPushFilter::builder()
                    .branches(
                        GitBranchFilterCriteria::builder()
                            .set_includes(p.branches.includes.clone())
                            .set_excludes(p.branches.excludes.clone())
                            .build(),
                    )
                    .build()
            })
            .collect();
        Ok(PipelineTriggerDeclaration::builder()
            .provider_type(PipelineTriggerProviderType::from(
                self.provider_type.as_str(),
            ))
            .git_configuration(
                GitConfiguration::builder()
                    .source_action_name(&git.source_action_name)
                    .set_push(Some(push))
                    .build()?,
            )
            .build()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stack(resources: &Map<String, Value>) -> DeployedStack<'_> {
        DeployedStack {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account: "210987654321".into(),
            resources,
            physical: BTreeMap::from([("ArtifactBucket".into(), "bucket-1a2b".into())]),
            role_arns: BTreeMap::from([(
                "PipelineRole".into(),
                "arn:aws:iam::210987654321:role/PipelineRole-9z".into(),
            )]),
        }
    }

    fn template_resources() -> Map<String, Value> {
        json!({
            "Build": {"Type": "AWS::CodeBuild::Project", "Properties": {"Name": "pb-acme-x_build-1-1"}},
            "Pipeline": {"Type": "AWS::CodePipeline::Pipeline", "Properties": {"Name": "pb-acme-x"}},
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn intrinsics_resolve_against_the_stack_and_its_pseudo_parameters() {
        let resources = template_resources();
        let resolved = stack(&resources).resolve(&json!({
            "RoleArn": {"Fn::GetAtt": ["PipelineRole", "Arn"]},
            "Location": {"Ref": "ArtifactBucket"},
            "Actions": [{"ProjectName": {"Ref": "Build"}}],
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:codebuild:${AWS::Region}:${AWS::AccountId}:project/${Build}-${ArtifactBucket}-${!Literal}"},
            "Role": {"Fn::Sub": "${PipelineRole.Arn}"},
        }));
        assert_eq!(
            resolved.unwrap(),
            json!({
                "RoleArn": "arn:aws:iam::210987654321:role/PipelineRole-9z",
                "Location": "bucket-1a2b",
                "Actions": [{"ProjectName": "pb-acme-x_build-1-1"}],
                "Resource": "arn:aws:codebuild:eu-west-1:210987654321:project/pb-acme-x_build-1-1-bucket-1a2b-${Literal}",
                "Role": "arn:aws:iam::210987654321:role/PipelineRole-9z",
            })
        );
    }

    #[test]
    fn what_the_stack_cannot_answer_is_an_error_not_a_guess() {
        let resources = template_resources();
        let stack = stack(&resources);
        for unresolvable in [
            json!({"Ref": "Pipeline"}),
            json!({"Ref": "Missing"}),
            json!({"Fn::GetAtt": ["ArtifactBucket", "Arn"]}),
            json!({"Fn::Join": ["", ["a", "b"]]}),
            json!({"Fn::Sub": "${AWS::StackName}"}),
            json!({"Fn::Sub": "${Unclosed"}),
        ] {
            assert!(stack.resolve(&unresolvable).is_err(), "{unresolvable}");
        }
    }

    #[test]
    fn a_property_this_does_not_translate_is_refused() {
        let properties = json!({
            "Name": "pb-acme-x", "RoleArn": "arn:aws:iam::1:role/r",
            "ArtifactStore": {"Type": "S3", "Location": "b"},
            "Stages": [], "Variables": [{"Name": "v"}],
        });
        let error = serde_json::from_value::<PipelineProperties>(properties).unwrap_err();
        assert!(error.to_string().contains("Variables"), "{error}");
    }

    #[test]
    fn configuration_values_become_their_text() {
        let values = BTreeMap::from([
            ("BranchName".to_string(), json!("main")),
            ("PollForSourceChanges".to_string(), json!(false)),
        ]);
        assert_eq!(
            configuration(&values),
            HashMap::from([
                ("BranchName".to_string(), "main".to_string()),
                ("PollForSourceChanges".to_string(), "false".to_string()),
            ])
        );
    }
}
