//! Renderers: the last pure stage of the pipeline. They read one [`Plan`] (the serialisable plan
//! view every format shares) and return a `String`; they never write, read the clock or look at
//! the environment, so the same plan always renders to the same bytes.
//!
//! * [`json`] is the plan file of CONTRACT §4.4, exactly as `Plan` serialises.
//! * [`text`] is the Terraform-like terminal view (§4.5).
//! * [`markdown`] is the PR-comment and step-summary view (§4.5), cut to a size limit.
//!
//! Text and Markdown also read the plan's people-only fields (`#[serde(skip)]`: Lua texts, tag
//! and field changes), which hold masked values only. Neither ever prints a step's `body`.
//! `docs/plan-format.md` describes all three renderings.

use serde_json::Value;

use crate::model::{Action, StepKind, TargetKind};
use crate::plan::{CustomPluginEntry, Plan, PluginEntry, Stage};
use crate::schema::classify::{SchemaChange, UpdatePath};

mod markdown;
mod text;

pub use markdown::{markdown, MarkdownOptions, DEFAULT_MAX_CHARS};
pub use text::{text, TextOptions};

#[cfg(test)]
mod tests;

/// The plan as pretty-printed JSON (CONTRACT §4.4), with a trailing newline.
pub fn json(plan: &Plan) -> String {
    match serde_json::to_string_pretty(plan) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        // `Plan` has only string map keys, so serialisation cannot fail; stay total anyway.
        Err(e) => format!(
            "{{\n  \"error\": {}\n}}\n",
            Value::String(format!("cannot serialise the plan: {e}"))
        ),
    }
}

/// A new Lua file at most this many lines long is shown in full; a longer one only by size and
/// digest.
pub(crate) const SHORT_FILE_LINES: usize = 20;

/// The symbol of an action, as Terraform draws it (`±` for a migration).
pub(crate) fn symbol(action: Action) -> &'static str {
    match action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Migrate => "±",
        Action::Delete => "-",
        Action::Rollout => "?",
    }
}

/// Hybrid mode: the plan's order as numbered lines when it holds data-plane rollouts (which
/// plugsync shows but does not perform); `None` otherwise. Consecutive control-plane steps of
/// the same kind and action share a line.
pub(crate) fn rollout_order(plan: &Plan) -> Option<Vec<String>> {
    if !plan.steps.iter().any(|s| s.is_rollout()) {
        return None;
    }
    let mut lines: Vec<String> = Vec::new();
    let mut group: Vec<&crate::plan::Step> = Vec::new();
    let flush = |group: &mut Vec<&crate::plan::Step>, lines: &mut Vec<String>| {
        if let Some(first) = group.first() {
            let what = match first.kind {
                StepKind::PluginSchema => "plugin schema",
                StepKind::CustomPlugin => "custom plugin",
                StepKind::Plugin | StepKind::Rollout => "plugin instance",
            };
            let mut names: Vec<&str> = group.iter().map(|s| s.name.as_str()).collect();
            names.dedup();
            let count = if group.len() > 1 {
                format!("{} {what}s", group.len())
            } else {
                what.to_string()
            };
            lines.push(format!(
                "control plane: {} {count} ({})",
                first.action,
                names.join(", ")
            ));
        }
        group.clear();
    };
    for step in &plan.steps {
        if let Some(r) = &step.rollout {
            flush(&mut group, &mut lines);
            lines.push(format!(
                "data planes (not performed by plugsync): roll out {} — {}",
                r.describe(),
                r.command
            ));
            continue;
        }
        if group
            .first()
            .is_some_and(|g| g.kind != step.kind || g.action != step.action)
        {
            flush(&mut group, &mut lines);
        }
        group.push(step);
    }
    flush(&mut group, &mut lines);
    Some(
        lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| format!("{}. {l}", i + 1))
            .collect(),
    )
}

/// Whether the plan changes anything.
pub(crate) fn has_changes(plan: &Plan) -> bool {
    plan.summary.has_changes() || plan.has_changes()
}

