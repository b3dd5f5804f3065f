//! Which plugin version an action event's step ran: the stored pipeline definition's pinning,
//! loaded once per pipeline per cache lifetime in a warm container.

use std::sync::Arc;
use std::time::Duration;

use pb_aws::cache::LookupCache;
use pb_aws::pipelines::PipelineStore;
use pb_aws::AwsError;
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

pub struct StepPlugins {
    store: PipelineStore,
    /// Keyed by `{org}/{pipelineId}`; a definition edited in the API is seen within the TTL.
    cache: LookupCache<Arc<[PinnedStep]>>,
}

impl StepPlugins {
    pub fn new(store: PipelineStore, ttl: Duration, negative_ttl: Duration) -> Self {
        StepPlugins {
            store,
            cache: LookupCache::new(ttl, negative_ttl),
        }
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
        Ok(match self.pinned_steps(org_id, pipeline_id).await? {
            None => Attribution::NoDefinition,
            Some(steps) => Attribution::Step(attribute(&steps, stage, action)),
        })
    }

    async fn pinned_steps(
        &self,
        org_id: &str,
        pipeline_id: &str,
    ) -> Result<Option<Arc<[PinnedStep]>>, AwsError> {
        let key = format!("{org_id}/{pipeline_id}");
        if let Some(cached) = self.cache.get(&key) {
            return Ok(cached);
        }
        let steps = match self.store.get(org_id, pipeline_id).await {
            Ok(record) => record.map(|record| Arc::from(record.pinned)),
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
