//! The control planes plugsync talks to, behind one interface: Konnect, the Kong Admin API
//! (self-managed), and the embedded local control plane. Fetching the live state and writing
//! one entity at a time are the only operations the pipeline needs.
//!
//! The HTTP targets share one transport ([`http`]) that pages lists, parses every error shape
//! and retries what is safe to retry; the local target calls the same service `plugsync serve`
//! serves, in-process.

pub mod http;
#[cfg(test)]
mod http_tests;
mod local;
pub mod pacing;
mod remote;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;

use crate::model::live::{parse_custom_plugin, parse_plugin_owned, parse_scope_entity};
pub use crate::model::EntityKind as Kind;
use crate::model::TargetInfo;
use crate::model::{DesiredState, LiveState, ScopeKind};
pub use local::LocalBackend;
pub use remote::{HttpBackend, RemoteFlavor};

/// Why a target operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetError {
    /// The server answered with an error status.
    #[error("{method} {url}: {status} {message}")]
    Api {
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    /// No answer: connection refused, reset, timed out.
    #[error("{method} {url}: {message}")]
    Transport {
        method: String,
        url: String,
        message: String,
    },
    /// The target cannot be used as configured.
    #[error("{0}")]
    Config(String),
}

impl TargetError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            TargetError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Counters of what a backend did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// HTTP requests sent (or service calls made), retries included.
    pub requests: u64,
    /// Attempts that were retried.
    pub retries: u64,
}

/// The data plane propagation state (`--wait`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Propagation {
    /// The hash every node should report; empty where the control plane does not say (Kong's
    /// Admin API: then every node must move on from the hash it reported before the apply).
    pub expected_hash: String,
    /// (node id, config hash it reports).
    pub nodes: Vec<(String, Option<String>)>,
    /// (node id, problem it reports): a rejected configuration, an incompatibility.
    pub issues: Vec<(String, String)>,
}

/// The plugins one data plane node has installed (hybrid mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlugins {
    pub node: String,
    /// `(name, schema sha256, handler sha256 when known)`.
    pub plugins: Vec<(String, String, Option<String>)>,
}

/// What `plugsync ping` learns about a target beyond reaching it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct About {
    /// The Kong Gateway version that runs the plugins: the Admin API's own, or the lowest one
    /// a data plane node of a Konnect control plane reports (`None`: no node connected).
    pub kong_version: Option<String>,
    /// Where `kong_version` comes from.
    pub version_source: String,
    /// More facts about the target, as (name, value).
    pub facts: Vec<(String, String)>,
}

/// The lowest of Kong versions such as `3.14.0.1` or `3.10.0.3-enterprise-edition`, compared
/// by their numeric components.
pub fn lowest_version<'a>(versions: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    fn key(v: &str) -> Vec<u64> {
        v.split(|c: char| !c.is_ascii_digit() && c != '.')
            .next()
            .unwrap_or("")
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    }
    versions.into_iter().min_by_key(|v| key(v))
}

