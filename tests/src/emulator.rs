//! Per-test environments in the shared emulator: each gets its own tables, queues, buses and rule.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::resources::{create_local_stack, LocalStack, SourceBus};
use anyhow::{bail, Context as _};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_codepipeline::types::{
    ActionCategory, ActionDeclaration, ActionOwner, ActionTypeId, ArtifactStore, ArtifactStoreType,
    InputArtifact, OutputArtifact, PipelineDeclaration, StageDeclaration, Tag,
};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use pb_aws::config::IngestConfig;
use pb_aws::pipelines::{PipelineRecord, PipelineStore};
use pb_aws::registry::{Registry, RegistryEntry};
use pb_aws::tags::PIPELINE_ID_TAG;
use pb_aws::Clients;
use pb_domain::pipeline::PinnedStep;
use std::time::Duration;

pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// The emulator's endpoint, from `AWS_ENDPOINT_URL` (set by `make test` / `make dev`).
pub fn endpoint() -> anyhow::Result<String> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => Ok(url),
        _ => bail!("AWS_ENDPOINT_URL is not set: run the tests with `make test`, which starts the moto server"),
    }
}

/// SDK configuration for the emulator: fixed region and dummy credentials, nothing else special.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "emulator",
            ),
        ))
        .build()
}

/// A name prefix unique to this process and call, so parallel tests never share resources.
pub fn unique_prefix(label: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "pb-{label}-{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One isolated copy of the ingest plumbing plus the clients to drive it.
pub struct TestBed {
    pub prefix: String,
    pub sdk_config: SdkConfig,
    pub clients: Clients,
    pub iam: aws_sdk_iam::Client,
    pub stack: LocalStack,
    pub config: IngestConfig,
}

impl TestBed {
    pub async fn new(label: &str) -> anyhow::Result<Self> {
        Self::with_interceptors(label, &[], SourceBus::Dedicated).await
    }

    pub async fn with_interceptors(
        label: &str,
        interceptors: &[SharedInterceptor],
        source_bus: SourceBus,
    ) -> anyhow::Result<Self> {
        Self::named(unique_prefix(label), interceptors, source_bus).await
    }

    /// A test bed whose resources carry exactly `prefix` (the emulator must not have them yet).
    pub async fn named(
        prefix: String,
        interceptors: &[SharedInterceptor],
        source_bus: SourceBus,
    ) -> anyhow::Result<Self> {
        let sdk_config = sdk_config(&endpoint()?);
        let clients = Clients::new(&sdk_config, interceptors);
        let iam = aws_sdk_iam::Client::new(&sdk_config);
        let stack = create_local_stack(&clients, &iam, &prefix, source_bus)
            .await
            .context("creating the local stack")?;
        let config = IngestConfig {
            catalog_table: stack.catalog_table.clone(),
            executions_table: stack.executions_table.clone(),
            event_bus_name: stack.event_bus_name.clone(),
            dead_letter_queue_url: stack.dead_letter_queue_url.clone(),
            tag_cache_ttl: Duration::from_secs(300),
            negative_cache_ttl: Duration::from_secs(60),
            quarantine_unregistered: false,
            retention_days: 90,
        };
        Ok(TestBed {
            prefix,
            iam,
            sdk_config,
            clients,
            stack,
            config,
        })
    }

    /// Creates a CodePipeline (and the service role moto requires) with the given tags.
    pub async fn create_pipeline(
        &self,
        name: &str,
        pipeline_id: Option<&str>,
    ) -> anyhow::Result<String> {
        let role_arn = self.ensure_pipeline_role().await?;
        let mut tags = vec![Tag::builder()
            .key("pipeline-builder")
            .value("true")
            .build()?];
        if let Some(id) = pipeline_id {
            tags.push(Tag::builder().key(PIPELINE_ID_TAG).value(id).build()?);
        }
        self.clients
            .codepipeline
            .create_pipeline()
            .pipeline(pipeline_declaration(name, &role_arn)?)
            .set_tags(Some(tags))
            .send()
            .await
            .context("CreatePipeline")?;
        Ok(format!("arn:aws:codepipeline:{REGION}:{ACCOUNT_ID}:{name}"))
    }

    async fn ensure_pipeline_role(&self) -> anyhow::Result<String> {
        let name = format!("{}-codepipeline", self.prefix);
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"},
                "Action": "sts:AssumeRole"}]
        });
        match self.iam.get_role().role_name(&name).send().await {
            Ok(found) => Ok(found.role.map(|r| r.arn).unwrap_or_default()),
            Err(_) => {
                let created = self
                    .iam
                    .create_role()
                    .role_name(&name)
                    .assume_role_policy_document(trust.to_string())
                    .send()
                    .await
                    .context("CreateRole")?;
                Ok(created.role.map(|r| r.arn).unwrap_or_default())
            }
        }
    }

    pub async fn register(
        &self,
        pipeline_id: &str,
        org_id: &str,
        pipeline_name: &str,
    ) -> anyhow::Result<()> {
        let registry = Registry::new(
            self.clients.dynamodb.clone(),
            &self.stack.catalog_table,
            Duration::ZERO,
            Duration::ZERO,
        );
        registry
            .put(&RegistryEntry {
                pipeline_id: pipeline_id.to_string(),
                org_id: org_id.to_string(),
                pipeline_name: pipeline_name.to_string(),
                stack_name: format!("{pipeline_name}-stack"),
                region: REGION.to_string(),
                last_deployed: "2026-11-01T00:00:00Z".to_string(),
                stack_id: None,
                account: None,
                definition_version: None,
            })
            .await?;
        Ok(())
    }
}