/// The summary sentence that ends every text rendering.
pub(crate) fn summary_line(plan: &Plan) -> String {
    if has_changes(plan) {
        let s = &plan.summary;
        format!(
            "Plan: {} to create, {} to update, {} to migrate, {} to delete, {} unchanged.",
            s.create, s.update, s.migrate, s.delete, s.unchanged
        )
    } else {
        "No changes. The control plane matches the state.".to_string()
    }
}

/// How people name the kind of control plane.
pub(crate) fn target_kind(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Konnect => "Konnect",
        TargetKind::Kong => "Kong",
        TargetKind::Local | TargetKind::Git => kind.as_str(),
    }
}

/// Whether a custom plugin's update path is worth printing: updates and new versions were
/// classified against a live schema; plain creations and deletions were not.
pub(crate) fn shows_update_path(c: &CustomPluginEntry) -> bool {
    match c.action {
        Action::Update => true,
        Action::Create => {
            c.replaces.is_some()
                || c.detail.compared_with.is_some()
                || c.update_path != UpdatePath::None
        }
        Action::Migrate | Action::Delete | Action::Rollout => false,
    }
}

/// The live plugin a changed plugin's schema and Lua were compared with.
pub(crate) fn compared_with(c: &CustomPluginEntry) -> &str {
    c.detail
        .compared_with
        .as_deref()
        .or(c.replaces.as_deref())
        .unwrap_or(&c.name)
}

/// One schema change as a sentence: `config.window: added (required, no default) → long`,
/// followed by ` — detail` when the classifier gave one.
pub(crate) fn schema_change_line(ch: &SchemaChange) -> String {
    let mut line = format!("{}: {}", ch.field, ch.change.as_str());
    if is_field(&ch.field) {
        line.push_str(if ch.required {
            " (required"
        } else {
            " (optional"
        });
        line.push_str(if ch.has_default {
            ", with default)"
        } else {
            ", no default)"
        });
    }
    line.push_str(" → ");
    line.push_str(ch.update_path.as_str());
    if let Some(d) = ch.detail.as_deref().filter(|d| !d.is_empty()) {
        line.push_str(" — ");
        line.push_str(d);
    }
    line
}

/// Whether a schema-change path names a field (`config.@entity` names the record's entity
/// checks, which have no required or default attribute).
pub(crate) fn is_field(path: &str) -> bool {
    !path.split('.').any(|seg| seg.starts_with('@'))
}

/// The scope of an instance: `service=payments, route=checkout`, or `global`.
pub(crate) fn scope_label(p: &PluginEntry) -> String {
    if p.scope.is_empty() {
        "global".to_string()
    } else {
        p.scope
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Which instance an entry is, for people: `instance payments-guard, service=payments, id 7d…`.
pub(crate) fn instance_label(p: &PluginEntry) -> String {
    let mut parts = Vec::new();
    if let Some(n) = p.instance_name.as_deref().filter(|n| !n.is_empty()) {
        parts.push(format!("instance {n}"));
    }
    parts.push(scope_label(p));
    parts.push(format!("id {}", p.id));
    parts.join(", ")
}

/// A value as compact JSON, `(unset)` when the field is absent on that side.
pub(crate) fn compact(value: Option<&Value>) -> String {
    match value {
        Some(v) => v.to_string(),
        None => "(unset)".to_string(),
    }
}

/// A leaf-level field change, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Leaf {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// The instance's field changes down to leaves: an object on either side is expanded into its
/// fields so that no rendering ever prints a whole object for an update.
pub(crate) fn leaf_changes(p: &PluginEntry) -> Vec<Leaf> {
    let mut out = Vec::new();
    for c in &p.changes {
        expand(&c.path, c.old.as_ref(), c.new.as_ref(), &mut out);
    }
    out
}

fn expand(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Leaf>) {
    let as_object = |v: Option<&Value>| match v {
        Some(Value::Object(m)) => Some(m.clone()),
        None | Some(Value::Null) => Some(serde_json::Map::new()),
        Some(_) => None,
    };
    let either_object =
        matches!(old, Some(Value::Object(_))) || matches!(new, Some(Value::Object(_)));
    if either_object {
        if let (Some(a), Some(b)) = (as_object(old), as_object(new)) {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                expand(&child, a.get(k), b.get(k), out);
            }
            return;
        }
    }
    let same = match (old, new) {
        (Some(a), Some(b)) => a == b,
        (None, None) => true,
        (Some(x), None) | (None, Some(x)) => x.is_null(),
    };
    if !same {
        out.push(Leaf {
            path: path.to_string(),
            old: old.cloned(),
            new: new.cloned(),
        });
    }
}

/// How one changed Lua file is shown.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LuaView {
    /// A new file (nothing to compare with): its size and digest, and the whole text as a diff
    /// from `/dev/null` when it is short.
    New {
        bytes: usize,
        lines: usize,
        sha256: Option<String>,
        inline: Option<String>,
    },
    /// A unified diff (3 lines of context) from the live file to the desired one.
    Changed(String),
}