/// The low-level operations a target supports.
pub trait Backend: Send + Sync {
    /// The target's Kong version and other facts, for `plugsync ping`.
    fn about(&self) -> Result<About, TargetError> {
        Ok(About::default())
    }
    /// What this target is, for plans and messages.
    fn info(&self) -> TargetInfo;
    /// Every entity of a kind, one page at a time, optionally filtered by tags (`a,b` = all).
    fn for_each_page(
        &self,
        kind: Kind,
        tags: Option<&str>,
        on_page: &mut dyn FnMut(Vec<Value>) -> Result<(), TargetError>,
    ) -> Result<(), TargetError>;
    /// Every entity of a kind (all pages).
    fn list_all(&self, kind: Kind, tags: Option<&str>) -> Result<Vec<Value>, TargetError> {
        let mut out = Vec::new();
        self.for_each_page(kind, tags, &mut |page| {
            out.extend(page);
            Ok(())
        })?;
        Ok(out)
    }
    /// Creates or replaces an entity by id (idempotent).
    fn put(&self, kind: Kind, id: &str, body: &Value) -> Result<Value, TargetError>;
    /// Deletes an entity by id (a missing entity is not an error).
    fn delete(&self, kind: Kind, id: &str) -> Result<(), TargetError>;
    /// The expected config hash and the nodes' hashes, where the target has them.
    fn propagation(&self) -> Result<Option<Propagation>, TargetError>;
    /// Every hybrid-mode plugin schema (Konnect's `plugin-schemas`: `{name, lua_schema, …}`).
    /// Targets without them answer an empty list.
    fn list_plugin_schemas(&self) -> Result<Vec<Value>, TargetError> {
        Ok(Vec::new())
    }
    /// Creates or replaces the hybrid-mode plugin schema `name` (`{"lua_schema": …}`).
    fn put_plugin_schema(&self, name: &str, _lua_schema: &str) -> Result<(), TargetError> {
        Err(TargetError::Config(format!(
            "`{name}` is a hybrid-mode plugin (`streamed: false`), which only Konnect control planes hold (plugin-schemas); {} loads custom plugins from each node's files",
            self.info().kind
        )))
    }
    /// Deletes the hybrid-mode plugin schema `name` (a missing one is not an error).
    fn delete_plugin_schema(&self, name: &str) -> Result<(), TargetError> {
        self.put_plugin_schema(name, "")
    }
    /// Whether the target holds hybrid-mode plugin schemas.
    fn supports_plugin_schemas(&self) -> bool {
        false
    }
    /// The hybrid-mode plugins installed on each data plane node, where the target reports
    /// them: `(node id, [(name, schema sha256, handler sha256)])`.
    fn node_plugins(&self) -> Result<Option<Vec<NodePlugins>>, TargetError> {
        Ok(None)
    }
    /// The node-information document of a Kong Admin API (`GET /`: `version`,
    /// `configuration.untrusted_lua`, …), where the target has one.
    fn node_info(&self) -> Result<Option<Value>, TargetError> {
        Ok(None)
    }
    /// Counters so far.
    fn stats(&self) -> Stats;
    /// Why the target counts as unreachable, once a request gave up after all its retries:
    /// the rest of a run is not attempted.
    fn unreachable(&self) -> Option<String> {
        None
    }
}

/// The live state in scope and what lies just outside it.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// The part in scope of the select tags.
    pub live: LiveState,
    /// Instances outside the scope, by the in-scope custom plugin they use.
    pub unmanaged_references: BTreeMap<String, crate::model::Unmanaged>,
}

