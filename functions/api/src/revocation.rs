//! Whether a token was revoked, asked of its record through a short warm-container cache: a
//! revocation takes effect in other containers within the cache's lifetime, in this one at once.

use std::time::Duration;

use pb_aws::cache::LookupCache;
use pb_aws::tokens::TokenStore;
use pb_aws::AwsError;

/// Revocation is final, so a "revoked" answer can be kept far longer than a "not revoked" one.
const REVOKED_ANSWER_TTL: Duration = Duration::from_secs(86_400);

#[derive(Debug)]
pub struct Revocations {
    store: TokenStore,
    /// `Some(())` for a revoked token, `None` for one that was not (yet) revoked.
    answers: LookupCache<()>,
}

impl Revocations {
    pub fn new(store: TokenStore, not_revoked_ttl: Duration) -> Self {
        Revocations {
            store,
            answers: LookupCache::new(REVOKED_ANSWER_TTL, not_revoked_ttl),
        }
    }

    pub async fn is_revoked(&self, org: &str, jti: &str) -> Result<bool, AwsError> {
        let key = cache_key(org, jti);
        if let Some(answer) = self.answers.get(&key) {
            return Ok(answer.is_some());
        }
        let revoked = self.store.is_revoked(org, jti).await?;
        // A revocation this container recorded while the read was in flight stands.
        Ok(self.answers.settle(&key, revoked.then_some(())).is_some())
    }

    /// Records a revocation this container just made, so it applies here without waiting.
    pub fn revoked(&self, org: &str, jti: &str) {
        self.answers.put(&cache_key(org, jti), Some(()));
    }
}

fn cache_key(org: &str, jti: &str) -> String {
    format!("{org}/{jti}")
}
