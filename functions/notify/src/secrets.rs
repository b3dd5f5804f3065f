//! Webhook secrets, read from Secrets Manager and kept by a warm container for a few minutes:
//! one event fans out to many deliveries, and a retried delivery comes back soon. A secret is
//! never logged, and this type has no `Debug` so it cannot be printed by accident.

use std::time::Duration;

use pb_aws::cache::LookupCache;
use pb_aws::secrets::Secrets;
use pb_aws::AwsError;

pub struct SecretCache {
    secrets: Secrets,
    cache: LookupCache<String>,
}

impl SecretCache {
    pub fn new(secrets: Secrets, ttl: Duration) -> Self {
        SecretCache {
            secrets,
            cache: LookupCache::new(ttl, Duration::ZERO),
        }
    }

    /// The secret as of `version` (its subscription's `updatedAt`): a subscription replaced with
    /// a new secret is signed with that one at once, not after the cache expires.
    pub async fn read(&self, secret_id: &str, version: &str) -> Result<String, AwsError> {
        let key = format!("{secret_id}@{version}");
        if let Some(Some(secret)) = self.cache.get(&key) {
            return Ok(secret);
        }
        let secret = self.secrets.read(secret_id).await?;
        self.cache.put(&key, Some(secret.clone()));
        Ok(secret)
    }
}