/// The view of a changed `handler.lua` or `schema.lua` of plugin `c` (`file` is the file name).
pub(crate) fn lua_view(
    c: &CustomPluginEntry,
    file: &str,
    old: &str,
    new: &str,
    sha256: Option<&str>,
) -> LuaView {
    let new_path = format!("desired/{}/{file}", c.name);
    if old.is_empty() {
        let lines = new.lines().count();
        let inline = (lines <= SHORT_FILE_LINES).then(|| unified(old, new, "/dev/null", &new_path));
        LuaView::New {
            bytes: new.len(),
            lines,
            sha256: sha256.map(str::to_string),
            inline,
        }
    } else {
        let old_path = format!("live/{}/{file}", compared_with(c));
        LuaView::Changed(unified(old, new, &old_path, &new_path))
    }
}

fn unified(old: &str, new: &str, old_path: &str, new_path: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_path, new_path)
        .to_string()
}

/// The Lua files of a plugin that changed, in a fixed order: `(file name, view)`.
pub(crate) fn lua_views(c: &CustomPluginEntry) -> Vec<(&'static str, LuaView)> {
    let mut out = Vec::new();
    if let Some((old, new)) = &c.detail.handler {
        out.push((
            "handler.lua",
            lua_view(c, "handler.lua", old, new, c.handler_sha256.as_deref()),
        ));
    }
    if let Some((old, new)) = &c.detail.schema {
        out.push((
            "schema.lua",
            lua_view(c, "schema.lua", old, new, c.schema_sha256.as_deref()),
        ));
    }
    out
}

/// What a banner warns about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BannerKind {
    /// Entities the plan deletes.
    Deletion,
    /// A `long` or `cp_dp_sync` schema change.
    Breaking,
    /// The plan changes plugins in place with breaking changes (`--allow-in-place`).
    MaintenanceWindow,
}

/// A warning shown before the summary: a title, a paragraph and a list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Banner {
    pub kind: BannerKind,
    pub title: String,
    pub body: Vec<String>,
    pub items: Vec<String>,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The plan's banners, in order: deletions, each `long`/`cp_dp_sync` change, the maintenance
