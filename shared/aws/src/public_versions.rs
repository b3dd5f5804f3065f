//! A warm-container cache of the public versions of plugin names, for lookups.
//!
//! Only public versions are kept, keyed by name alone: which public versions other orgs may use
//! is decided by the name's owner and each version's access modifier, never by who asks, so one
//! org's answer is every org's answer. An org's own versions (private ones included) are never
//! stored here; lookups read them from the org's partition every time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::plugins::PluginRecord;

/// Most names kept at once: names come from callers' requests, so the cache must not grow with
/// them. When it is full of fresh entries, new names are read every time until some expire.
pub const MAX_CACHED_NAMES: usize = 512;

/// Where the cache reads the time; tests move it instead of sleeping.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// A name's public versions, and when they stop being fresh.
type Entry = (Arc<[PluginRecord]>, Instant);

pub struct PublicVersionCache {
    ttl: Duration,
    now: Clock,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for PublicVersionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicVersionCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl PublicVersionCache {
    /// A zero `ttl` keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        Self::with_clock(ttl, Arc::new(Instant::now))
    }

    pub fn with_clock(ttl: Duration, now: Clock) -> Self {
        PublicVersionCache {
            ttl,
            now,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The public versions of `name` read less than the TTL ago.
    pub fn fresh(&self, name: &str) -> Option<Arc<[PluginRecord]>> {
        let now = (self.now)();
        let entries = self.entries.lock().ok()?;
        let (versions, expires) = entries.get(name)?;
        (now < *expires).then(|| versions.clone())
    }

    pub fn keep(&self, name: &str, versions: Arc<[PluginRecord]>) {
        if self.ttl.is_zero() {
            return;
        }
        let now = (self.now)();
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_CACHED_NAMES && !entries.contains_key(name) {
            entries.retain(|_, (_, expires)| now < *expires);
            if entries.len() >= MAX_CACHED_NAMES {
                return;
            }
        }
        entries.insert(name.to_string(), (versions, now + self.ttl));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manual_clock() -> (Clock, Arc<Mutex<Instant>>) {
        let time = Arc::new(Mutex::new(Instant::now()));
        let read = time.clone();
        (Arc::new(move || *read.lock().unwrap()), time)
    }

    fn advance(time: &Mutex<Instant>, by: Duration) {
        *time.lock().unwrap() += by;
    }

    #[test]
    fn an_entry_is_fresh_until_its_ttl_has_passed() {
        let (clock, time) = manual_clock();
        let cache = PublicVersionCache::with_clock(Duration::from_secs(30), clock);
        cache.keep("build", Arc::from(Vec::new()));
        advance(&time, Duration::from_secs(29));
        assert!(cache.fresh("build").is_some());
        advance(&time, Duration::from_secs(1));
        assert!(cache.fresh("build").is_none());
        assert!(cache.fresh("lint").is_none());
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = PublicVersionCache::new(Duration::ZERO);
        cache.keep("build", Arc::from(Vec::new()));
        assert!(cache.fresh("build").is_none());
    }

    #[test]
    fn a_full_cache_makes_room_only_from_expired_entries() {
        let (clock, time) = manual_clock();
        let cache = PublicVersionCache::with_clock(Duration::from_secs(30), clock);
        for index in 0..MAX_CACHED_NAMES {
            cache.keep(&format!("name-{index}"), Arc::from(Vec::new()));
        }
        cache.keep("one-too-many", Arc::from(Vec::new()));
        assert!(cache.fresh("one-too-many").is_none());
        assert!(cache.fresh("name-0").is_some());

        advance(&time, Duration::from_secs(30));
        cache.keep("one-too-many", Arc::from(Vec::new()));
        assert!(cache.fresh("one-too-many").is_some());
        assert_eq!(cache.entries.lock().unwrap().len(), 1);
    }
}
