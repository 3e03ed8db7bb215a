//! The plan: the diff put in a safe order under CONTRACT §4.3's policy, as the one
//! serialisable view that every renderer and the executor read. Pure: values in, values out.
//!
//! Stages ([`order`]): 1 custom plugin creates and updates → 2 instance creates, updates and
//! migrations → 3 instance deletes → 4 custom plugin deletes. A `long` or `cp_dp_sync` change on a plugin
//! that keeps its name and has live instances is refused unless `--allow-in-place`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::diff::{Action as DiffAction, Diff, FieldChange, InstanceDiff, PluginDiff};
use crate::model::{Action, LiveState, ScopeKind, StepKind, Unmanaged};
use crate::schema::classify::{SchemaChange, UpdatePath};

pub mod file;
pub mod order;
pub mod prepare;
pub mod rollout;

pub use order::Stage;
pub use rollout::{BundlePlugin, Phase, Rollout};

/// The plan file's format version.
pub const FORMAT_VERSION: u32 = 1;

pub use crate::model::{SourceInfo, TargetInfo};

/// Counts of changed and unchanged entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub migrate: usize,
    pub delete: usize,
    pub unchanged: usize,
}

impl Summary {
    /// Whether anything changes.
    pub fn has_changes(&self) -> bool {
        self.create + self.update + self.migrate + self.delete > 0
    }
}

/// A changed custom plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomPluginEntry {
    pub name: String,
    pub action: Action,
    pub replaces: Option<String>,
    pub handler_sha256: Option<String>,
    pub schema_sha256: Option<String>,
    pub live_handler_sha256: Option<String>,
    pub live_schema_sha256: Option<String>,
    pub update_path: UpdatePath,
    pub schema_changes: Vec<SchemaChange>,
    /// For people (not in the plan file): Lua and tag details.
    #[serde(skip)]
    pub detail: PluginDetail,
}

/// What renderers show about a custom plugin beyond the plan file's fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PluginDetail {
    /// (old, new) handler text when it changed (old empty for creations).
    pub handler: Option<(String, String)>,
    /// (old, new) schema text when it changed.
    pub schema: Option<(String, String)>,
    /// (old, new) tags when they changed.
    pub tags: Option<(Vec<String>, Vec<String>)>,
    /// The live plugin the schema was compared with, when it is another one (`replaces`).
    pub compared_with: Option<String>,
}

/// A changed instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginEntry {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<String>,
    pub id: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_name: Option<String>,
    /// Scope by readable name (`{"service": "payments"}`); empty for global instances.
    pub scope: BTreeMap<String, String>,
    pub changed_fields: Vec<String>,
    /// For people (not in the plan file): old and new values, secrets masked.
    #[serde(skip)]
    pub changes: Vec<FieldChange>,
}

/// One write, in execution order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub stage: Stage,
    pub action: Action,
    pub kind: StepKind,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    /// For instance migrations: the plugin the instance ran before.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<String>,
    /// The request body (creates, updates, migrations). Instance configs keep their
    /// `${{ env "…" }}` templates: they are resolved again at apply, never stored.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<Value>,
    /// For `rollout` steps (hybrid mode): the data-plane bundle to roll out. plugsync shows
    /// this step but does not perform it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rollout: Option<Rollout>,
}

impl Step {
    /// Whether this is a data-plane rollout (not a control-plane write).
    pub fn is_rollout(&self) -> bool {
        self.kind == StepKind::Rollout
    }
}

/// The plan (CONTRACT §4.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub target: TargetInfo,
    pub source: SourceInfo,
    pub fingerprint: String,
    pub maintenance_window: bool,
    pub summary: Summary,
    pub custom_plugins: Vec<CustomPluginEntry>,
    pub plugins: Vec<PluginEntry>,
    pub steps: Vec<Step>,
    /// Select tags the plan was made with (needed to re-read the same live scope at apply).
    #[serde(default)]
    pub select_tags: Vec<String>,
    /// Hybrid-mode plugin names the state declares or replaces: with select tags, the plugin
    /// schemas in scope besides those in-scope instances use (they carry no tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hybrid_scope: Vec<String>,
}

impl Plan {
    /// Whether the plan changes anything.
    pub fn has_changes(&self) -> bool {
        !self.steps.is_empty()
    }
}

