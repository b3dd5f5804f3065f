//! What the stored pipeline definition says about an event: which plugin version an action's
//! step ran (its pinning), and whether a stage deploys to production (its `environment`, among
//! the org's production environments). Definitions and settings are loaded once per cache
//! lifetime in a warm container.

use std::sync::Arc;
use std::time::Duration;

use pb_aws::cache::LookupCache;
use pb_aws::dora_settings::DoraSettingsStore;
use pb_aws::pipelines::PipelineStore;
use pb_aws::AwsError;
use pb_domain::dora::ProductionEnvironments;
use pb_domain::event::{ExecutionEvent, Scope};
use pb_domain::execution::{attribute, PluginRef};
use pb_domain::pipeline::PinnedStep;

/// What attribution found for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    /// A pipeline- or stage-level event: there is no step to attribute.
    NotAnAction,
    /// The pipeline has no stored definition (deployed outside the API, or deleted).
    NoDefinition,
    /// `None` for an action that is no step of the definition (the source action).
    Step(Option<PluginRef>),
}

impl Attribution {
    pub fn plugin(&self) -> Option<&PluginRef> {
        match self {
            Attribution::Step(plugin) => plugin.as_ref(),
            Attribution::NotAnAction | Attribution::NoDefinition => None,
        }
    }
}

/// What ingest needs of a stored definition.
struct Definition {
    pinned: Box<[PinnedStep]>,
    /// `(stage, environment)` in stage order.
    environments: Box<[(String, Option<String>)]>,
}

pub struct StepPlugins {
    store: PipelineStore,
    settings: DoraSettingsStore,
    /// Keyed by `{org}/{pipelineId}`; a definition edited in the API is seen within the TTL.
    cache: LookupCache<Arc<Definition>>,
    /// Keyed by org; changed settings apply to events ingested after the TTL.
    production: LookupCache<ProductionEnvironments>,
}

impl StepPlugins {
    pub fn new(
        store: PipelineStore,
        settings: DoraSettingsStore,
        ttl: Duration,
        negative_ttl: Duration,
    ) -> Self {
        StepPlugins {
            store,
            settings,
            cache: LookupCache::new(ttl, negative_ttl),
            production: LookupCache::new(ttl, ttl),
        }
    }

    /// Whether a stage event is about one of the definition's production stages.
    pub async fn is_production_stage(
        &self,
        org_id: &str,
        pipeline_id: &str,
        event: &ExecutionEvent,
    ) -> Result<bool, AwsError> {
        let Scope::Stage { stage } = &event.scope else {
            return Ok(false);
        };
        let Some(definition) = self.definition(org_id, pipeline_id).await? else {
            return Ok(false);
        };
        let Some(environment) = definition
            .environments
            .iter()
            .find(|(name, _)| name == stage)
            .and_then(|(_, environment)| environment.as_deref())
        else {
            return Ok(false);
        };
        Ok(self
            .production_environments(org_id)
            .await?
            .contains(environment))
    }

    async fn production_environments(
        &self,
        org_id: &str,
    ) -> Result<ProductionEnvironments, AwsError> {
        if let Some(Some(cached)) = self.production.get(org_id) {
            return Ok(cached);
        }
        let environments = match self.settings.production_environments(org_id).await {
            Ok(environments) => environments,
            // The API validates what it stores; an item it would refuse must not hold events up.
            Err(error) if error.code() == Some("CorruptItem") => {
                tracing::warn!(org_id, error = %error, "DORA settings unreadable; using the defaults");
                ProductionEnvironments::default()
            }
            Err(error) => return Err(error),
        };
        self.production.put(org_id, Some(environments.clone()));
        Ok(environments)
    }

    /// Attributes an action event; other events cost nothing.
    pub async fn attribute(
        &self,
        org_id: &str,
        pipeline_id: &str,
        event: &ExecutionEvent,
    ) -> Result<Attribution, AwsError> {
        let Scope::Action { stage, action, .. } = &event.scope else {
            return Ok(Attribution::NotAnAction);
        };
        Ok(match self.definition(org_id, pipeline_id).await? {
            None => Attribution::NoDefinition,
            Some(definition) => Attribution::Step(attribute(&definition.pinned, stage, action)),
        })
    }

    async fn definition(
        &self,
        org_id: &str,
        pipeline_id: &str,
    ) -> Result<Option<Arc<Definition>>, AwsError> {
        let key = format!("{org_id}/{pipeline_id}");
        if let Some(cached) = self.cache.get(&key) {
            return Ok(cached);
        }
        let steps = match self.store.get(org_id, pipeline_id).await {
            Ok(record) => record.map(|record| {
                Arc::new(Definition {
                    environments: record
                        .spec
                        .stages
                        .iter()
                        .map(|stage| (stage.name.clone(), stage.environment.clone()))
                        .collect(),
                    pinned: record.pinned.into(),
                })
            }),
            // A definition this build cannot read must not hold the events up: they still
            // count, for no plugin.
            Err(error) if error.code() == Some("CorruptItem") => {
                tracing::warn!(pipeline_id, error = %error, "stored definition unreadable; no attribution");
                None
            }
            Err(error) => return Err(error),
        };
        self.cache.put(&key, steps.clone());
        Ok(steps)
    }
}
