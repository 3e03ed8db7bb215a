//! The simulated data plane: one node per control plane that receives the full configuration
//! after every committed change and validates it as a Kong data plane would.
//!
//! Nothing here re-reads the whole configuration. The store keeps, per entity, the sha256
//! digest of its payload form and, per plugin instance, the data plane's verdict on it (a
//! problem text, or none). A write updates only what it can affect, and the configuration hash
//! is the 256-bit wrapping sum of all entity digests (plus their count), so adding, replacing or
//! removing an entity costs O(1) and the hash does not depend on order.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::util::hex;
use crate::schema::model::PluginSchema;
use crate::schema::validate::{validate_plugin, FieldError};

/// How many rejected entries a rejection message lists before summarising the rest.
pub(crate) const MAX_LISTED_ENTRIES: usize = 20;

/// Issue code reported in `compatibility_status` when the node rejected a payload.
pub(crate) const REJECTED_CODE: &str = "DP_CONFIG_REJECTED";

/// The data plane state of one control plane, held in memory and mirrored in SQLite.
#[derive(Debug, Clone)]
pub(crate) struct DpState {
    /// Hash accumulator and node state.
    pub(crate) head: DpHead,
    /// Instances the data plane would reject: sequence number → (id, problem). Sequence order
    /// is the payload's `plugins` order.
    pub(crate) bad: BTreeMap<i64, (String, String)>,
}

/// The small, cheaply copied part of [`DpState`].
#[derive(Debug, Clone)]
pub(crate) struct DpHead {
    /// Wrapping sum of every entity digest, as four little-endian 64-bit limbs.
    acc: [u64; 4],
    /// Number of entities in the configuration.
    count: u64,
    /// Sequence number of the last payload sent (0 = none yet).
    pub(crate) dp_seq: i64,
    /// The node's current (last accepted) configuration hash.
    pub(crate) node_hash: String,
    /// Why the last payload was rejected, if it was.
    pub(crate) node_error: Option<String>,
    /// When the node last received a payload (Unix seconds).
    pub(crate) node_updated_at: i64,
    /// When the configuration last changed (Unix seconds).
    pub(crate) config_updated_at: i64,
}

impl DpState {
    /// The state of a control plane with an empty configuration, as of `now`.
    pub(crate) fn empty(now: i64) -> DpState {
        let mut head = DpHead {
            acc: [0; 4],
            count: 0,
            dp_seq: 0,
            node_hash: String::new(),
            node_error: None,
            node_updated_at: now,
            config_updated_at: now,
        };
        head.node_hash = head.hash();
        DpState {
            head,
            bad: BTreeMap::new(),
        }
    }

    /// Starts a write: a copy of the head and an empty overlay of verdict changes.
    pub(crate) fn draft(&self) -> DpDraft<'_> {
        DpDraft {
            base: &self.bad,
            head: self.head.clone(),
            overlay: BTreeMap::new(),
        }
    }

    /// Applies a committed write.
    pub(crate) fn apply(&mut self, head: DpHead, overlay: BTreeMap<i64, Option<(String, String)>>) {
        self.head = head;
        for (seq, verdict) in overlay {
            match verdict {
                Some(v) => {
                    self.bad.insert(seq, v);
                }
                None => {
                    self.bad.remove(&seq);
                }
            }
        }
    }
}

impl DpHead {
    /// Adds one entity digest to the configuration.
    pub(crate) fn add(&mut self, digest: &[u8; 32]) {
        let mut carry = 0u64;
        for (i, limb) in self.acc.iter_mut().enumerate() {
            let part = limb_of(digest, i);
            let (s1, c1) = limb.overflowing_add(part);
            let (s2, c2) = s1.overflowing_add(carry);
            *limb = s2;
            carry = u64::from(c1) + u64::from(c2);
        }
        self.count = self.count.wrapping_add(1);
    }

    /// Removes one entity digest from the configuration.
    pub(crate) fn remove(&mut self, digest: &[u8; 32]) {
        let mut borrow = 0u64;
        for (i, limb) in self.acc.iter_mut().enumerate() {
            let part = limb_of(digest, i);
            let (s1, b1) = limb.overflowing_sub(part);
            let (s2, b2) = s1.overflowing_sub(borrow);
            *limb = s2;
            borrow = u64::from(b1) + u64::from(b2);
        }
        self.count = self.count.wrapping_sub(1);
    }

    /// Replaces `old` by `new` (either may be absent).
    pub(crate) fn replace(&mut self, old: Option<&[u8; 32]>, new: Option<&[u8; 32]>) {
        if let Some(old) = old {
            self.remove(old);
        }
        if let Some(new) = new {
            self.add(new);
        }
    }

