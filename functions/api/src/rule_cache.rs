//! Compiled stored rules, kept by the warm container: a rule's regexes compile once per rule
//! version, not on every pipeline or plugin write that evaluates it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use pb_aws::rules::RuleRecord;
use pb_domain::compliance::{CompileBudget, Rule};

/// Compiled regex bytes kept at most (eight orgs' worth of rules at the 4 MB per-target cap, an
/// eighth of a 256 MB function); the oldest entries make room for new ones.
const CAPACITY_BYTES: usize = 32 * 1024 * 1024;
/// Rules kept at most (rules without regexes weigh nothing by bytes).
const CAPACITY_RULES: usize = 4096;

/// (org, rule id, version): a replaced rule is a new version, so it never hits an old entry.
type Key = (String, String, u64);

#[derive(Default)]
pub struct RuleCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    rules: HashMap<Key, Rule>,
    oldest_first: VecDeque<Key>,
    bytes: usize,
    compilations: u64,
}

impl RuleCache {
    /// The stored rule compiled: from the cache, or compiled now against `budget` and kept if it
    /// compiled (an unevaluable rule is retried, since a budget that ran out may not next time).
    pub fn compiled(&self, record: &RuleRecord, budget: &mut CompileBudget) -> Rule {
        let key = (record.org.clone(), record.id.clone(), record.version);
        if let Some(rule) = self.lock().rules.get(&key) {
            return rule.clone();
        }
        let rule = Rule::from_stored(&record.id, &record.spec, budget);
        let mut entries = self.lock();
        entries.compilations += 1;
        if rule.is_evaluable() {
            entries.insert(key, rule.clone());
        }
        rule
    }

    /// How many stored rules this container has compiled so far.
    pub fn compilations(&self) -> u64 {
        self.lock().compilations
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // A panic elsewhere cannot leave an entry half-written: inserts complete or not at all.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Entries {
    fn insert(&mut self, key: Key, rule: Rule) {
        while !self.oldest_first.is_empty()
            && (self.rules.len() >= CAPACITY_RULES
                || self.bytes + rule.compiled_bytes() > CAPACITY_BYTES)
        {
            if let Some(evicted) = self.oldest_first.pop_front() {
                if let Some(old) = self.rules.remove(&evicted) {
                    self.bytes -= old.compiled_bytes();
                }
            }
        }
        self.bytes += rule.compiled_bytes();
        // Two requests may compile the same rule at once; the second replaces the first.
        match self.rules.insert(key.clone(), rule) {
            Some(replaced) => self.bytes -= replaced.compiled_bytes(),
            None => self.oldest_first.push_back(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(id: &str, version: u64, spec: serde_json::Value) -> RuleRecord {
        RuleRecord {
            org: "acme".into(),
            id: id.into(),
            version,
            spec: serde_json::from_value(spec).unwrap(),
            created_at: String::new(),
            created_by: String::new(),
            updated_at: String::new(),
            updated_by: String::new(),
        }
    }

    fn cap(id: usize) -> RuleRecord {
        let spec = json!({"name": "cap", "target": "pipeline", "severity": "error",
                          "field": "stageCount", "operator": "lte", "value": 3});
        record(&format!("rule-{id}"), 1, spec)
    }

    #[test]
    fn a_rule_compiles_once_per_version() {
        let cache = RuleCache::default();
        let mut budget = CompileBudget::per_request();
        cache.compiled(&cap(1), &mut budget);
        cache.compiled(&cap(1), &mut budget);
        assert_eq!(cache.compilations(), 1);
        cache.compiled(
            &RuleRecord {
                version: 2,
                ..cap(1)
            },
            &mut budget,
        );
        assert_eq!(cache.compilations(), 2);
    }

    #[test]
    fn the_oldest_rule_makes_room_past_the_capacity() {
        let cache = RuleCache::default();
        let mut budget = CompileBudget::per_request();
        for id in 0..=CAPACITY_RULES {
            cache.compiled(&cap(id), &mut budget);
        }
        assert_eq!(cache.lock().rules.len(), CAPACITY_RULES);
        let compiled = cache.compilations();
        cache.compiled(&cap(CAPACITY_RULES), &mut budget);
        assert_eq!(cache.compilations(), compiled);
        cache.compiled(&cap(0), &mut budget);
        assert_eq!(cache.compilations(), compiled + 1);
    }

    #[test]
    fn compiled_bytes_stay_under_the_capacity() {
        let cache = RuleCache::default();
        let heavy = |id: usize| {
            let spec = json!({"name": "heavy", "target": "plugin", "severity": "warning",
                              "field": "image", "operator": "regex", "value": "[a-zA-Z0-9]{400}"});
            record(&format!("rule-{id}"), 1, spec)
        };
        let mut kept = 0;
        for id in 0..10_000 {
            let rule = cache.compiled(&heavy(id), &mut CompileBudget::per_request());
            kept += rule.compiled_bytes();
            if kept > CAPACITY_BYTES {
                break;
            }
        }
        assert!(
            kept > CAPACITY_BYTES,
            "the heavy rules compiled to {kept} bytes in all"
        );
        let entries = cache.lock();
        assert!(entries.bytes <= CAPACITY_BYTES && entries.bytes > CAPACITY_BYTES / 2);
        let counted: usize = entries.rules.values().map(Rule::compiled_bytes).sum();
        assert_eq!(counted, entries.bytes);
    }
}
