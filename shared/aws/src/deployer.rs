//! CloudFormation for the platform's pipeline stacks. Every call that changes a stack passes the
//! platform's stack role, so CloudFormation acts with that role's permissions, never the
//! caller's; every call returns at once (progress arrives later as stack status events).

use pb_domain::wire::deployments::{ChangeSetView, ResourceChange};
use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, Tag};
use pb_domain::synth::{BOUNDARY_PARAMETER, MAX_INLINE_TEMPLATE_BYTES};

use crate::AwsError;

/// A stack as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackState {
    pub stack_id: String,
    pub status: String,
    pub tags: BTreeMap<String, String>,
}

/// What to deploy: the stack, its template body and the stack's tags.
pub struct StackRequest<'a> {
    pub stack_name: &'a str,
    pub body: &'a str,
    pub template_hash: &'a str,
    pub tags: &'a BTreeMap<String, String>,
}

/// What the deployer needs from the platform's own stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployTargets {
    /// The role CloudFormation assumes for pipeline stacks.
    pub stack_role_arn: String,
    /// The permissions boundary of every role a pipeline stack creates.
    pub boundary_arn: String,
    /// Where bodies too large to send inline are uploaded.
    pub template_bucket: String,
}

#[derive(Debug, Clone)]
pub struct StackDeployer {
    cloudformation: aws_sdk_cloudformation::Client,
    s3: aws_sdk_s3::Client,
    targets: DeployTargets,
}

impl StackDeployer {
    pub fn new(
        cloudformation: aws_sdk_cloudformation::Client,
        s3: aws_sdk_s3::Client,
        targets: DeployTargets,
    ) -> Self {
        StackDeployer {
            cloudformation,
            s3,
            targets,
        }
    }

    /// The region stacks are deployed to: the client's own.
    pub fn region(&self) -> String {
        self.cloudformation
            .config()
            .region()
            .map(|r| r.as_ref().to_string())
            .unwrap_or_default()
    }

    /// The stack, or `None` when there is no stack of that name.
    pub async fn describe(&self, stack_name: &str) -> Result<Option<StackState>, AwsError> {
        let result = self
            .cloudformation
            .describe_stacks()
            .stack_name(stack_name)
            .send()
            .await
            .map_err(|e| AwsError::classify("DescribeStacks", e));
        let output = match result {
            Err(error) if is_missing_stack(&error) => return Ok(None),
            other => other?,
        };
        Ok(output.stacks().first().map(|stack| StackState {
            stack_id: stack.stack_id().unwrap_or_default().to_string(),
            status: stack
                .stack_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            tags: stack
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect(),
        }))
    }

    /// Starts creating the stack; its id.
    pub async fn create(&self, request: &StackRequest<'_>) -> Result<String, AwsError> {
        let source = self.template_source(request).await?;
        let output = self
            .cloudformation
            .create_stack()
            .stack_name(request.stack_name)
            .set_template_body(source.body)
            .set_template_url(source.url)
            .parameters(self.boundary())
            .capabilities(Capability::CapabilityIam)
            .role_arn(&self.targets.stack_role_arn)
            .set_tags(Some(tags(request.tags)))
            .send()
            .await
            .map_err(|e| AwsError::classify("CreateStack", e))?;
        Ok(output.stack_id().unwrap_or_default().to_string())
    }