    /// The configuration hash: 32 hex digits (Kong's config hashes are 32 hex digits too).
    pub(crate) fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        for limb in self.acc {
            hasher.update(limb.to_le_bytes());
        }
        hasher.update(self.count.to_le_bytes());
        let digest: [u8; 32] = hasher.finalize().into();
        hex(&digest[..16])
    }

    /// Rebuilds the accumulator from stored digests.
    pub(crate) fn load_digests<'a>(&mut self, digests: impl IntoIterator<Item = &'a [u8; 32]>) {
        self.acc = [0; 4];
        self.count = 0;
        for d in digests {
            self.add(d);
        }
    }
}

/// The data plane state as a write in progress sees it: the committed verdicts plus this
/// write's changes, without copying the committed ones.
pub(crate) struct DpDraft<'a> {
    base: &'a BTreeMap<i64, (String, String)>,
    pub(crate) head: DpHead,
    pub(crate) overlay: BTreeMap<i64, Option<(String, String)>>,
}

impl DpDraft<'_> {
    /// Records the verdict on the instance with sequence number `seq` (`None` = fine).
    pub(crate) fn set_verdict(&mut self, seq: i64, id: &str, problem: Option<String>) {
        self.overlay
            .insert(seq, problem.map(|p| (id.to_string(), p)));
    }

    /// The current problem of the instance with sequence number `seq`.
    pub(crate) fn verdict(&self, seq: i64) -> Option<&str> {
        match self.overlay.get(&seq) {
            Some(v) => v.as_ref().map(|(_, p)| p.as_str()),
            None => self.base.get(&seq).map(|(_, p)| p.as_str()),
        }
    }

    /// How many instances the data plane would reject.
    pub(crate) fn bad_count(&self) -> usize {
        let mut n = self.base.len();
        for (seq, v) in &self.overlay {
            match (self.base.contains_key(seq), v.is_some()) {
                (false, true) => n += 1,
                (true, false) => n -= 1,
                _ => {}
            }
        }
        n
    }

    /// The first `limit` rejected instances in payload order: `(seq, problem)`.
    pub(crate) fn first_bad(&self, limit: usize) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        let mut base = self.base.iter().peekable();
        let mut over = self.overlay.iter().peekable();
        while out.len() < limit {
            let next_base = base.peek().map(|(s, _)| **s);
            let next_over = over.peek().map(|(s, _)| **s);
            let take_over = match (next_base, next_over) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(b), Some(o)) => o <= b,
            };
            if take_over {
                let Some((seq, v)) = over.next() else { break };
                if base.peek().is_some_and(|(s, _)| *s == seq) {
                    base.next();
                }
                if let Some((_, p)) = v {
                    out.push((*seq, p.clone()));
                }
            } else if let Some((seq, (_, p))) = base.next() {
                out.push((*seq, p.clone()));
            }
        }
        out
    }
}

fn limb_of(digest: &[u8; 32], i: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[i * 8..i * 8 + 8]);
    u64::from_le_bytes(bytes)
}

/// The data plane's verdict on one stored plugin instance: validated against its plugin's
/// current schema (`None` = the plugin is not known to the data plane). Returns the problem in
/// Kong's flattened form (`in 'config': in 'ttl': required field missing`), or `None`.
pub(crate) fn instance_problem(schema: Option<&PluginSchema>, instance: &Value) -> Option<String> {
    let name = instance.get("name").and_then(Value::as_str).unwrap_or("");
    let Some(schema) = schema else {
        return Some(format!(
            "in 'name': plugin '{name}' not enabled; add it to the 'plugins' configuration property"
        ));
    };
    let config = instance.get("config").filter(|v| !v.is_null());
    let protocols = instance.get("protocols").filter(|v| !v.is_null());
    let bound: Vec<&str> = ["service", "route", "consumer", "consumer_group"]
        .into_iter()
        .filter(|s| instance.get(*s).is_some_and(|v| !v.is_null()))
        .collect();
    match validate_plugin(schema, config, protocols, &bound) {
        Ok(_) => None,
        Err(errors) => Some(flatten_errors(&errors)),
    }
}

/// Kong's flattened rendering of field errors: `in 'config': in 'hosts': in entry 2 of 'hosts':
/// …`; several errors are joined with `; `.
pub(crate) fn flatten_errors(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let mut out = String::new();
            let mut prev = "";
            for seg in e.path.split('.').filter(|s| !s.is_empty()) {
                if seg == "@entity" {
                    continue;
                }
                if seg.bytes().all(|b| b.is_ascii_digit()) {
                    out.push_str(&format!("in entry {seg} of '{prev}': "));
                } else {
                    out.push_str(&format!("in '{seg}': "));
                }
                prev = seg;
            }
            out.push_str(&e.message);
            out
        })
        .collect();
    parts.join("; ")
}

