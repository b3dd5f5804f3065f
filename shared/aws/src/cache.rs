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
}
