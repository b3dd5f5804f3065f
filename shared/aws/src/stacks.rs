//! The stack lister: every platform stack of a region, from `DescribeStacks` without a stack name
//! (all pages), reduced to what the drift audit compares.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::config::retry::RetryConfig;
use aws_sdk_cloudformation::config::Region;
use aws_sdk_cloudformation::types::Stack;
use pb_domain::drift::DeployedStack;

use crate::tags::PIPELINE_ID_TAG;
use crate::AwsError;

/// The stack-level tag that makes a stack the platform's. Only its presence counts.
pub const PLATFORM_TAG: &str = "pipeline-builder";
pub const ORG_TAG: &str = "pipeline-builder:org";
/// Set on the EC2/EKS workload stacks (`ec2`, `eks`), which are infrastructure, not pipelines.
pub const COMPONENT_TAG: &str = "pipeline-builder:component";

/// DescribeStacks has a low request rate limit; a nightly scan can afford to wait for it.
const MAX_ATTEMPTS: u32 = 6;

/// One region's platform stacks and what reading them cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionStacks {
    pub region: String,
    pub stacks: Vec<DeployedStack>,
    /// Every stack DescribeStacks returned, the platform's or not.
    pub described: usize,
    pub pages: usize,
}

#[derive(Debug, Clone)]
pub struct StackLister {
    /// The base client's configuration: endpoint, credentials, interceptors. Only the region
    /// changes per scan.
    config: aws_sdk_cloudformation::Config,
}

impl StackLister {
    pub fn new(client: &aws_sdk_cloudformation::Client) -> Self {
        StackLister {
            config: client.config().clone(),
        }
    }

    fn client_for(&self, region: &str) -> aws_sdk_cloudformation::Client {
        let config = self
            .config
            .to_builder()
            .region(Region::new(region.to_string()))
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .build();
        aws_sdk_cloudformation::Client::from_conf(config)
    }

    /// Every root stack of `region` with the stack-level platform tag. Any failed page fails the
    /// region: a partial list would turn the unread stacks into missing-stack findings.
    pub async fn platform_stacks(&self, region: &str) -> Result<RegionStacks, AwsError> {
        let mut pages = self
            .client_for(region)
            .describe_stacks()
            .into_paginator()
            .send();
        let mut listed = RegionStacks {
            region: region.to_string(),
            stacks: Vec::new(),
            described: 0,
            pages: 0,
        };
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::classify("DescribeStacks", e))?;
            listed.pages += 1;
            let stacks = page.stacks.unwrap_or_default();
            listed.described += stacks.len();
            listed
                .stacks
                .extend(stacks.iter().filter_map(|s| platform_stack(s, region)));
        }
        Ok(listed)
    }
}

/// The outputs of the stack `stack_name` in the client's region, by output key.
pub async fn stack_outputs(
    client: &aws_sdk_cloudformation::Client,
    stack_name: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    let output = client
        .describe_stacks()
        .stack_name(stack_name)
        .send()
        .await
        .map_err(|e| AwsError::classify("DescribeStacks", e))?;
    Ok(output
        .stacks()
        .iter()
        .flat_map(|stack| stack.outputs())
        .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
        .collect())
}

/// The platform's view of a stack, or `None` when it is not a platform root stack. Nested
/// stacks inherit their root's tags, pipeline id included; the registry names the root.
pub fn platform_stack(stack: &Stack, region: &str) -> Option<DeployedStack> {
    if stack.parent_id.is_some() || stack.root_id.is_some() {
        return None;
    }
    let tag = |key: &str| {
        stack
            .tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .map(|t| t.value().unwrap_or_default().to_string())
    };
    tag(PLATFORM_TAG)?;
    let non_empty = |key: &str| tag(key).filter(|v| !v.is_empty());
    Some(DeployedStack {
        name: stack.stack_name()?.to_string(),
        region: region.to_string(),
        status: stack
            .stack_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        pipeline_id: non_empty(PIPELINE_ID_TAG),
        org_id: non_empty(ORG_TAG),
        component: non_empty(COMPONENT_TAG),
    })
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudformation::types::{StackStatus, Tag};

    use super::*;

    fn tag(key: &str, value: &str) -> Tag {
        Tag::builder().key(key).value(value).build()
    }

    fn described(
        name: &str,
        status: StackStatus,
        tags: Vec<Tag>,
    ) -> aws_sdk_cloudformation::types::builders::StackBuilder {
        Stack::builder()
            .stack_name(name)
            .stack_status(status)
            .set_tags(Some(tags))
    }

    #[test]
    fn reads_the_pipeline_id_org_and_status_of_a_platform_stack() {
        let stack = described(
            "pay",
            StackStatus::RollbackComplete,
            vec![
                tag(PLATFORM_TAG, "true"),
                tag(PIPELINE_ID_TAG, "pl-1"),
                tag(ORG_TAG, "acme"),
            ],
        )
        .build();
        assert_eq!(
            platform_stack(&stack, "eu-west-1"),
            Some(DeployedStack {
                name: "pay".into(),
                region: "eu-west-1".into(),
                status: "ROLLBACK_COMPLETE".into(),
                pipeline_id: Some("pl-1".into()),
                org_id: Some("acme".into()),
                component: None,
            })
        );
    }

    #[test]
    fn skips_untagged_and_nested_stacks() {
        let untagged = described(
            "other",
            StackStatus::CreateComplete,
            vec![tag(PIPELINE_ID_TAG, "pl-1")],
        )
        .build();
        assert_eq!(platform_stack(&untagged, "us-east-1"), None);
        let nested = described(
            "pay-Nested-1ABC",
            StackStatus::CreateComplete,
            vec![tag(PLATFORM_TAG, "true"), tag(PIPELINE_ID_TAG, "pl-1")],
        )
        .parent_id("arn:aws:cloudformation:us-east-1:123456789012:stack/pay/1")
        .root_id("arn:aws:cloudformation:us-east-1:123456789012:stack/pay/1")
        .build();
        assert_eq!(platform_stack(&nested, "us-east-1"), None);
    }

    #[test]
    fn empty_tag_values_count_as_absent_but_the_platform_tag_needs_no_value() {
        let stack = described(
            "eks-network",
            StackStatus::UpdateComplete,
            vec![
                tag(PLATFORM_TAG, ""),
                tag(PIPELINE_ID_TAG, ""),
                tag(COMPONENT_TAG, "eks"),
            ],
        )
        .build();
        let seen = platform_stack(&stack, "us-east-1").unwrap();
        assert_eq!(seen.pipeline_id, None);
        assert_eq!(seen.component.as_deref(), Some("eks"));
    }
}