/// Kong's rejection message for a payload with `total` invalid plugin entries, of which
/// `entries` (1-based entry number, problem; at most [`MAX_LISTED_ENTRIES`]) are listed.
pub(crate) fn rejection_message(entries: &[(usize, String)], total: usize) -> String {
    let mut out = String::from("bad config received from Control Plane in 'plugins':");
    for (n, problem) in entries {
        out.push_str(&format!(" - in entry {n} of 'plugins': {problem}"));
    }
    if total > entries.len() {
        out.push_str(&format!(
            " - and {} more invalid entries of 'plugins'",
            total - entries.len()
        ));
    }
    out
}

/// The node's `compatibility_status`.
pub(crate) fn compatibility_status(state: &DpState) -> Value {
    match &state.head.node_error {
        None => json!({"state": "COMPATIBILITY_STATE_FULLY_COMPATIBLE", "issues": []}),
        Some(message) => {
            let affected: Vec<Value> = state
                .bad
                .values()
                .map(|(id, _)| json!({"id": id, "type": "plugin"}))
                .collect();
            json!({
                "state": "COMPATIBILITY_STATE_INCOMPATIBLE",
                "issues": [{
                    "code": REJECTED_CODE,
                    "severity": "error",
                    "description": message,
                    "resolution": "Update the affected plugin instances so that their configuration validates against the current schema of their custom plugin, or revert the schema change. The data plane keeps running its last valid configuration until then.",
                    "affected_resources": affected,
                }],
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> [u8; 32] {
        let mut d = [0xffu8; 32];
        d[0] = n;
        d
    }

    #[test]
    fn hash_is_order_independent_and_reversible() {
        let mut a = DpState::empty(0).head;
        let empty = a.hash();
        a.add(&digest(1));
        a.add(&digest(2));
        let mut b = DpState::empty(0).head;
        b.add(&digest(2));
        b.add(&digest(1));
        assert_eq!(a.hash(), b.hash());
        assert_ne!(a.hash(), empty);
        a.replace(Some(&digest(1)), None);
        a.replace(Some(&digest(2)), None);
        assert_eq!(a.hash(), empty);
        assert_eq!(a.hash().len(), 32);
    }

    #[test]
    fn drafts_overlay_committed_verdicts() {
        let mut state = DpState::empty(0);
        let p = |s: &str| Some(s.to_string());
        let mut d = state.draft();
        d.set_verdict(5, "e", p("five"));
        d.set_verdict(2, "b", p("two"));
        d.set_verdict(9, "i", p("nine"));
        let (head, overlay) = (d.head.clone(), std::mem::take(&mut d.overlay));
        state.apply(head, overlay);
        let mut d = state.draft();
        d.set_verdict(2, "b", None);
        d.set_verdict(7, "g", p("seven"));
        d.set_verdict(9, "i", p("nine again"));
        assert_eq!(d.bad_count(), 3);
        assert_eq!(d.verdict(2), None);
        assert_eq!(d.verdict(5), Some("five"));
        assert_eq!(
            d.first_bad(10),
            vec![
                (5, "five".to_string()),
                (7, "seven".to_string()),
                (9, "nine again".to_string())
            ]
        );
        assert_eq!(d.first_bad(1), vec![(5, "five".to_string())]);
        assert_eq!(
            rejection_message(&[(1, "x".into())], 3),
            "bad config received from Control Plane in 'plugins': - in entry 1 of 'plugins': x - and 2 more invalid entries of 'plugins'"
        );
    }

    #[test]
    fn flattened_paths_read_like_kong() {
        let errors = vec![
            FieldError {
                path: "config.ttl".into(),
                message: "required field missing".into(),
            },
            FieldError {
                path: "config.hosts.2".into(),
                message: "expected a string".into(),
            },
            FieldError {
                path: "config.@entity".into(),
                message: "only one of these fields may be set".into(),
            },
        ];
        assert_eq!(
            flatten_errors(&errors),
            "in 'config': in 'ttl': required field missing; in 'config': in 'hosts': in entry 2 of 'hosts': expected a string; in 'config': only one of these fields may be set"
        );
        assert_eq!(
            rejection_message(&[(3, "in 'config': in 'ttl': required field missing".into())], 1),
            "bad config received from Control Plane in 'plugins': - in entry 3 of 'plugins': in 'config': in 'ttl': required field missing"
        );
    }
}