/// window. `name` formats an entity name for the output (verbatim for text, a code span for
/// Markdown); `label` formats any other free text coming from the plan.
pub(crate) fn banners(
    plan: &Plan,
    name: &dyn Fn(&str) -> String,
    label: &dyn Fn(&str) -> String,
) -> Vec<Banner> {
    let mut out = Vec::new();

    let deleted_plugins: Vec<&CustomPluginEntry> = plan
        .custom_plugins
        .iter()
        .filter(|c| c.action == Action::Delete)
        .collect();
    let deleted_instances: Vec<&PluginEntry> = plan
        .plugins
        .iter()
        .filter(|p| p.action == Action::Delete)
        .collect();
    if !deleted_plugins.is_empty() || !deleted_instances.is_empty() {
        let mut what = Vec::new();
        if !deleted_plugins.is_empty() {
            what.push(plural(
                deleted_plugins.len(),
                "custom plugin",
                "custom plugins",
            ));
        }
        if !deleted_instances.is_empty() {
            what.push(plural(
                deleted_instances.len(),
                "plugin instance",
                "plugin instances",
            ));
        }
        let mut items: Vec<String> = deleted_plugins
            .iter()
            .map(|c| format!("custom plugin {}", name(&c.name)))
            .collect();
        items.extend(deleted_instances.iter().map(|p| {
            format!(
                "instance of {} ({})",
                name(&p.name),
                label(&instance_label(p))
            )
        }));
        out.push(Banner {
            kind: BannerKind::Deletion,
            title: format!("this plan deletes {}", what.join(" and ")),
            body: vec![format!(
                "Instances are deleted before the custom plugins they ran (stages {} and {}); \
                 a custom plugin is deleted only once no instance uses it.",
                Stage::InstanceDeletes,
                Stage::PluginDeletes
            )],
            items,
        });
    }

    for c in plan
        .custom_plugins
        .iter()
        .filter(|c| c.action != Action::Delete && c.update_path >= UpdatePath::Long)
    {
        let path = c.update_path.as_str();
        let mut body = vec![match c.update_path {
            UpdatePath::CpDpSync => {
                "The old and new schemas are incompatible (a field changed type, or a \
                 required field without a default was removed): a data plane that receives a \
                 configuration written for one schema while it runs the other rejects the whole \
                 payload until both sides are in sync."
                    .to_string()
            }
            _ => "Existing instance configurations must change to match the new schema (for \
                 example a required field without a default was added, a field was removed, or \
                 a constraint was tightened) before data planes receive them."
                .to_string(),
        }];
        let old = compared_with(c);
        if c.action == Action::Create && old != c.name {
            body.push(format!(
                "{} is a new version of {}: each instance moves to it with one atomic update \
                 that keeps its id (stage {}), and {} is deleted only after no instance uses it \
                 (stage {}).",
                name(&c.name),
                name(old),
                Stage::InstanceWrites,
                name(old),
                Stage::PluginDeletes
            ));
        } else if plan.maintenance_window {
            body.push(format!(
                "{} is changed in place (allowed by --allow-in-place): the instances that use \
                 it are updated right after it, and until they are, data planes may reject the \
                 configuration.",
                name(&c.name)
            ));
        } else {
            body.push(format!(
                "{} is changed in place: it has no live instances, so nothing running depends \
                 on its old schema.",
                name(&c.name)
            ));
        }
        let items = c
            .schema_changes
            .iter()
            .filter(|ch| ch.update_path >= UpdatePath::Long)
            .map(|ch| label(&schema_change_line(ch)))
            .collect();
        out.push(Banner {
            kind: BannerKind::Breaking,
            title: format!("{} has update path {path}", name(&c.name)),
            body,
            items,
        });
    }

    if plan.maintenance_window {
        let in_place: Vec<String> = plan
            .custom_plugins
            .iter()
            .filter(|c| c.action == Action::Update && c.update_path >= UpdatePath::Long)
            .map(|c| name(&c.name))
            .collect();
        let mut body = vec![
            "This plan was made with --allow-in-place: it changes custom plugins in place with \
             breaking schema changes, then updates their instances. Between the two, data planes \
             may reject configuration payloads (\"bad config received from Control Plane\")."
                .to_string(),
        ];
        body.push(
            "Apply it in a maintenance window and watch the data planes (--wait).".to_string(),
        );
        out.push(Banner {
            kind: BannerKind::MaintenanceWindow,
            title: "this plan needs a maintenance window".to_string(),
            body,
            items: in_place
                .into_iter()
                .map(|n| format!("{n} is changed in place"))
                .collect(),
        });
    }
    out
}