impl TestBed {
    /// Stores, as the API would, a definition of the pipeline whose one step, Deploy/Deploy, is
    /// pinned to cfn-deploy 1.1.0 published by `org` itself.
    pub async fn store_definition(
        &self,
        pipeline_id: &str,
        pipeline_name: &str,
        org: &str,
    ) -> anyhow::Result<()> {
        self.store_definition_deploying_to(pipeline_id, pipeline_name, org, None)
            .await
    }

    /// The same definition, its Deploy stage naming `environment`.
    pub async fn store_definition_deploying_to(
        &self,
        pipeline_id: &str,
        pipeline_name: &str,
        org: &str,
        environment: Option<&str>,
    ) -> anyhow::Result<()> {
        let spec = serde_json::from_value(serde_json::json!({
            "name": pipeline_name, "project": "payments",
            "source": {"type": "codecommit", "repository": "payments", "branch": "main"},
            "stages": [{"name": "Deploy", "environment": environment, "steps": [
                {"name": "Deploy", "plugin": {"name": "cfn-deploy", "version": "^1"}}
            ]}]
        }))?;
        let record = PipelineRecord {
            id: pipeline_id.into(),
            org: org.into(),
            version: 1,
            spec,
            pinned: vec![PinnedStep {
                stage: "Deploy".into(),
                step: "Deploy".into(),
                plugin: "cfn-deploy".into(),
                requested: "^1".into(),
                version: "1.1.0".into(),
                category: "deploy".into(),
                publisher_org: Some(org.into()),
            }],
            created_at: "2026-11-01T00:00:00Z".into(),
            created_by: format!("user@{org}"),
            updated_at: "2026-11-01T00:00:00Z".into(),
            updated_by: format!("user@{org}"),
        };
        PipelineStore::new(self.clients.dynamodb.clone(), &self.stack.catalog_table)
            .create(&record)
            .await?;
        Ok(())
    }
}

fn pipeline_declaration(name: &str, role_arn: &str) -> anyhow::Result<PipelineDeclaration> {
    let action = |stage: &str,
                  category: ActionCategory,
                  provider: &str,
                  input: Option<&str>,
                  output: Option<&str>|
     -> anyhow::Result<ActionDeclaration> {
        let mut action = ActionDeclaration::builder().name(stage).action_type_id(
            ActionTypeId::builder()
                .category(category)
                .owner(ActionOwner::Aws)
                .provider(provider)
                .version("1")
                .build()?,
        );
        if let Some(input) = input {
            action = action.input_artifacts(InputArtifact::builder().name(input).build()?);
        }
        if let Some(output) = output {
            action = action.output_artifacts(OutputArtifact::builder().name(output).build()?);
        }
        Ok(action.build()?)
    };
    Ok(PipelineDeclaration::builder()
        .name(name)
        .role_arn(role_arn)
        .artifact_store(
            ArtifactStore::builder()
                .r#type(ArtifactStoreType::S3)
                .location(format!("{name}-artifacts"))
                .build()?,
        )
        .stages(
            StageDeclaration::builder()
                .name("Source")
                .actions(action(
                    "Source",
                    ActionCategory::Source,
                    "CodeCommit",
                    None,
                    Some("src"),
                )?)
                .build()?,
        )
        .stages(
            StageDeclaration::builder()
                .name("Build")
                .actions(action(
                    "Build",
                    ActionCategory::Build,
                    "CodeBuild",
                    Some("src"),
                    None,
                )?)
                .build()?,
        )
        .build()?)
}