/// Why no plan can be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "custom plugin `{plugin}` changes in place with update path `{}` while {} use it (fields: {})",
        update_path_str(*update_path),
        users(*instances, unmanaged.as_ref()),
        fields.join(", ")
    )]
    InPlaceRefused {
        plugin: String,
        update_path: UpdatePath,
        fields: Vec<String>,
        /// Live instances in scope.
        instances: usize,
        /// Live instances outside the select tags (plugsync cannot update them).
        unmanaged: Option<Unmanaged>,
    },
    #[error("custom plugin `{plugin}` would be deleted, but {} use it", unmanaged.describe())]
    UnmanagedReferences {
        plugin: String,
        unmanaged: Unmanaged,
    },
    #[error("the state in scope is empty but the control plane holds {live} custom plugin(s) and {instances} instance(s) in scope: refusing to delete them all")]
    EmptyState { live: usize, instances: usize },
    #[error("custom plugin `{plugin}` is {} on the control plane but declared {}", mode(*live_streamed), mode(!*live_streamed))]
    ModeChange { plugin: String, live_streamed: bool },
}

fn mode(streamed: bool) -> &'static str {
    if streamed {
        "streamed"
    } else {
        "hybrid-mode (`streamed: false`)"
    }
}

impl PlanError {
    /// The entity involved, for reports.
    pub fn entity(&self) -> Value {
        match self {
            PlanError::InPlaceRefused {
                plugin,
                update_path,
                fields,
                instances,
                unmanaged,
            } => json!({
                "kind": "custom_plugin",
                "name": plugin,
                "reason": "in_place_refused",
                "update_path": update_path,
                "fields": fields,
                "instances": instances,
                "unmanaged_instances": unmanaged.as_ref().map(|u| u.count).unwrap_or(0),
                "unmanaged_owners": unmanaged.as_ref().map(|u| u.owners.clone()).unwrap_or_default(),
            }),
            PlanError::UnmanagedReferences { plugin, unmanaged } => json!({
                "kind": "custom_plugin",
                "name": plugin,
                "reason": "unmanaged_references",
                "unmanaged_instances": unmanaged.count,
                "unmanaged_owners": unmanaged.owners,
            }),
            PlanError::EmptyState { live, instances } => json!({
                "kind": "state",
                "reason": "empty_state",
                "live_custom_plugins": live,
                "live_instances": instances,
            }),
            PlanError::ModeChange {
                plugin,
                live_streamed,
            } => json!({
                "kind": "custom_plugin",
                "name": plugin,
                "reason": "mode_change",
                "live_streamed": live_streamed,
            }),
        }
    }

    /// How to fix it.
    pub fn hint(&self) -> String {
        match self {
            PlanError::InPlaceRefused {
                plugin,
                unmanaged: Some(_),
                ..
            } => format!(
                "plugsync cannot update instances outside the select tags, so no flag allows this change in place: declare the new schema under a new name (e.g. `{plugin}-v2`) and keep `{plugin}` declared until the owners of those instances have moved them to it"
            ),
            PlanError::InPlaceRefused { plugin, .. } => format!(
                "declare a new version `{plugin}-v2` with `replaces: {plugin}` (instances move to it atomically, then `{plugin}` is deleted), or pass --allow-in-place to update in a maintenance window"
            ),
            PlanError::UnmanagedReferences { .. } => {
                "tag those instances with the select tags, or keep the plugin declared".to_string()
            }
            PlanError::EmptyState { .. } => {
                "check -s and --select-tag; pass --allow-empty to delete everything in scope".to_string()
            }
            PlanError::ModeChange { plugin, .. } => format!(
                "a plugin cannot change mode in place: declare `{plugin}-v2` in the new mode with `replaces: {plugin}`"
            ),
        }
    }
}

/// Who uses a plugin, for the in-place refusal.
fn users(instances: usize, unmanaged: Option<&Unmanaged>) -> String {
    match (instances, unmanaged) {
        (0, Some(u)) => u.describe(),
        (n, Some(u)) => format!("{n} live instance(s) in scope and {}", u.describe()),
        (n, None) => format!("{n} live instance(s)"),
    }
}

fn update_path_str(p: UpdatePath) -> &'static str {
    match p {
        UpdatePath::None => "none",
        UpdatePath::Short => "short",
        UpdatePath::Long => "long",
        UpdatePath::CpDpSync => "cp_dp_sync",
    }
}

/// Options of the policy.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub allow_in_place: bool,
    pub allow_empty: bool,
    pub select_tags: Vec<String>,
    /// Live instances outside the select tags, by the custom plugin they run.
    pub unmanaged_references: BTreeMap<String, Unmanaged>,
}

