//! Desired state against live state, by content hash: which custom plugins and instances are
//! new, changed, moved to a new plugin version, gone or unchanged. Pure: values in, values out.
//!
//! Instances are matched by identity: `instance_name` when set, else (plugin family, service,
//! route, consumer, consumer_group), where a plugin's family includes the plugins it
//! `replaces` — so an instance of `x-v2` at a scope matches a live instance of `x` there.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::model::hash::{custom_plugin_hashes, sha256_hex, sort_sets, InstanceContent};
use crate::model::mask;
use crate::model::{
    CustomPluginDecl, DesiredState, InstanceDecl, LiveCustomPlugin, LivePlugin, LiveState, Scope,
    ScopeKind,
};
use crate::schema::classify::{self, SchemaChange, UpdatePath};
use crate::schema::validate::{self, FieldError};
use crate::schema::PluginSchema;

/// The tag plugsync writes on custom plugins declared `protected: true`; a live plugin carrying
/// it is never deleted.
pub const PROTECTED_TAG: &str = "plugsync-protected";

/// What happens to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Create,
    Update,
    Migrate,
    Delete,
    Unchanged,
}

impl Action {
    /// The plan's name for the action.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Migrate => "migrate",
            Action::Delete => "delete",
            Action::Unchanged => "unchanged",
        }
    }
}

/// A custom plugin's change.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginDiff {
    pub name: String,
    /// The live id, or the id it will be created with (client-made, so a retried create
    /// cannot duplicate it).
    pub id: String,
    pub action: Action,
    pub replaces: Option<String>,
    /// The desired declaration (absent for deletions).
    pub desired: Option<CustomPluginDecl>,
    /// The live plugin of the same name (absent for creations).
    pub live: Option<LiveCustomPlugin>,
    /// Tags the plugin will carry (declared ∪ select tags), sorted.
    pub tags: Vec<String>,
    pub handler_changed: bool,
    pub schema_changed: bool,
    pub tags_changed: bool,
    /// Schema changes against the live plugin of the same name, or the one it replaces.
    pub schema_changes: Vec<SchemaChange>,
    pub update_path: UpdatePath,
    /// The live plugin the schema was compared with when it is not `live` (the replaced one,
    /// when no live plugin has the declared name); with `live`, that one.
    pub compared_with: Option<LiveCustomPlugin>,
}

/// One field whose value changes, for people: dotted path, old and new value.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// An instance's change.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceDiff {
    /// The plugin the instance runs after the change (the live one for deletions).
    pub name: String,
    /// For migrations: the plugin it ran before.
    pub from: Option<String>,
    /// The live id, or the id it will be created with.
    pub id: String,
    pub action: Action,
    /// Whether the state declares the instance (all but deletions).
    pub declared: bool,
    /// The declared instance (kept for changed instances only: an unchanged one needs no
    /// more than its counts, and large states would otherwise hold it twice).
    /// (Boxed: a large state holds one record per instance, most of them unchanged.)
    pub desired: Option<Box<DesiredInstance>>,
    /// The live instance (kept for changed instances only).
    pub live: Option<Box<LivePlugin>>,
    /// Changed fields, dotted paths (`config.window`, `enabled`).
    pub changes: Vec<FieldChange>,
}

/// A declared instance, resolved against the live control plane and its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredInstance {
    pub decl: InstanceDecl,
    /// Canonical content (config filled by the schema it will run under).
    pub content: InstanceContent,
}

/// The whole diff.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diff {
    pub plugins: Vec<PluginDiff>,
    pub instances: Vec<InstanceDiff>,
}

/// Why a diff could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiffError {
    #[error("{instance}: {kind} `{name}` does not exist on the control plane")]
    Unresolved {
        instance: String,
        kind: &'static str,
        name: String,
    },
    #[error(
        "{instance}: the config is invalid under the schema of `{plugin}`: {}",
        validate::summary(errors)
    )]
    InvalidConfig {
        instance: String,
        plugin: String,
        errors: Vec<FieldError>,
    },
    #[error("{instance}: runs `{plugin}`, which is not declared or has no valid schema")]
    NoSchema { instance: String, plugin: String },
    #[error("{instance} and {other}: two instances of `{plugin}` at the same scope on the control plane (Kong allows one per plugin and scope, whatever the instance_name)")]
    SameScope {
        instance: String,
        other: String,
        plugin: String,
    },
}