    /// Starts updating the stack; `None` when CloudFormation finds nothing to change.
    pub async fn update(&self, request: &StackRequest<'_>) -> Result<Option<String>, AwsError> {
        let source = self.template_source(request).await?;
        let result = self
            .cloudformation
            .update_stack()
            .stack_name(request.stack_name)
            .set_template_body(source.body)
            .set_template_url(source.url)
            .parameters(self.boundary())
            .capabilities(Capability::CapabilityIam)
            .role_arn(&self.targets.stack_role_arn)
            .set_tags(Some(tags(request.tags)))
            .send()
            .await
            .map_err(|e| AwsError::classify("UpdateStack", e));
        match result {
            Ok(output) => Ok(Some(output.stack_id().unwrap_or_default().to_string())),
            Err(error) if is_no_update(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Starts deleting the stack.
    pub async fn delete(&self, stack_name: &str) -> Result<(), AwsError> {
        self.cloudformation
            .delete_stack()
            .stack_name(stack_name)
            .role_arn(&self.targets.stack_role_arn)
            .send()
            .await
            .map_err(|e| AwsError::classify("DeleteStack", e))?;
        Ok(())
    }

    /// A change set for review, never executed; its id. `exists` says whether the stack does
    /// (a change set of a new stack creates it in `REVIEW_IN_PROGRESS`).
    pub async fn preview(
        &self,
        request: &StackRequest<'_>,
        change_set_name: &str,
        exists: bool,
    ) -> Result<String, AwsError> {
        let source = self.template_source(request).await?;
        let kind = if exists {
            ChangeSetType::Update
        } else {
            ChangeSetType::Create
        };
        let output = self
            .cloudformation
            .create_change_set()
            .stack_name(request.stack_name)
            .change_set_name(change_set_name)
            .change_set_type(kind)
            .set_template_body(source.body)
            .set_template_url(source.url)
            .parameters(self.boundary())
            .capabilities(Capability::CapabilityIam)
            .role_arn(&self.targets.stack_role_arn)
            .set_tags(Some(tags(request.tags)))
            .send()
            .await
            .map_err(|e| AwsError::classify("CreateChangeSet", e))?;
        Ok(output.id().unwrap_or_default().to_string())
    }

    /// The change set's status and changes (the first page: up to 100 resources).
    pub async fn change_set(&self, change_set_id: &str) -> Result<ChangeSetView, AwsError> {
        let output = self
            .cloudformation
            .describe_change_set()
            .change_set_name(change_set_id)
            .send()
            .await
            .map_err(|e| AwsError::classify("DescribeChangeSet", e))?;
        let changes = output
            .changes()
            .iter()
            .filter_map(|change| change.resource_change())
            .map(|change| ResourceChange {
                action: change
                    .action()
                    .map(|a| a.as_str().to_string())
                    .unwrap_or_default(),
                logical_id: change.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: change.resource_type().unwrap_or_default().to_string(),
                replacement: change.replacement().map(|r| r.as_str().to_string()),
            })
            .collect();
        Ok(ChangeSetView {
            status: output
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            status_reason: output.status_reason().map(str::to_string),
            changes,
        })
    }

    fn boundary(&self) -> Parameter {
        Parameter::builder()
            .parameter_key(BOUNDARY_PARAMETER)
            .parameter_value(&self.targets.boundary_arn)
            .build()
    }

    /// Inline up to CloudFormation's limit on a body, else uploaded to the template bucket under
    /// the stack name and the template's hash (the same template is the same object).
    async fn template_source(
        &self,
        request: &StackRequest<'_>,
    ) -> Result<TemplateSource, AwsError> {
        if request.body.len() <= MAX_INLINE_TEMPLATE_BYTES {
            return Ok(TemplateSource {
                body: Some(request.body.to_string()),
                url: None,
            });
        }
        let key = format!(
            "templates/{}/{}.json",
            request.stack_name, request.template_hash
        );
        self.s3
            .put_object()
            .bucket(&self.targets.template_bucket)
            .key(&key)
            .content_type("application/json")
            .body(request.body.as_bytes().to_vec().into())
            .send()
            .await
            .map_err(|e| AwsError::classify("PutObject", e))?;
        Ok(TemplateSource {
            body: None,
            url: Some(self.object_url(&key)),
        })
    }

    fn object_url(&self, key: &str) -> String {
        let region = self
            .s3
            .config()
            .region()
            .map(|r| r.as_ref().to_string())
            .unwrap_or_else(|| "us-east-1".into());
        format!(
            "https://{}.s3.{region}.amazonaws.com/{key}",
            self.targets.template_bucket
        )
    }
}

/// The reason of the earliest failed resource among the stack's latest 100 events: the
/// cause, where the later failures are its consequences.
pub async fn first_failure(
    cloudformation: &aws_sdk_cloudformation::Client,
    stack_id: &str,
) -> Result<Option<String>, AwsError> {
    let output = cloudformation
        .describe_stack_events()
        .stack_name(stack_id)
        .send()
        .await
        .map_err(|e| AwsError::classify("DescribeStackEvents", e))?;
    // Newest first: the earliest failure is the last one listed.
    Ok(output
        .stack_events()
        .iter()
        .rev()
        .filter(|event| {
            event
                .resource_status()
                .is_some_and(|s| s.as_str().ends_with("_FAILED"))
        })
        .filter_map(|event| {
            let reason = event.resource_status_reason()?;
            Some(format!(
                "{} ({}): {reason}",
                event.logical_resource_id().unwrap_or_default(),
                event.resource_type().unwrap_or_default()
            ))
        })
        .next())
}

struct TemplateSource {
    body: Option<String>,
    url: Option<String>,
}

fn tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

fn is_validation_error(error: &AwsError, phrase: &str) -> bool {
    matches!(error, AwsError::Rejected { code, message, .. }
        if code == "ValidationError" && message.contains(phrase))
}

fn is_missing_stack(error: &AwsError) -> bool {
    is_validation_error(error, "does not exist")
}

/// CloudFormation's answer to an update that changes nothing.
fn is_no_update(error: &AwsError) -> bool {
    is_validation_error(error, "No updates are to be performed")
}
