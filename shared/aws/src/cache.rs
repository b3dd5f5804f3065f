//! A warm-container cache of lookups whose answer may be "none": positive answers live longer than
//! negative ones, so a newly tagged, registered or stored pipeline is picked up soon.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct LookupCache<V = String> {
    ttl: Duration,
    negative_ttl: Duration,
    entries: Mutex<HashMap<String, (Option<V>, Instant)>>,
}

impl<V: Clone> LookupCache<V> {
    pub fn new(ttl: Duration, negative_ttl: Duration) -> Self {
        LookupCache {
            ttl,
            negative_ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached answer, if one is still fresh.
    pub fn get(&self, key: &str) -> Option<Option<V>> {
        let entries = self.entries.lock().ok()?;
        let (value, expires) = entries.get(key)?;
        (Instant::now() < *expires).then(|| value.clone())
    }

    pub fn put(&self, key: &str, value: Option<V>) {
        let ttl = if value.is_some() {
            self.ttl
        } else {
            self.negative_ttl
        };
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key.to_string(), (value, Instant::now() + ttl));
        }
    }

    /// Caches a lookup's answer unless a fresh positive one arrived while the lookup ran (a
    /// positive answer recorded here is newer than any negative answer read from the store); the
    /// answer that stands.
    pub fn settle(&self, key: &str, looked_up: Option<V>) -> Option<V> {
        let Ok(mut entries) = self.entries.lock() else {
            return looked_up;
        };
        let now = Instant::now();
        if looked_up.is_none() {
            if let Some((Some(recorded), expires)) = entries.get(key) {
                if now < *expires {
                    return Some(recorded.clone());
                }
            }
        }
        let ttl = if looked_up.is_some() {
            self.ttl
        } else {
            self.negative_ttl
        };
        entries.insert(key.to_string(), (looked_up.clone(), now + ttl));
        looked_up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_answers_expire_on_their_own_clock() {
        let cache: LookupCache = LookupCache::new(Duration::from_secs(60), Duration::ZERO);
        cache.put("tagged", Some("pl-1".into()));
        cache.put("untagged", None);
        assert_eq!(cache.get("tagged"), Some(Some("pl-1".into())));
        assert_eq!(cache.get("untagged"), None);
        assert_eq!(cache.get("unknown"), None);
    }

    #[test]
    fn a_negative_lookup_never_replaces_a_positive_answer_recorded_meanwhile() {
        let cache: LookupCache<()> =
            LookupCache::new(Duration::from_secs(60), Duration::from_secs(60));
        cache.put("revoked-while-reading", Some(()));
        assert_eq!(cache.settle("revoked-while-reading", None), Some(()));
        assert_eq!(cache.get("revoked-while-reading"), Some(Some(())));
        assert_eq!(cache.settle("fresh", None), None);
        assert_eq!(cache.get("fresh"), Some(None));
        assert_eq!(cache.settle("fresh", Some(())), Some(()));
    }
}