/// Builds the plan from a diff.
pub fn build(
    diff: &Diff,
    live: &LiveState,
    secrets: &[String],
    target: TargetInfo,
    source: SourceInfo,
    options: &PlanOptions,
) -> Result<Plan, Vec<PlanError>> {
    let mut errors = Vec::new();
    // Empty guard.
    let desired_empty = diff.plugins.iter().all(|p| p.desired.is_none())
        && diff.instances.iter().all(|i| !i.declared);
    if desired_empty
        && !options.allow_empty
        && (!live.custom_plugins.is_empty() || !live.plugins.is_empty())
    {
        errors.push(PlanError::EmptyState {
            live: live.custom_plugins.len(),
            instances: live.plugins.len(),
        });
    }
    let live_uses: BTreeMap<&str, usize> = live.plugins.iter().fold(BTreeMap::new(), |mut m, p| {
        *m.entry(p.name.as_str()).or_default() += 1;
        m
    });
    let mut maintenance_window = false;
    for p in &diff.plugins {
        if let (Some(d), Some(l)) = (&p.desired, &p.live) {
            if d.streamed != l.streamed {
                errors.push(PlanError::ModeChange {
                    plugin: p.name.clone(),
                    live_streamed: l.streamed,
                });
            }
        }
        if p.action == DiffAction::Update && p.update_path >= UpdatePath::Long {
            let instances = live_uses.get(p.name.as_str()).copied().unwrap_or(0);
            // Instances outside the select tags run the plugin too, on the same data planes;
            // plugsync cannot update them, so no flag makes the change safe for them.
            let unmanaged = options
                .unmanaged_references
                .get(&p.name)
                .filter(|u| u.count > 0)
                .cloned();
            if instances > 0 || unmanaged.is_some() {
                if options.allow_in_place && unmanaged.is_none() {
                    maintenance_window = true;
                } else {
                    errors.push(PlanError::InPlaceRefused {
                        plugin: p.name.clone(),
                        update_path: p.update_path,
                        fields: p
                            .schema_changes
                            .iter()
                            .filter(|c| c.update_path >= UpdatePath::Long)
                            .map(|c| c.field.clone())
                            .collect(),
                        instances,
                        unmanaged,
                    });
                }
            }
        }
        if p.action == DiffAction::Delete {
            if let Some(u) = options
                .unmanaged_references
                .get(&p.name)
                .filter(|u| u.count > 0)
            {
                errors.push(PlanError::UnmanagedReferences {
                    plugin: p.name.clone(),
                    unmanaged: u.clone(),
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut summary = Summary::default();
    let mut custom_plugins = Vec::new();
    let mut steps_by_stage: [Vec<Step>; 4] = Default::default();
    for p in &diff.plugins {
        count(&mut summary, p.action);
        let Some(action) = planned(p.action) else {
            continue;
        };
        custom_plugins.push(plugin_entry(p, action));
        let hybrid = rollout::is_hybrid(p);
        let kind = if hybrid {
            StepKind::PluginSchema
        } else {
            StepKind::CustomPlugin
        };
        let body = match action {
            Action::Create | Action::Update => {
                let d = p
                    .desired
                    .as_ref()
                    .expect("creates and updates have a declaration");
                Some(if hybrid {
                    json!({ "lua_schema": d.schema.text })
                } else {
                    json!({
                        "name": p.name,
                        "handler": d.handler.text,
                        "schema": d.schema.text,
                        "tags": p.tags,
                    })
                })
            }
            Action::Delete | Action::Migrate | Action::Rollout => None,
        };
        // A custom plugin is never migrated: anything but a create or update deletes it.
        let action = match action {
            Action::Create | Action::Update => action,
            Action::Delete | Action::Migrate | Action::Rollout => Action::Delete,
        };
        let stage = Stage::of_write(kind, action).expect("plugin writes have a stage");
        steps_by_stage[stage.index()].push(Step {
            stage,
            action,
            kind,
            name: p.name.clone(),
            // A hybrid-mode schema is addressed by name.
            id: Some(if hybrid { p.name.clone() } else { p.id.clone() }),
            from: None,
            body,
            rollout: None,
        });
    }
    let mut plugins = Vec::new();
    for i in &diff.instances {
        count(&mut summary, i.action);
        let Some(action) = planned(i.action) else {
            continue;
        };
        plugins.push(instance_entry(i, action, live, secrets));
        let stage =
            Stage::of_write(StepKind::Plugin, action).expect("instance writes have a stage");
        steps_by_stage[stage.index()].push(Step {
            stage,
            action,
            kind: StepKind::Plugin,
            name: i.name.clone(),
            id: Some(i.id.clone()),
            from: i.from.clone(),
            body: i.desired.as_deref().map(instance_body),
            rollout: None,
        });
    }
    let steps = rollout::place(diff, steps_by_stage, maintenance_window);
    let fingerprint = crate::model::hash::fingerprint(live);
    Ok(Plan {
        format_version: FORMAT_VERSION,
        target,
        source,
        fingerprint,
        maintenance_window,
        summary,
        custom_plugins,
        plugins,
        steps,
        select_tags: options.select_tags.clone(),
        hybrid_scope: rollout::hybrid_scope(diff),
    })
}

fn count(s: &mut Summary, a: DiffAction) {
    match a {
        DiffAction::Create => s.create += 1,
        DiffAction::Update => s.update += 1,
        DiffAction::Migrate => s.migrate += 1,
        DiffAction::Delete => s.delete += 1,
        DiffAction::Unchanged => s.unchanged += 1,
    }
}

/// The plan's action for a change (`None`: unchanged, no entry and no step).
fn planned(a: DiffAction) -> Option<Action> {
    match a {
        DiffAction::Create => Some(Action::Create),
        DiffAction::Update => Some(Action::Update),
        DiffAction::Migrate => Some(Action::Migrate),
        DiffAction::Delete => Some(Action::Delete),
        DiffAction::Unchanged => None,
    }
}

fn plugin_entry(p: &PluginDiff, action: Action) -> CustomPluginEntry {
    let desired = p.desired.as_ref();
    let live = p.live.as_ref().or(p.compared_with.as_ref());
    let sha = |t: &str| crate::model::hash::sha256_hex(t.as_bytes());
    let old_handler = live.map(|l| l.handler.clone()).unwrap_or_default();
    let old_schema = live.map(|l| l.schema.clone()).unwrap_or_default();
    let detail = PluginDetail {
        handler: desired
            .filter(|_| p.handler_changed)
            .map(|d| (old_handler.clone(), d.handler.text.to_string())),
        schema: desired
            .filter(|_| p.schema_changed)
            .map(|d| (old_schema.clone(), d.schema.text.to_string())),
        tags: {
            let old = live.map(|l| l.tags.clone()).unwrap_or_default();
            (desired.is_some() && old != p.tags).then(|| (old, p.tags.clone()))
        },
        compared_with: p
            .compared_with
            .as_ref()
            .filter(|c| c.name != p.name)
            .map(|c| c.name.clone()),
    };
    CustomPluginEntry {
        name: p.name.clone(),
        action,
        replaces: p.replaces.clone(),
        handler_sha256: desired.map(|d| sha(&d.handler.text)),
        schema_sha256: desired.map(|d| sha(&d.schema.text)),
        live_handler_sha256: p
            .live
            .as_ref()
            .filter(|l| l.streamed || !l.handler.is_empty())
            .map(|l| sha(&l.handler)),
        live_schema_sha256: p.live.as_ref().map(|l| sha(&l.schema)),
        update_path: p.update_path,
        schema_changes: p.schema_changes.clone(),
        detail,
    }
}

fn instance_entry(
    i: &InstanceDiff,
    action: Action,
    live: &LiveState,
    secrets: &[String],
) -> PluginEntry {
    let mut scope = BTreeMap::new();
    let (scope_ids, instance_name) = match (&i.desired, &i.live) {
        (Some(d), _) => (d.content.scope.clone(), d.decl.instance_name.clone()),
        (None, Some(l)) => (l.scope.clone(), l.instance_name.clone()),
        (None, None) => Default::default(),
    };
    for kind in ScopeKind::ALL {
        if let Some(id) = scope_ids.get(kind) {
            scope.insert(kind.key().to_string(), live.display(kind, id));
        }
    }
    let changes: Vec<FieldChange> = i
        .changes
        .iter()
        .map(|c| {
            let (old, new) =
                crate::model::mask::mask_change(c.old.as_ref(), c.new.as_ref(), secrets);
            FieldChange {
                path: c.path.clone(),
                old,
                new,
            }
        })
        .collect();
    let changed_fields = match action {
        Action::Update | Action::Migrate => {
            let set: BTreeSet<String> = changes.iter().map(|c| c.path.clone()).collect();
            set.into_iter().collect()
        }
        Action::Create | Action::Delete | Action::Rollout => Vec::new(),
    };
    PluginEntry {
        name: i.name.clone(),
        from: i.from.clone(),
        id: i.id.clone(),
        action,
        instance_name,
        scope,
        changed_fields,
        changes,
    }
}

/// The request body of an instance write: config as written (templates kept), scope ids. An
/// instance written without a config sends `{}` (Kong fills the defaults), or `null` when its
/// plugin's schema declares no `config` (Kong refuses any value there).
fn instance_body(d: &crate::diff::DesiredInstance) -> Value {
    let config = match d.decl.config_as_written() {
        Some(c) => c.clone(),
        None if d.content.config.is_null() => Value::Null,
        None => json!({}),
    };
    let mut body = json!({
        "name": d.content.name,
        "instance_name": d.content.instance_name,
        "config": config,
        "enabled": d.content.enabled,
        "protocols": d.content.protocols,
        "condition": d.content.condition,
        "ordering": d.content.ordering,
        "tags": d.content.tags,
    });
    for kind in ScopeKind::ALL {
        body[kind.key()] = match d.content.scope.get(kind) {
            Some(id) => json!({ "id": id }),
            None => Value::Null,
        };
    }
    body
}

#[cfg(test)]
mod tests;
