//! The JWT signing key set, kept in one Secrets Manager secret so keys rotate without downtime.
//!
//! The secret is a flat JSON object: `"active"` names the key id new tokens are signed with; every
//! other member is a key id and its secret. CloudFormation's `GenerateSecretString` produces
//! exactly this shape (`{"active":"k1","k1":"<random>"}`). To rotate: add a new key, point
//! `active` at it, and remove the old one once the tokens it signed have expired.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pb_aws::secrets::Secrets;
use pb_aws::AwsError;
use serde_json::Value;
use thiserror::Error;

/// HS256 keys shorter than the hash output weaken it (RFC 7518 §3.2).
pub const MIN_KEY_BYTES: usize = 32;

/// A key id unknown to the cached set triggers at most one reload per this interval, so a flood
/// of tokens with made-up key ids cannot turn into a flood of Secrets Manager calls.
const UNKNOWN_KID_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Error)]
pub enum KeySetError {
    #[error("the signing key set is not a JSON object of key ids")]
    NotAnObject,
    #[error("the signing key set has no \"active\" key id")]
    NoActiveKey,
    #[error("the active key id {0:?} has no key in the set")]
    ActiveKeyMissing(String),
    #[error("key {0:?} is shorter than {MIN_KEY_BYTES} bytes")]
    KeyTooShort(String),
    #[error("could not read the signing key set: {0}")]
    Aws(#[from] AwsError),
}

/// The keys; never printed (Debug shows only the ids).
#[derive(Clone, PartialEq, Eq)]
pub struct KeySet {
    active: String,
    keys: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("active", &self.active)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeySet {
    pub fn parse(secret: &str) -> Result<Self, KeySetError> {
        let Ok(Value::Object(members)) = serde_json::from_str::<Value>(secret) else {
            return Err(KeySetError::NotAnObject);
        };
        let mut active = None;
        let mut keys = BTreeMap::new();
        for (name, value) in members {
            let Value::String(text) = value else {
                return Err(KeySetError::NotAnObject);
            };
            if name == "active" {
                active = Some(text);
            } else if text.len() < MIN_KEY_BYTES {
                return Err(KeySetError::KeyTooShort(name));
            } else {
                keys.insert(name, text.into_bytes());
            }
        }
        let active = active.ok_or(KeySetError::NoActiveKey)?;
        if !keys.contains_key(&active) {
            return Err(KeySetError::ActiveKeyMissing(active));
        }
        Ok(KeySet { active, keys })
    }

    pub fn active_kid(&self) -> &str {
        &self.active
    }

    pub fn active_key(&self) -> &[u8] {
        self.keys
            .get(&self.active)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn key(&self, kid: &str) -> Option<&[u8]> {
        self.keys.get(kid).map(Vec::as_slice)
    }
}

/// The key set as read from Secrets Manager, cached for the warm container's lifetime with a TTL.
/// One read at a time: requests that need a reload while one is under way wait for it and share
/// its answer. When a read fails, the cached set keeps verifying for a grace period past its TTL
/// (a Secrets Manager outage would otherwise lock every caller out), and the read is retried at
/// most every `RETRY_AFTER_FAILURE`.
#[derive(Debug)]
pub struct KeyStore {
    secrets: Secrets,
    secret_id: String,
    ttl: Duration,
    grace: Duration,
    cached: Mutex<Option<Cached>>,
    /// Held by the one reader; remembers the last read that failed, so callers who waited for
    /// it share its answer instead of each asking again.
    reloading: tokio::sync::Mutex<Option<FailedRead>>,
}

#[derive(Debug)]
struct FailedRead {
    at: Instant,
    error: KeySetError,
}

/// After a failed read the stale set is served without asking again for this long, so an outage
/// costs one failing call per interval rather than one per request.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct Cached {
    keys: KeySet,
    read_at: Instant,
    failed_at: Option<Instant>,
}

impl Cached {
    fn last_attempt(&self) -> Instant {
        self.failed_at
            .map_or(self.read_at, |failed| failed.max(self.read_at))
    }
}

impl KeyStore {
    pub fn new(
        secrets: Secrets,
        secret_id: impl Into<String>,
        ttl: Duration,
        grace: Duration,
    ) -> Self {
        KeyStore {
            secrets,
            secret_id: secret_id.into(),
            ttl,
            grace,
            cached: Mutex::new(None),
            reloading: tokio::sync::Mutex::new(None),
        }
    }

    /// The current key set, from the cache while it is fresh.
    pub async fn current(&self) -> Result<KeySet, KeySetError> {
        match self.usable(self.ttl) {
            Some(keys) => Ok(keys),
            None => self.reload().await,
        }
    }

