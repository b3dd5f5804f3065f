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