impl DiffError {
    /// The instance involved, for reports.
    pub fn entity(&self) -> serde_json::Value {
        let (name, reason) = match self {
            DiffError::Unresolved { instance, .. } => (instance, "unresolved_scope"),
            DiffError::InvalidConfig { instance, .. } => (instance, "invalid_config"),
            DiffError::NoSchema { instance, .. } => (instance, "no_schema"),
            DiffError::SameScope { instance, .. } => (instance, "same_scope"),
        };
        let mut v = serde_json::json!({"kind": "plugin", "name": name, "reason": reason});
        if let DiffError::SameScope { other, .. } = self {
            v["other"] = serde_json::json!(other);
        }
        v
    }

    /// How to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            DiffError::SameScope { .. } => "merge the two instances, or bind one to another scope",
            DiffError::Unresolved { .. } => "services, routes, consumers and consumer groups must exist on the control plane; plugsync never creates them",
            DiffError::InvalidConfig { .. } | DiffError::NoSchema { .. } => "run `plugsync lint` for details",
        }
    }
}

/// Everything the diff needs.
pub struct DiffInput<'a> {
    pub desired: &'a DesiredState,
    /// Evaluated schemas of the declared plugins, by name.
    pub desired_schemas: &'a BTreeMap<String, Arc<PluginSchema>>,
    /// Live state in scope.
    pub live: &'a LiveState,
    /// Evaluated schemas of the live plugins, by name (a plugin whose schema no longer
    /// evaluates is missing here: its changes are classified as `cp_dp_sync`).
    pub live_schemas: &'a BTreeMap<String, Arc<PluginSchema>>,
    /// Tags every written entity carries.
    pub select_tags: &'a [String],
}

fn merge_tags(tags: &[String], select: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = tags.iter().chain(select).cloned().collect();
    set.into_iter().collect()
}

/// What each declared plugin `replaces` (the first declaration of a name wins, as in
/// [`DesiredState::custom_plugin`]); built once per diff so identities cost no linear scans.
fn replaces_map(desired: &DesiredState) -> HashMap<&str, Option<&str>> {
    let mut out = HashMap::with_capacity(desired.custom_plugins.len());
    for c in &desired.custom_plugins {
        out.entry(c.name.as_str())
            .or_insert_with(|| c.replaces.as_deref());
    }
    out
}

/// The family root of a plugin: follow `replaces` through declared plugins to the oldest.
fn family_root<'a>(replaces: &HashMap<&'a str, Option<&'a str>>, name: &'a str) -> &'a str {
    let mut cur = name;
    let mut seen = BTreeSet::new();
    while seen.insert(cur) {
        match replaces.get(cur).copied().flatten() {
            Some(prev) => cur = prev,
            None => break,
        }
    }
    cur
}

/// Identity of an instance for matching.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Identity {
    Named(String),
    Scoped(String, Scope),
}

