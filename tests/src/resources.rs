//! The resource definitions template.yaml deploys, as data, and their creation in the local
//! emulator. A test compares these definitions with template.yaml so the two cannot drift.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use pb_domain::event::DETAIL_TYPES;
use serde_json::{json, Value};

use pb_aws::deployer::DeployTargets;
use pb_aws::keys::{HistoryIndex, HISTORY_INDEXES, HISTORY_START};
use pb_aws::{AwsError, Clients};

/// Which attributes an index copies from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexProjection {
    All,
    KeysOnly,
}

impl IndexProjection {
    /// The `ProjectionType` CloudFormation and DynamoDB name it by.
    pub fn as_str(self) -> &'static str {
        match self {
            IndexProjection::All => "ALL",
            IndexProjection::KeysOnly => "KEYS_ONLY",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDef {
    pub name: &'static str,
    pub hash: &'static str,
    pub range: &'static str,
    pub projection: IndexProjection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDef {
    pub logical_id: &'static str,
    pub hash: &'static str,
    pub range: &'static str,
    /// Every key attribute is a string.
    pub indexes: &'static [IndexDef],
    pub ttl_attribute: Option<&'static str>,
}

impl TableDef {
    /// Every key attribute of the table and its indexes, once each, in order of first use.
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut attributes = vec![self.hash, self.range];
        for attribute in self.indexes.iter().flat_map(|i| [i.hash, i.range]) {
            if !attributes.contains(&attribute) {
                attributes.push(attribute);
            }
        }
        attributes
    }
}

const fn history_index(index: HistoryIndex) -> IndexDef {
    IndexDef {
        name: index.name,
        hash: index.hash,
        range: HISTORY_START,
        projection: IndexProjection::KeysOnly,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDef {
    pub logical_id: &'static str,
    pub visibility_timeout_seconds: Option<i32>,
    pub retention_seconds: i32,
    pub max_receive_count: Option<i32>,
}

pub const CATALOG_TABLE: TableDef = TableDef {
    logical_id: "CatalogTable",
    hash: "PK",
    range: "SK",
    indexes: &[
        IndexDef {
            name: "GSI1",
            hash: "GSI1PK",
            range: "GSI1SK",
            projection: IndexProjection::All,
        },
        IndexDef {
            name: "GSI2",
            hash: "GSI2PK",
            range: "GSI2SK",
            projection: IndexProjection::All,
        },
    ],
    // Token records expire with their tokens; other catalog items carry no numeric expiresAt.
    ttl_attribute: Some("expiresAt"),
};

pub const EXECUTIONS_TABLE: TableDef = TableDef {
    logical_id: "ExecutionsTable",
    hash: "PK",
    range: "SK",
    indexes: &[
        history_index(HISTORY_INDEXES[0]),
        history_index(HISTORY_INDEXES[1]),
        history_index(HISTORY_INDEXES[2]),
        history_index(HISTORY_INDEXES[3]),
    ],
    ttl_attribute: Some("expiresAt"),
};

pub const INGEST_FUNCTION_TIMEOUT_SECONDS: i32 = 30;
pub const INGEST_BATCHING_WINDOW_SECONDS: i32 = 5;
pub const INGEST_BATCH_SIZE: i32 = 10;

pub const INGEST_QUEUE: QueueDef = QueueDef {
    logical_id: "IngestQueue",
    // Lambda's rule: at least six times the function timeout plus the batching window.
    visibility_timeout_seconds: Some(
        6 * INGEST_FUNCTION_TIMEOUT_SECONDS + INGEST_BATCHING_WINDOW_SECONDS,
    ),
    retention_seconds: 4 * 86_400,
    max_receive_count: Some(5),
};

pub const INGEST_DEAD_LETTER_QUEUE: QueueDef = QueueDef {
    logical_id: "IngestDeadLetterQueue",
    visibility_timeout_seconds: None,
    retention_seconds: 14 * 86_400,
    max_receive_count: None,
};

pub const NOTIFY_FUNCTION_TIMEOUT_SECONDS: i32 = 120;
pub const NOTIFY_BATCH_SIZE: i32 = 5;

pub const NOTIFY_QUEUE: QueueDef = QueueDef {
    logical_id: "NotifyQueue",
    // Lambda's rule: at least six times the function timeout (no batching window).
    visibility_timeout_seconds: Some(6 * NOTIFY_FUNCTION_TIMEOUT_SECONDS),
    retention_seconds: 4 * 86_400,
    max_receive_count: Some(5),
};

pub const NOTIFY_DEAD_LETTER_QUEUE: QueueDef = QueueDef {
    logical_id: "NotifyDeadLetterQueue",
    visibility_timeout_seconds: None,
    retention_seconds: 14 * 86_400,
    max_receive_count: None,
};

/// The platform bus events someone may subscribe to, for the rule that routes them to the
/// notify queue: exactly these source and detail-type pairs.
pub fn notify_event_pattern() -> Value {
    use pb_domain::drift::{DRIFT_DETECTED, DRIFT_EVENT_SOURCE};
    use pb_domain::notify::{
        APPROVAL_WAITING, DEPLOYMENT_COMPLETED, DEPLOYMENT_SOURCE, EXECUTION_COMPLETED,
        INGEST_SOURCE,
    };
    let pair = |source: &str, detail_type: &str| json!({ "source": [source], "detail-type": [detail_type] });
    json!({ "$or": [
        pair(INGEST_SOURCE, EXECUTION_COMPLETED),
        pair(INGEST_SOURCE, APPROVAL_WAITING),
        pair(DEPLOYMENT_SOURCE, DEPLOYMENT_COMPLETED),
        pair(DRIFT_EVENT_SOURCE, DRIFT_DETECTED),
    ] })
}

/// The rule that routes CodePipeline state changes to the ingest queue.
pub fn codepipeline_event_pattern() -> Value {
    json!({ "source": ["aws.codepipeline"], "detail-type": DETAIL_TYPES })
}

/// The stacks whose status changes reach ingest: the platform's (`pb-`), in the given region and
/// account (`arn_prefix` is `arn:{partition}:cloudformation:{region}:{account}:`).
pub fn stack_event_pattern(arn_prefix: &str) -> Value {
    json!({
        "source": ["aws.cloudformation"],
        "detail-type": ["CloudFormation Stack Status Change"],
        "resources": [{ "prefix": format!("{arn_prefix}stack/pb-") }],
    })
}

/// Where the local rule listens. Real CodePipeline events arrive on the default bus; tests give
/// each run its own bus standing in for it, so parallel tests never see each other's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceBus {
    Default,
    Dedicated,
}

/// Names and addresses of one local copy of the ingest plumbing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalStack {
    pub catalog_table: String,
    pub executions_table: String,
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    pub event_bus_name: String,
    /// The bus CodePipeline events are put on (`default` unless dedicated).
    pub source_bus_name: String,
    pub rule_name: String,
    /// The notify function's queue (platform events and retried deliveries) and its DLQ.
    pub notify_queue_url: String,
    pub notify_dead_letter_queue_url: String,
    /// What pipeline stacks are deployed with (the template's PipelineStackRole,
    /// PipelineRoleBoundary and PipelineTemplateBucket).
    pub deploy: DeployTargets,
}

/// Creates tables, queues, buses and the rule from the definitions above.
pub async fn create_local_stack(
    clients: &Clients,
    iam: &aws_sdk_iam::Client,
    prefix: &str,
    source_bus: SourceBus,
) -> Result<LocalStack, AwsError> {
    let catalog_table = format!("{prefix}-catalog");
    let executions_table = format!("{prefix}-executions");
    create_table(&clients.dynamodb, &catalog_table, &CATALOG_TABLE).await?;
    create_table(&clients.dynamodb, &executions_table, &EXECUTIONS_TABLE).await?;
    let (dead_letter_queue_url, dead_letter_arn) = create_queue(
        &clients.sqs,
        &format!("{prefix}-ingest-dlq"),
        &INGEST_DEAD_LETTER_QUEUE,
        None,
    )
    .await?;
    let (queue_url, queue_arn) = create_queue(
        &clients.sqs,
        &format!("{prefix}-ingest"),
        &INGEST_QUEUE,
        Some(&dead_letter_arn),
    )
    .await?;
    let event_bus_name = format!("{prefix}-platform");
    create_bus(&clients.eventbridge, &event_bus_name).await?;
    let source_bus_name = match source_bus {
        SourceBus::Default => "default".to_string(),
        SourceBus::Dedicated => {
            let name = format!("{prefix}-aws-events");
            create_bus(&clients.eventbridge, &name).await?;
            name
        }
    };
    let rule_name = format!("{prefix}-codepipeline-events");
    route_to_queue(
        &clients.eventbridge,
        &rule_name,
        &source_bus_name,
        &codepipeline_event_pattern(),
        &queue_arn,
    )
    .await?;
    route_to_queue(
        &clients.eventbridge,
        &format!("{prefix}-stack-events"),
        &source_bus_name,
        &stack_event_pattern(&format!(
            "arn:aws:cloudformation:{}:{}:",
            crate::emulator::REGION,
            crate::emulator::ACCOUNT_ID
        )),
        &queue_arn,
    )
    .await?;
    let (notify_queue_url, notify_dead_letter_queue_url) =
        create_notify_queues(clients, prefix, &event_bus_name).await?;
    let deploy = create_deploy_targets(clients, iam, prefix).await?;
    Ok(LocalStack {
        catalog_table,
        executions_table,
        queue_url,
        dead_letter_queue_url,
        event_bus_name,
        source_bus_name,
        rule_name,
        notify_queue_url,
        notify_dead_letter_queue_url,
        deploy,
    })
}

/// The notify queue, its DLQ, and the platform bus rule feeding it; their URLs.
async fn create_notify_queues(
    clients: &Clients,
    prefix: &str,
    event_bus_name: &str,
) -> Result<(String, String), AwsError> {
    let (dead_letter_url, dead_letter_arn) = create_queue(
        &clients.sqs,
        &format!("{prefix}-notify-dlq"),
        &NOTIFY_DEAD_LETTER_QUEUE,
        None,
    )
    .await?;
    let (queue_url, queue_arn) = create_queue(
        &clients.sqs,
        &format!("{prefix}-notify"),
        &NOTIFY_QUEUE,
        Some(&dead_letter_arn),
    )
    .await?;
    route_to_queue(
        &clients.eventbridge,
        &format!("{prefix}-notify-events"),
        event_bus_name,
        &notify_event_pattern(),
        &queue_arn,
    )
    .await?;
    Ok((queue_url, dead_letter_url))
}

/// The stack role CloudFormation assumes for pipeline stacks, the boundary their roles carry and
/// the bucket large templates go through. Their permissions are template.yaml's to prove (moto
/// checks no IAM); here they only need to exist.
async fn create_deploy_targets(
    clients: &Clients,
    iam: &aws_sdk_iam::Client,
    prefix: &str,
) -> Result<DeployTargets, AwsError> {
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    });
    let role = iam
        .create_role()
        .role_name(format!("{prefix}-pipeline-stacks"))
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .map_err(|e| AwsError::classify("CreateRole", e))?;
    let boundary_document = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pb-*/*"}],
    });
    let boundary = iam
        .create_policy()
        .policy_name(format!("{prefix}-pipeline-boundary"))
        .policy_document(boundary_document.to_string())
        .send()
        .await
        .map_err(|e| AwsError::classify("CreatePolicy", e))?;
    let template_bucket = format!("{prefix}-templates").to_ascii_lowercase();
    clients
        .s3
        .create_bucket()
        .bucket(&template_bucket)
        .send()
        .await
        .map_err(|e| AwsError::classify("CreateBucket", e))?;
    Ok(DeployTargets {
        stack_role_arn: role.role().map(|r| r.arn().to_string()).unwrap_or_default(),
        boundary_arn: boundary
            .policy()
            .and_then(|p| p.arn())
            .unwrap_or_default()
            .to_string(),
        template_bucket,
    })
}

fn invalid(operation: &'static str, e: impl std::fmt::Display) -> AwsError {
    AwsError::local(operation, "InvalidRequest", e)
}

fn key_schema(hash: &str, range: &str) -> Result<Vec<KeySchemaElement>, AwsError> {
    [(hash, KeyType::Hash), (range, KeyType::Range)]
        .into_iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| invalid("CreateTable", e))
        })
        .collect()
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    def: &TableDef,
) -> Result<(), AwsError> {
    let definitions = def
        .key_attributes()
        .into_iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(a)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| invalid("CreateTable", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let indexes = def
        .indexes
        .iter()
        .map(|i| {
            GlobalSecondaryIndex::builder()
                .index_name(i.name)
                .set_key_schema(Some(key_schema(i.hash, i.range)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(i.projection.as_str()))
                        .build(),
                )
                .build()
                .map_err(|e| invalid("CreateTable", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(key_schema(def.hash, def.range)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .send()
        .await
        .map_err(|e| AwsError::classify("CreateTable", e))?;
    if let Some(attribute) = def.ttl_attribute {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(attribute)
            .enabled(true)
            .build()
            .map_err(|e| invalid("UpdateTimeToLive", e))?;
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| AwsError::classify("UpdateTimeToLive", e))?;
    }
    Ok(())
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    def: &QueueDef,
    dead_letter_arn: Option<&str>,
) -> Result<(String, String), AwsError> {
    let mut request = client
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            def.retention_seconds.to_string(),
        )
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "true");
    if let Some(visibility) = def.visibility_timeout_seconds {
        request = request.attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility.to_string(),
        );
    }
    if let (Some(arn), Some(max)) = (dead_letter_arn, def.max_receive_count) {
        let policy = json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max });
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let url = request
        .send()
        .await
        .map_err(|e| AwsError::classify("CreateQueue", e))?
        .queue_url
        .unwrap_or_default();
    let arn = queue_arn(client, &url).await?;
    Ok((url, arn))
}

/// A queue's ARN, which EventBridge targets name it by.
pub async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String, AwsError> {
    Ok(client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| AwsError::classify("GetQueueAttributes", e))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default())
}

async fn create_bus(client: &aws_sdk_eventbridge::Client, name: &str) -> Result<(), AwsError> {
    client
        .create_event_bus()
        .name(name)
        .send()
        .await
        .map_err(|e| AwsError::classify("CreateEventBus", e))?;
    Ok(())
}

/// A rule on `bus_name` that sends every event matching `pattern` to the queue `queue_arn`.
pub async fn route_to_queue(
    client: &aws_sdk_eventbridge::Client,
    rule_name: &str,
    bus_name: &str,
    pattern: &Value,
    queue_arn: &str,
) -> Result<(), AwsError> {
    client
        .put_rule()
        .name(rule_name)
        .event_bus_name(bus_name)
        .event_pattern(pattern.to_string())
        .state(aws_sdk_eventbridge::types::RuleState::Enabled)
        .send()
        .await
        .map_err(|e| AwsError::classify("PutRule", e))?;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(queue_arn)
        .build()
        .map_err(|e| invalid("PutTargets", e))?;
    client
        .put_targets()
        .rule(rule_name)
        .event_bus_name(bus_name)
        .targets(target)
        .send()
        .await
        .map_err(|e| AwsError::classify("PutTargets", e))?;
    Ok(())
}