/// Fetches every entity of a kind and converts each page as it arrives, consuming it, so the
/// raw JSON of a large control plane is never held whole beside the parsed entities.
fn fetch_parsed<T>(
    backend: &dyn Backend,
    kind: Kind,
    what: &str,
    keep: impl Fn(&Value) -> bool,
    parse: impl Fn(Value) -> Result<T, Value>,
) -> Result<Vec<T>, TargetError> {
    let mut out = Vec::new();
    // Only an entity that cannot be read is shown, and only its start.
    let preview = |v: &Value| {
        crate::model::hash::canonical_json(v)
            .chars()
            .take(200)
            .collect::<String>()
    };
    backend.for_each_page(kind, None, &mut |page| {
        for v in page {
            if !keep(&v) {
                continue;
            }
            if v.get("id").and_then(Value::as_str).is_none() {
                let preview = preview(&v);
                return Err(TargetError::Config(format!(
                    "the control plane returned a {what} without an id: {preview}"
                )));
            }
            match parse(v) {
                Ok(t) => out.push(t),
                Err(v) => {
                    let preview = preview(&v);
                    return Err(TargetError::Config(format!(
                        "the control plane returned a {what} that cannot be read: {preview}"
                    )));
                }
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// Which scope kinds must be fetched: those the desired state names, and those live
/// instances of custom plugins are bound to (for readable output).
fn scope_kinds_needed(desired: Option<&DesiredState>, live: &LiveState) -> BTreeSet<ScopeKind> {
    let mut kinds = BTreeSet::new();
    if let Some(d) = desired {
        for p in &d.plugins {
            for k in ScopeKind::ALL {
                if p.scope.get(k).is_some() {
                    kinds.insert(k);
                }
            }
        }
    }
    for p in &live.plugins {
        for k in ScopeKind::ALL {
            if p.scope.get(k).is_some() {
                kinds.insert(k);
            }
        }
    }
    kinds
}

fn scope_kind(k: ScopeKind) -> Kind {
    match k {
        ScopeKind::Service => Kind::Service,
        ScopeKind::Route => Kind::Route,
        ScopeKind::Consumer => Kind::Consumer,
        ScopeKind::ConsumerGroup => Kind::ConsumerGroup,
    }
}

/// Fetches the live state: custom plugins, the instances of custom plugins, and the scope
/// entities needed to resolve names.
pub fn fetch(
    backend: &dyn Backend,
    select_tags: &[String],
    desired: Option<&DesiredState>,
) -> Result<Fetched, TargetError> {
    fetch_with_hybrid(backend, select_tags, desired, &[])
}

/// [`fetch`], with hybrid-mode plugin names a saved plan recorded as in scope (`apply` reads
/// the live state without the state files).
pub fn fetch_with_hybrid(
    backend: &dyn Backend,
    select_tags: &[String],
    desired: Option<&DesiredState>,
    hybrid_names: &[String],
) -> Result<Fetched, TargetError> {
    let plugins = read_plugins(backend)?;
    finish_fetch(backend, plugins, select_tags, desired, hybrid_names)
}

/// The part of a fetch that needs nothing declared: every custom plugin (and hybrid-mode
/// plugin schema) and every instance of one, unfiltered. A command can read it while the
/// state is still loading; [`finish_fetch`] completes it.
pub fn read_plugins(backend: &dyn Backend) -> Result<LiveState, TargetError> {
    let mut all = LiveState {
        custom_plugins: fetch_parsed(
            backend,
            Kind::CustomPlugin,
            "custom plugin",
            |_| true,
            |v| parse_custom_plugin(&v).ok_or(v),
        )?,
        ..LiveState::default()
    };
    if backend.supports_plugin_schemas() {
        for v in backend.list_plugin_schemas()? {
            match crate::model::live::parse_plugin_schema(&v) {
                Some(p) => all.custom_plugins.push(p),
                None => {
                    return Err(TargetError::Config(format!(
                        "the control plane returned a plugin schema without a name: {}",
                        crate::model::hash::canonical_json(&v)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    )))
                }
            }
        }
    }
    let names: BTreeSet<String> = all.custom_plugins.iter().map(|c| c.name.clone()).collect();
    // Only instances of custom plugins matter; the others are skipped before parsing.
    all.plugins = fetch_parsed(
        backend,
        Kind::Plugin,
        "plugin",
        |v| {
            v.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| names.contains(n))
        },
        parse_plugin_owned,
    )?;
    Ok(all)
}

/// The rest of a fetch after [`read_plugins`]: the scope entities the declared and the live
/// instances name, then the part in scope of the select tags.
pub fn finish_fetch(
    backend: &dyn Backend,
    mut all: LiveState,
    select_tags: &[String],
    desired: Option<&DesiredState>,
    hybrid_names: &[String],
) -> Result<Fetched, TargetError> {
    for k in scope_kinds_needed(desired, &all) {
        let entities = fetch_parsed(
            backend,
            scope_kind(k),
            k.key(),
            |_| true,
            |v| parse_scope_entity(k, &v).ok_or(v),
        )?;
        match k {
            ScopeKind::Service => all.services = entities,
            ScopeKind::Route => all.routes = entities,
            ScopeKind::Consumer => all.consumers = entities,
            ScopeKind::ConsumerGroup => all.consumer_groups = entities,
        }
    }
    let hybrid = hybrid_scope(select_tags, desired, &all).map(|mut h| {
        h.extend(hybrid_names.iter().cloned());
        h
    });
    let (live, unmanaged_references) = all.into_scope(select_tags, hybrid.as_ref());
    Ok(Fetched {
        live,
        unmanaged_references,
    })
}

/// Which hybrid-mode plugin schemas are in scope. They carry no tags, so with select tags
/// only those the state declares (or replaces) and those the in-scope instances use are;
/// without select tags, all of them (`None`).
fn hybrid_scope(
    select_tags: &[String],
    desired: Option<&DesiredState>,
    all: &LiveState,
) -> Option<BTreeSet<String>> {
    if select_tags.is_empty() {
        return None;
    }
    let mut names = BTreeSet::new();
    if let Some(d) = desired {
        for c in &d.custom_plugins {
            names.insert(c.name.clone());
            if let Some(r) = &c.replaces {
                names.insert(r.clone());
            }
        }
    }
    for p in &all.plugins {
        if select_tags.iter().all(|t| p.tags.contains(t)) {
            names.insert(p.name.clone());
        }
    }
    Some(names)
}

/// Waits until every data plane node reports the expected config hash. Where the target has
/// no expected hash (Kong's Admin API), every node must report one hash, and one other than
/// it reported in `before` (taken before the first write) when the run wrote anything. A
/// timeout names the nodes behind and the problems they report.
pub fn wait_for_propagation(
    backend: &dyn Backend,
    timeout: Duration,
    before: Option<&Propagation>,
) -> Result<Propagation, String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match backend.propagation() {
            Ok(None) => return Err("this target has no data plane status to wait for".into()),
            Ok(Some(p)) => {
                let behind = nodes_behind(&p, before);
                if behind.is_empty() && !p.nodes.is_empty() {
                    return Ok(p);
                }
                if std::time::Instant::now() >= deadline {
                    let expected = if p.expected_hash.is_empty() {
                        "a new config hash".to_string()
                    } else {
                        format!("config hash {}", p.expected_hash)
                    };
                    if p.nodes.is_empty() {
                        return Err(format!(
                            "no data plane node reported {expected} in {}s: none is connected",
                            timeout.as_secs()
                        ));
                    }
                    let listed: Vec<String> = behind
                        .iter()
                        .map(|id| {
                            let reasons: Vec<&str> = p
                                .issues
                                .iter()
                                .filter(|(n, _)| n == id)
                                .map(|(_, r)| r.as_str())
                                .collect();
                            if reasons.is_empty() {
                                id.to_string()
                            } else {
                                format!("{id} ({})", reasons.join("; "))
                            }
                        })
                        .collect();
                    return Err(format!(
                        "data plane nodes did not reach {expected} in {}s: {}",
                        timeout.as_secs(),
                        listed.join(", ")
                    ));
                }
            }
            Err(e) => {
                if std::time::Instant::now() >= deadline {
                    return Err(e.to_string());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The nodes that have not taken the configuration yet.
fn nodes_behind<'a>(p: &'a Propagation, before: Option<&Propagation>) -> Vec<&'a str> {
    if !p.expected_hash.is_empty() {
        return p
            .nodes
            .iter()
            .filter(|(_, h)| h.as_deref() != Some(p.expected_hash.as_str()))
            .map(|(id, _)| id.as_str())
            .collect();
    }
    let old = |id: &str| {
        before.and_then(|b| {
            b.nodes
                .iter()
                .find(|(n, _)| n == id)
                .map(|(_, h)| h.clone())
        })
    };
    let newest = p.nodes.iter().filter_map(|(_, h)| h.as_deref()).max();
    p.nodes
        .iter()
        .filter(|(id, h)| {
            h.is_none()
                || h.as_deref() != newest
                || old(id).is_some_and(|o| o.as_deref() == h.as_deref())
        })
        .map(|(id, _)| id.as_str())
        .collect()
}

/// For a 401 or 403 answer: where the token of this kind of target comes from.
pub fn auth_hint(kind: crate::model::TargetKind, status: Option<u16>) -> Option<String> {
    let what = match status? {
        401 => "the target refused the token (401)",
        403 => "the token lacks a permission this needs (403)",
        _ => return None,
    };
    use crate::model::TargetKind as Kind;
    Some(match kind {
        Kind::Kong => format!(
            "{what}: the Kong Admin API target sends --kong-admin-token (or PLUGSYNC_KONG_ADMIN_TOKEN) as the Kong-Admin-Token header"
        ),
        Kind::Konnect => format!(
            "{what}: the Konnect target sends --konnect-token, --konnect-token-file or PLUGSYNC_KONNECT_TOKEN as a Bearer token"
        ),
        Kind::Local | Kind::Git => return None,
    })
}