    /// The key set that should know `kid`: a token signed with a key added since the last read
    /// reloads the set (rate-limited) instead of failing until the TTL runs out.
    pub async fn for_kid(&self, kid: &str) -> Result<KeySet, KeySetError> {
        let keys = self.current().await?;
        if keys.key(kid).is_some() {
            return Ok(keys);
        }
        match self.usable(UNKNOWN_KID_RELOAD_INTERVAL) {
            Some(keys) => Ok(keys),
            None => self.reload().await,
        }
    }

    fn lock_cached(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        self.cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached set if it needs no read now: read less than `fresh_for` ago, or kept through
    /// a failed read too recent to retry.
    fn usable(&self, fresh_for: Duration) -> Option<KeySet> {
        let cached = self.lock_cached();
        let cached = cached.as_ref()?;
        let fresh = cached.read_at.elapsed() < fresh_for;
        let backing_off = cached
            .failed_at
            .is_some_and(|failed| failed.elapsed() < RETRY_AFTER_FAILURE)
            && self.within_grace(cached);
        (fresh || backing_off).then(|| cached.keys.clone())
    }

    fn within_grace(&self, cached: &Cached) -> bool {
        cached.read_at.elapsed() < self.ttl.saturating_add(self.grace)
    }

    async fn reload(&self) -> Result<KeySet, KeySetError> {
        let asked_at = Instant::now();
        let mut last_failure = self.reloading.lock().await;
        if let Some(keys) = self.answered_since(asked_at) {
            return Ok(keys);
        }
        if let Some(failed) = last_failure.as_ref().filter(|f| f.at >= asked_at) {
            return Err(failed.error.clone());
        }
        let result = self.read().await;
        *last_failure = result.as_ref().err().map(|error| FailedRead {
            at: Instant::now(),
            error: error.clone(),
        });
        match result {
            Ok(keys) => {
                *self.lock_cached() = Some(Cached {
                    keys: keys.clone(),
                    read_at: Instant::now(),
                    failed_at: None,
                });
                Ok(keys)
            }
            Err(KeySetError::Aws(error)) => self.stale_through(error),
            Err(other) => Err(other),
        }
    }

    /// The answer of a read that started after `asked_at` (while this caller waited its turn).
    fn answered_since(&self, asked_at: Instant) -> Option<KeySet> {
        let cached = self.lock_cached();
        cached
            .as_ref()
            .filter(|c| c.last_attempt() >= asked_at && self.within_grace(c))
            .map(|c| c.keys.clone())
    }

    async fn read(&self) -> Result<KeySet, KeySetError> {
        KeySet::parse(&self.secrets.read(&self.secret_id).await?)
    }

    /// The cached set, while within its grace period, in place of a failed read.
    fn stale_through(&self, error: AwsError) -> Result<KeySet, KeySetError> {
        let mut cached = self.lock_cached();
        match cached.as_mut() {
            Some(stale) if self.within_grace(stale) => {
                stale.failed_at = Some(Instant::now());
                tracing::warn!(error = %error, "reading the key set failed; verifying with the cached set");
                Ok(stale.keys.clone())
            }
            _ => Err(KeySetError::Aws(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn parses_the_generated_shape_and_rotated_sets() {
        let generated = KeySet::parse(&format!(r#"{{"active":"k1","k1":"{KEY_A}"}}"#)).unwrap();
        assert_eq!(generated.active_kid(), "k1");
        assert_eq!(generated.active_key(), KEY_A.as_bytes());
        let rotated = KeySet::parse(&format!(
            r#"{{"active":"k2","k1":"{KEY_A}","k2":"{KEY_B}"}}"#
        ))
        .unwrap();
        assert_eq!(rotated.active_key(), KEY_B.as_bytes());
        assert_eq!(rotated.key("k1"), Some(KEY_A.as_bytes()));
        assert_eq!(rotated.key("k3"), None);
    }

    #[test]
    fn rejects_broken_sets_without_echoing_keys() {
        assert!(matches!(KeySet::parse("[]"), Err(KeySetError::NotAnObject)));
        assert!(matches!(
            KeySet::parse(&format!(r#"{{"k1":"{KEY_A}"}}"#)),
            Err(KeySetError::NoActiveKey)
        ));
        assert!(matches!(
            KeySet::parse(&format!(r#"{{"active":"k2","k1":"{KEY_A}"}}"#)),
            Err(KeySetError::ActiveKeyMissing(kid)) if kid == "k2"
        ));
        let short = KeySet::parse(r#"{"active":"k1","k1":"short-secret"}"#).unwrap_err();
        assert!(!short.to_string().contains("short-secret"));
        let keys = KeySet::parse(&format!(r#"{{"active":"k1","k1":"{KEY_A}"}}"#)).unwrap();
        assert!(!format!("{keys:?}").contains(KEY_A));
    }
}
