//! Evaluated schemas of one run, by the sha256 of their source.
//!
//! Evaluation is deterministic in the source, so one command evaluates each distinct
//! `schema.lua` once: lint fills the cache, the operations (`crate::ops`) read it for the
//! plan's desired side and evaluate there only what lint did not see (a live schema whose
//! bytes differ from the declared one). The cache is a value passed along, not a global: what
//! a run evaluated is dropped with the run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sha2::Digest;

use super::{evaluate_schema, SandboxError};
use crate::schema::PluginSchema;

type Key = [u8; 32];

/// Schemas evaluated in one run (successes and failures), shared between threads. A schema is
/// held once and handed out shared (`Arc`): lint, the plan's two sides and the diff read the
/// same copy.
#[derive(Debug, Default)]
pub struct SchemaCache {
    entries: Mutex<HashMap<Key, Result<Arc<PluginSchema>, SandboxError>>>,
    evaluations: AtomicUsize,
    /// At most this many entries (emptied when full); `None`: no bound (one run's schemas).
    max_entries: Option<usize>,
}

impl SchemaCache {
    /// An empty cache.
    pub fn new() -> SchemaCache {
        SchemaCache::default()
    }

    /// An empty cache that keeps at most `max_entries` schemas, for a long-lived owner (the
    /// local control plane's store).
    pub fn bounded(max_entries: usize) -> SchemaCache {
        SchemaCache {
            max_entries: Some(max_entries),
            ..SchemaCache::default()
        }
    }

    fn key(source: &str) -> Key {
        sha2::Sha256::digest(source.as_bytes()).into()
    }

    /// The schema `source` evaluates to: from the cache, else evaluated now and kept.
    pub fn evaluate(&self, source: &str) -> Result<Arc<PluginSchema>, SandboxError> {
        let key = Self::key(source);
        if let Some(found) = self.lookup(&key) {
            return found;
        }
        // Evaluated outside the lock: other threads go on with other schemas meanwhile (two
        // threads on the same new source both evaluate it; the result is the same).
        let result = evaluate_schema(source).map(Arc::new);
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut entries) = self.entries.lock() {
            if self.max_entries.is_some_and(|max| entries.len() >= max) {
                entries.clear();
            }
            entries.entry(key).or_insert_with(|| result.clone());
        }
        result
    }

    /// Keeps a result known from elsewhere (the lint cache across runs) for `source`.
    pub fn insert(&self, source: &str, result: Result<Arc<PluginSchema>, SandboxError>) {
        if let Ok(mut entries) = self.entries.lock() {
            if self.max_entries.is_some_and(|max| entries.len() >= max) {
                entries.clear();
            }
            entries.insert(Self::key(source), result);
        }
    }

    /// The schema of `source` when this run already evaluated it; never evaluates.
    pub fn get(&self, source: &str) -> Option<Result<Arc<PluginSchema>, SandboxError>> {
        self.lookup(&Self::key(source))
    }

    fn lookup(&self, key: &Key) -> Option<Result<Arc<PluginSchema>, SandboxError>> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    /// How many distinct sources the cache holds.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many times this cache ran the sandbox (a hit does not count).
    pub fn evaluations(&self) -> usize {
        self.evaluations.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::SchemaCache;

    #[test]
    fn each_source_is_evaluated_once() {
        let cache = SchemaCache::new();
        let source =
            r#"return { name = "x", fields = { { config = { type = "record", fields = {} } } } }"#;
        assert!(cache.get(source).is_none());
        let first = cache.evaluate(source).expect("evaluates");
        let second = cache.evaluate(source).expect("evaluates");
        assert_eq!(first, second);
        assert_eq!(cache.evaluations(), 1);
        assert_eq!(cache.len(), 1);
        assert!(cache.evaluate("return 1").is_err());
        assert!(cache.evaluate("return 1").is_err());
        assert_eq!(cache.evaluations(), 2);
        assert!(cache.get(source).is_some());
    }

    #[test]
    fn a_bounded_cache_empties_when_full() {
        let cache = SchemaCache::bounded(2);
        for i in 0..3 {
            let _ = cache.evaluate(&format!("return {i}"));
        }
        assert_eq!(cache.len(), 1);
    }
}
