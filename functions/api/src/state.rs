//! What every handler shares: the stores, the key set and the caches, built once per container.

use std::sync::Arc;
use std::time::Duration;

use pb_aws::audit_runs::AuditRunStore;
use pb_aws::config::ApiConfig;
use pb_aws::deployer::StackDeployer;
use pb_aws::deployments::DeploymentStore;
use pb_aws::dora_settings::DoraSettingsStore;
use pb_aws::executions::ExecutionStore;
use pb_aws::history::ExecutionHistory;
use pb_aws::notifications::SubscriptionStore;
use pb_aws::pipeline_control::PipelineControl;
use pb_aws::pipelines::PipelineStore;
use pb_aws::plugins::PluginCatalog;
use pb_aws::queue::QueueSender;
use pb_aws::registry::Registry;
use pb_aws::rollups::RollupStore;
use pb_aws::rules::RuleStore;
use pb_aws::secrets::Secrets;
use pb_aws::starters::StarterStore;
use pb_aws::tokens::TokenStore;
use pb_aws::topics::TopicPublisher;
use pb_aws::Clients;

use crate::keys::KeyStore;
use crate::revocation::Revocations;
use crate::rule_cache::RuleCache;
use crate::tokens::Audience;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ApiConfig>,
    pub audit_runs: AuditRunStore,
    pub catalog: PluginCatalog,
    pub pipelines: PipelineStore,
    pub rollups: RollupStore,
    pub registry: Arc<Registry>,
    pub rules: RuleStore,
    /// Compiled compliance rules, per rule version, for the container's lifetime.
    pub rule_cache: Arc<RuleCache>,
    pub secrets: Secrets,
    pub keys: Arc<KeyStore>,
    pub audience: Arc<Audience>,
    pub token_records: TokenStore,
    pub revocations: Arc<Revocations>,
    pub deployments: DeploymentStore,
    pub deployer: StackDeployer,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub control: PipelineControl,
    pub starters: StarterStore,
    pub executions: ExecutionStore,
    pub history: ExecutionHistory,
    pub subscriptions: SubscriptionStore,
    pub dora_settings: DoraSettingsStore,
    pub topics: TopicPublisher,
    /// The notify function's queue: test deliveries go through it.
    pub deliveries: QueueSender,
}

impl AppState {
    pub fn new(clients: &Clients, config: ApiConfig) -> Self {
        let secrets = Secrets::new(clients.secretsmanager.clone());
        let keys = KeyStore::new(
            secrets.clone(),
            &config.tokens.key_set_secret_id,
            config.tokens.key_set_ttl,
            config.tokens.key_set_grace,
        );
        let token_records = TokenStore::new(clients.dynamodb.clone(), &config.catalog_table);
        AppState {
            audit_runs: AuditRunStore::new(clients.dynamodb.clone(), &config.catalog_table),
            catalog: PluginCatalog::new(clients.dynamodb.clone(), &config.catalog_table),
            pipelines: PipelineStore::new(clients.dynamodb.clone(), &config.catalog_table),
            rollups: RollupStore::new(clients.dynamodb.clone(), &config.executions_table),
            dora_settings: DoraSettingsStore::new(clients.dynamodb.clone(), &config.catalog_table),
            rules: RuleStore::new(clients.dynamodb.clone(), &config.catalog_table),
            rule_cache: Arc::new(RuleCache::default()),
            // Registry answers must be current: an entry written a moment ago decides a delete.
            registry: Arc::new(Registry::new(
                clients.dynamodb.clone(),
                &config.catalog_table,
                Duration::ZERO,
                Duration::ZERO,
            )),
            audience: Arc::new(Audience {
                issuer: config.tokens.issuer.clone(),
                audience: config.tokens.audience.clone(),
            }),
            keys: Arc::new(keys),
            revocations: Arc::new(Revocations::new(
                token_records.clone(),
                config.tokens.revocation_cache_ttl,
            )),
            token_records,
            secrets,
            deployments: DeploymentStore::new(clients.dynamodb.clone(), &config.catalog_table),
            deployer: StackDeployer::new(
                clients.cloudformation.clone(),
                clients.s3.clone(),
                config.deploy.clone(),
            ),
            cloudformation: clients.cloudformation.clone(),
            eventbridge: clients.eventbridge.clone(),
            control: PipelineControl::new(clients.codepipeline.clone()),
            starters: StarterStore::new(clients.dynamodb.clone(), &config.catalog_table),
            executions: ExecutionStore::new(clients.dynamodb.clone(), &config.executions_table),
            history: ExecutionHistory::new(clients.dynamodb.clone(), &config.executions_table),
            subscriptions: SubscriptionStore::new(clients.dynamodb.clone(), &config.catalog_table),
            topics: TopicPublisher::new(clients.sns.clone()),
            deliveries: QueueSender::new(clients.sqs.clone(), &config.notify_queue_url),
            config: Arc::new(config),
        }
    }
}
