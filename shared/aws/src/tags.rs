//! Resolves a CodePipeline ARN to the platform's opaque pipeline id (its `PIPELINE_EVENT_ID` tag).

use std::time::Duration;

use crate::cache::LookupCache;
use crate::AwsError;

pub const PIPELINE_ID_TAG: &str = "PIPELINE_EVENT_ID";

/// A warm-container cache in front of `ListTagsForResource`: positives live for the configured TTL
/// (so re-tags are seen), negatives for a shorter one (so a newly tagged pipeline is picked up soon).
#[derive(Debug)]
pub struct TagResolver {
    client: aws_sdk_codepipeline::Client,
    cache: LookupCache,
}

impl TagResolver {
    pub fn new(
        client: aws_sdk_codepipeline::Client,
        ttl: Duration,
        negative_ttl: Duration,
    ) -> Self {
        TagResolver {
            client,
            cache: LookupCache::new(ttl, negative_ttl),
        }
    }

    /// The pipeline id, or `None` when the pipeline is not the platform's (untagged or gone).
    pub async fn pipeline_id(&self, pipeline_arn: &str) -> Result<Option<String>, AwsError> {
        if let Some(cached) = self.cache.get(pipeline_arn) {
            return Ok(cached);
        }
        let resolved = self.fetch(pipeline_arn).await?;
        self.cache.put(pipeline_arn, resolved.clone());
        Ok(resolved)
    }

    async fn fetch(&self, pipeline_arn: &str) -> Result<Option<String>, AwsError> {
        let mut tags = Vec::new();
        let mut next_token = None;
        loop {
            let page = match self
                .client
                .list_tags_for_resource()
                .resource_arn(pipeline_arn)
                .set_next_token(next_token)
                .send()
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    let error = AwsError::classify("ListTagsForResource", e);
                    // A deleted pipeline can still have events in flight; it is no longer ours.
                    if error.code() == Some("ResourceNotFoundException") {
                        return Ok(None);
                    }
                    return Err(error);
                }
            };
            tags.extend(page.tags.unwrap_or_default());
            next_token = page.next_token;
            if next_token.is_none() {
                break;
            }
        }
        Ok(tags
            .into_iter()
            .find(|t| t.key == PIPELINE_ID_TAG)
            .map(|t| t.value)
            .filter(|v| !v.is_empty()))
    }
}
