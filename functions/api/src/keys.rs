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

#[derive(Debug, Error)]
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
#[derive(Debug)]
pub struct KeyStore {
    secrets: Secrets,
    secret_id: String,
    ttl: Duration,
    cached: Mutex<Option<(Instant, KeySet)>>,
}

impl KeyStore {
    pub fn new(secrets: Secrets, secret_id: impl Into<String>, ttl: Duration) -> Self {
        KeyStore {
            secrets,
            secret_id: secret_id.into(),
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The current key set, from the cache while it is fresh.
    pub async fn current(&self) -> Result<KeySet, KeySetError> {
        match self.cached_younger_than(self.ttl) {
            Some(keys) => Ok(keys),
            None => self.reload().await,
        }
    }

    /// The key set that should know `kid`: a token signed with a key added since the last read
    /// reloads the set (rate-limited) instead of failing until the TTL runs out.
    pub async fn for_kid(&self, kid: &str) -> Result<KeySet, KeySetError> {
        let keys = self.current().await?;
        if keys.key(kid).is_some()
            || self
                .cached_younger_than(UNKNOWN_KID_RELOAD_INTERVAL)
                .is_some()
        {
            return Ok(keys);
        }
        self.reload().await
    }

    fn cached_younger_than(&self, age: Duration) -> Option<KeySet> {
        let cached = self
            .cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cached
            .as_ref()
            .filter(|(read_at, _)| read_at.elapsed() < age)
            .map(|(_, keys)| keys.clone())
    }

    async fn reload(&self) -> Result<KeySet, KeySetError> {
        let keys = KeySet::parse(&self.secrets.read(&self.secret_id).await?)?;
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *cached = Some((Instant::now(), keys.clone()));
        Ok(keys)
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