/// Compares desired and live state.
pub fn diff(
    input: &DiffInput<'_>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Diff, Vec<DiffError>> {
    let mut out = Diff::default();
    let mut errors = Vec::new();
    plugins(input, &mut out, new_id);
    let replaces = replaces_map(input.desired);
    // Identities first (cheap: scope names to ids); each config is filled and compared one
    // at a time below, so a large state is not held resolved all at once.
    let mut desired: Vec<(Identity, Scope, &InstanceDecl)> = Vec::new();
    // Kong's uniqueness: (plugin name, scope ids), whatever the instance_name. Names and ids
    // of one scope entity resolve to the same id here, which the lint cannot see.
    let mut at_scope: HashMap<(&str, Scope), &InstanceDecl> = HashMap::new();
    for decl in &input.desired.plugins {
        match resolve_scope(input, decl) {
            Ok((_, scope)) => {
                if let Some(first) = at_scope.insert((decl.name.as_str(), scope.clone()), decl) {
                    errors.push(DiffError::SameScope {
                        instance: first.label(),
                        other: decl.label(),
                        plugin: decl.name.clone(),
                    });
                }
                let id = match &decl.instance_name {
                    Some(n) => Identity::Named(n.clone()),
                    None => Identity::Scoped(
                        family_root(&replaces, &decl.name).to_string(),
                        scope.clone(),
                    ),
                };
                desired.push((id, scope, decl));
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut live_by_id: BTreeMap<Identity, Vec<&LivePlugin>> = BTreeMap::new();
    for p in &input.live.plugins {
        let id = match &p.instance_name {
            Some(n) => Identity::Named(n.clone()),
            None => Identity::Scoped(family_root(&replaces, &p.name).to_string(), p.scope.clone()),
        };
        live_by_id.entry(id).or_default().push(p);
    }
    // Match by identity first; then a declared instance left without a match takes the live
    // instance of the same plugin at the same scope, if nothing else took it: its
    // instance_name changed. Creating it beside the live one would be refused by the control
    // plane (one instance per plugin and scope), so it is updated in place instead.
    let mut matches: Vec<Option<&LivePlugin>> = desired
        .iter()
        .map(|(identity, _, _)| {
            live_by_id
                .get_mut(identity)
                .and_then(|v| (!v.is_empty()).then(|| v.remove(0)))
        })
        .collect();
    let mut matched: BTreeSet<String> = matches.iter().flatten().map(|l| l.id.clone()).collect();
    let mut live_at_scope: HashMap<(&str, &Scope), Vec<&LivePlugin>> = HashMap::new();
    if matches.iter().any(Option::is_none) {
        for l in &input.live.plugins {
            if !matched.contains(&l.id) {
                live_at_scope
                    .entry((l.name.as_str(), &l.scope))
                    .or_default()
                    .push(l);
            }
        }
    }
    for (i, (_, scope, decl)) in desired.iter().enumerate() {
        if matches[i].is_some() {
            continue;
        }
        let same = live_at_scope
            .get_mut(&(decl.name.as_str(), scope))
            .and_then(|v| v.pop());
        if let Some(l) = same {
            matched.insert(l.id.clone());
            matches[i] = Some(l);
        }
    }
    // Each declared instance is filled, validated and hashed on every core; only a changed
    // one keeps its content, so a large no-op diff never holds them all at once.
    let pairs: Vec<(&InstanceDecl, Option<&LivePlugin>)> = desired
        .iter()
        .map(|(_, _, decl)| *decl)
        .zip(matches.iter().copied())
        .collect();
    let compared = crate::par::map(&pairs, |(decl, live)| compare(input, decl, *live));
    for ((decl, live), compared) in pairs.into_iter().zip(compared) {
        let content = match compared {
            Compared::Invalid(e) => {
                errors.push(e);
                continue;
            }
            Compared::Unchanged => {
                let id = live.map(|l| l.id.clone()).unwrap_or_default();
                out.instances.push(InstanceDiff {
                    name: decl.name.clone(),
                    from: None,
                    id,
                    action: Action::Unchanged,
                    declared: true,
                    changes: Vec::new(),
                    desired: None,
                    live: None,
                });
                continue;
            }
            Compared::Changed(content) => *content,
        };
        match live {
            None => out.instances.push(InstanceDiff {
                name: decl.name.clone(),
                from: None,
                id: decl.id.clone().unwrap_or_else(&mut *new_id),
                action: Action::Create,
                declared: true,
                changes: field_changes(None, Some(&content.canonical())),
                desired: Some(Box::new(DesiredInstance {
                    decl: decl.clone(),
                    content,
                })),
                live: None,
            }),
            Some(l) => {
                let live_schema = input.live_schemas.get(&l.name).map(|s| &**s);
                let action = if l.name != decl.name {
                    Action::Migrate
                } else {
                    Action::Update
                };
                let mut old = InstanceContent::of_live(l, live_schema).canonical();
                let new = content.canonical();
                if action == Action::Migrate {
                    old["name"] = new["name"].clone();
                }
                out.instances.push(InstanceDiff {
                    name: decl.name.clone(),
                    from: (action == Action::Migrate).then(|| l.name.clone()),
                    id: l.id.clone(),
                    action,
                    declared: true,
                    changes: field_changes(Some(&old), Some(&new)),
                    desired: Some(Box::new(DesiredInstance {
                        decl: decl.clone(),
                        content,
                    })),
                    live: Some(Box::new(l.clone())),
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for p in &input.live.plugins {
        if !matched.contains(&p.id) {
            let live_content =
                InstanceContent::of_live(p, input.live_schemas.get(&p.name).map(|s| &**s));
            out.instances.push(InstanceDiff {
                name: p.name.clone(),
                from: None,
                id: p.id.clone(),
                action: Action::Delete,
                declared: false,
                changes: field_changes(Some(&live_content.canonical()), None),
                desired: None,
                live: Some(Box::new(p.clone())),
            });
        }
    }
    for i in &mut out.instances {
        let schemas = [
            input.desired_schemas.get(&i.name).map(|s| &**s),
            i.live
                .as_ref()
                .and_then(|l| input.live_schemas.get(&l.name))
                .map(|s| &**s),
        ];
        mask_encrypted(&mut i.changes, &schemas);
    }
    out.instances
        .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    Ok(out)
}

fn plugins(input: &DiffInput<'_>, out: &mut Diff, new_id: &mut dyn FnMut() -> String) {
    let live = input.live;
    for decl in &input.desired.custom_plugins {
        // A hybrid-mode plugin's schema (`plugin-schemas`) carries no tags.
        let mut tags = if decl.streamed {
            merge_tags(&decl.tags, input.select_tags)
        } else {
            Vec::new()
        };
        if decl.streamed && decl.protected && !tags.iter().any(|t| t == PROTECTED_TAG) {
            tags.push(PROTECTED_TAG.to_string());
            tags.sort();
        }
        let same = live.custom_plugin(&decl.name);
        let compared_with =
            same.or_else(|| decl.replaces.as_deref().and_then(|r| live.custom_plugin(r)));
        let (h, s, _) = custom_plugin_hashes(&decl.handler.text, &decl.schema.text, &tags);
        let (handler_changed, schema_changed, tags_changed) = match compared_with {
            // The control plane holds no handler of a hybrid-mode plugin: only its schema
            // is compared there (its handler reaches the data planes through the bundle).
            Some(l) if !l.streamed || !decl.streamed => (
                !l.handler.is_empty() && sha256_hex(l.handler.as_bytes()) != h,
                sha256_hex(l.schema.as_bytes()) != s,
                false,
            ),
            Some(l) => (
                sha256_hex(l.handler.as_bytes()) != h,
                sha256_hex(l.schema.as_bytes()) != s,
                l.tags != tags,
            ),
            None => (true, true, true),
        };
        let (schema_changes, update_path) = match compared_with {
            Some(l) if schema_changed => {
                match (
                    input.live_schemas.get(&l.name),
                    input.desired_schemas.get(&decl.name),
                ) {
                    (Some(old), Some(new)) => {
                        let changes = classify::classify(old, new);
                        let path = classify::update_path(&changes);
                        (changes, path)
                    }
                    // The live schema no longer evaluates: nothing can be promised.
                    _ => (Vec::new(), UpdatePath::CpDpSync),
                }
            }
            _ => (Vec::new(), UpdatePath::None),
        };
        let action = match same {
            None => Action::Create,
            Some(_) if handler_changed || schema_changed || tags_changed => Action::Update,
            Some(_) => Action::Unchanged,
        };
        let id = match (same, &decl.id) {
            (Some(l), _) => l.id.clone(),
            (None, Some(id)) => id.clone(),
            (None, None) => new_id(),
        };
        out.plugins.push(PluginDiff {
            name: decl.name.clone(),
            id,
            action,
            replaces: decl.replaces.clone(),
            desired: Some(decl.clone()),
            live: same.cloned(),
            tags,
            handler_changed: same.is_none() || handler_changed,
            schema_changed: same.is_none() || schema_changed,
            tags_changed,
            schema_changes,
            update_path,
            // Held once: when it is the live plugin of the same name, that is `live`.
            compared_with: if same.is_some() {
                None
            } else {
                compared_with.cloned()
            },
        });
    }
    for l in &live.custom_plugins {
        // A plugin written as `protected` carries the protected tag: sync never deletes it,
        // even once it is no longer declared.
        let protected = l.tags.iter().any(|t| t == PROTECTED_TAG);
        if input.desired.custom_plugin(&l.name).is_none() {
            out.plugins.push(PluginDiff {
                name: l.name.clone(),
                id: l.id.clone(),
                action: if protected {
                    Action::Unchanged
                } else {
                    Action::Delete
                },
                replaces: None,
                desired: None,
                live: Some(l.clone()),
                tags: l.tags.clone(),
                handler_changed: false,
                schema_changed: false,
                tags_changed: false,
                schema_changes: Vec::new(),
                update_path: UpdatePath::None,
                compared_with: None,
            });
        }
    }
    out.plugins.sort_by(|a, b| a.name.cmp(&b.name));
}

/// What comparing one declared instance with its live match found.
enum Compared {
    /// Same plugin, same content hash.
    Unchanged,
    /// To create, update or migrate: the declared content.
    Changed(Box<InstanceContent>),
    Invalid(DiffError),
}

fn compare(input: &DiffInput<'_>, decl: &InstanceDecl, live: Option<&LivePlugin>) -> Compared {
    let content = match resolve_instance(input, decl) {
        Ok(c) => c,
        Err(e) => return Compared::Invalid(e),
    };
    match live {
        Some(l) if l.name == decl.name => {
            let schema = input.live_schemas.get(&l.name).map(|s| &**s);
            if InstanceContent::of_live(l, schema).hash() == content.hash() {
                Compared::Unchanged
            } else {
                Compared::Changed(Box::new(content))
            }
        }
        _ => Compared::Changed(Box::new(content)),
    }
}

/// Resolves scope names to ids and fills the config with the schema it will run under.
/// The schema an instance runs under and its scope as live ids: all identity needs.
fn resolve_scope<'s>(
    input: &'s DiffInput<'_>,
    decl: &InstanceDecl,
) -> Result<(&'s PluginSchema, Scope), DiffError> {
    let Some(schema) = input.desired_schemas.get(&decl.name) else {
        return Err(DiffError::NoSchema {
            instance: decl.label(),
            plugin: decl.name.clone(),
        });
    };
    let mut scope = Scope::default();
    for kind in ScopeKind::ALL {
        if let Some(name) = decl.scope.get(kind) {
            match input.live.resolve(kind, name) {
                Some(e) => scope.set(kind, Some(e.id.clone())),
                None => {
                    return Err(DiffError::Unresolved {
                        instance: decl.label(),
                        kind: kind.key(),
                        name: name.clone(),
                    })
                }
            }
        }
    }
    Ok((schema, scope))
}

/// The declaration is not copied: most instances are unchanged and need only the content.
fn resolve_instance(
    input: &DiffInput<'_>,
    decl: &InstanceDecl,
) -> Result<InstanceContent, DiffError> {
    let label = decl.label();
    let (schema, scope) = resolve_scope(input, decl)?;
    let mut config = decl
        .validate(schema)
        .map_err(|errors| DiffError::InvalidConfig {
            instance: label.clone(),
            plugin: decl.name.clone(),
            errors,
        })?;
    if let Some(f) = schema.config() {
        sort_sets(f, &mut config);
    }
    let protocols: Vec<String> = match &decl.protocols {
        Some(p) => p.clone(),
        None => validate::default_protocols(schema)
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    };
    Ok(InstanceContent {
        name: decl.name.clone(),
        instance_name: decl.instance_name.clone(),
        config,
        enabled: decl.enabled.unwrap_or(true),
        protocols,
        scope,
        condition: decl.condition.clone(),
        ordering: decl.ordering.clone(),
        tags: merge_tags(&decl.tags, input.select_tags),
    })
}

/// Hides the values of fields the schema marks `encrypted` (passwords, tokens): their old and
/// new values are secrets even when they do not come from the environment (`model::mask`).
fn mask_encrypted(changes: &mut [FieldChange], schemas: &[Option<&PluginSchema>]) {
    for c in changes.iter_mut() {
        let encrypted = schemas
            .iter()
            .flatten()
            .any(|s| mask::is_encrypted(s, &c.path));
        if encrypted {
            mask::mask_encrypted(&mut c.old, &mut c.new);
        }
    }
}

/// The leaf-level differences of two canonical objects, as dotted paths. Records recurse;
/// arrays and scalars compare whole.
pub fn field_changes(old: Option<&Value>, new: Option<&Value>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

fn walk(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, a.get(k), b.get(k), out);
            }
        }
        (Some(Value::Object(a)), None) if !path.is_empty() || !a.is_empty() => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, Some(v), None, out);
            }
        }
        (None, Some(Value::Object(b))) => {
            for (k, v) in b {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, None, Some(v), out);
            }
        }
        (a, b) => {
            let differ = match (a, b) {
                (Some(x), Some(y)) => {
                    crate::model::hash::canonical_json(x) != crate::model::hash::canonical_json(y)
                }
                (None, None) => false,
                // A field present on one side only: null and absent are the same to Kong.
                (Some(x), None) | (None, Some(x)) => !x.is_null(),
            };
            if differ {
                out.push(FieldChange {
                    path: path.to_string(),
                    old: a.cloned(),
                    new: b.cloned(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
