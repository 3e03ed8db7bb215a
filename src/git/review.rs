//! Offline review (`plugsync diff --base REF [--head REF]`): two revisions of the state
//! compared with no control plane, through the same diff, policy and renderers as a plan.
//!
//! The base revision stands in for the control plane: each declared custom plugin becomes a
//! live custom plugin, each instance a live instance whose config is filled by its schema as
//! Kong would store it, and scope names (services, routes, consumers, consumer groups) are
//! used as their own ids. The head is then planned against it. Pure: values in, values out.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::lua;
use crate::model::TargetKind;
use crate::model::{
    DesiredState, InstanceDecl, LiveCustomPlugin, LivePlugin, LiveState, ScopeEntity, ScopeKind,
};
use crate::plan::prepare::{prepare, PrepareError};
use crate::plan::{Plan, PlanOptions, SourceInfo, TargetInfo};
use crate::schema::validate;

fn merged(tags: &[String], select: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = tags.iter().chain(select).cloned().collect();
    set.into_iter().collect()
}

/// A stable id for an instance of the base revision: its declared id, else one made from its
/// identity (so the same review always prints the same ids).
fn base_instance_id(p: &InstanceDecl) -> String {
    if let Some(id) = &p.id {
        return id.clone();
    }
    if let Some(n) = &p.instance_name {
        return format!("base:{n}");
    }
    let scope: Vec<String> = ScopeKind::ALL
        .iter()
        .filter_map(|k| p.scope.get(*k).map(|v| format!("{}={v}", k.key())))
        .collect();
    if scope.is_empty() {
        format!("base:{}@global", p.name)
    } else {
        format!("base:{}@{}", p.name, scope.join(","))
    }
}

/// The live state a control plane synced to `base` would hold, with `select_tags` (the
/// base's own merged with the command line's) on every entity. `head` contributes the scope
/// names it uses, so both revisions resolve them.
pub fn live_from_desired(
    base: &DesiredState,
    head: &DesiredState,
    select_tags: &[String],
) -> LiveState {
    let mut live = LiveState::default();
    for c in &base.custom_plugins {
        live.custom_plugins.push(LiveCustomPlugin {
            id: c.id.clone().unwrap_or_else(|| c.name.clone()),
            name: c.name.clone(),
            handler: c.handler.text.clone(),
            schema: c.schema.text.clone(),
            tags: if c.streamed {
                merged(&c.tags, select_tags)
            } else {
                Vec::new()
            },
            streamed: c.streamed,
        });
    }
    for p in &base.plugins {
        let schema = base
            .custom_plugin(&p.name)
            .and_then(|c| lua::evaluate_schema(&c.schema.text).ok());
        let protocols = p
            .protocols
            .clone()
            .map(Value::from)
            .or_else(|| schema.as_ref().map(validate::default_protocols))
            .unwrap_or_else(|| Value::Array(Vec::new()));
        // Kong stores the config filled with defaults; a config the base schema rejects is kept
        // as written (the review still shows what changes).
        let config = schema
            .as_ref()
            .and_then(|s| {
                validate::validate_plugin(s, p.config.as_ref(), Some(&protocols), &p.scope.bound())
                    .ok()
            })
            .or_else(|| p.config.clone())
            .unwrap_or_else(|| Value::Object(Default::default()));
        let mut protocols: Vec<String> = protocols
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        protocols.sort();
        protocols.dedup();
        live.plugins.push(LivePlugin {
            id: base_instance_id(p),
            name: p.name.clone(),
            instance_name: p.instance_name.clone(),
            config,
            enabled: p.enabled.unwrap_or(true),
            protocols,
            scope: p.scope.clone(),
            condition: p.condition.clone(),
            ordering: p.ordering.clone(),
            tags: merged(&p.tags, select_tags),
        });
    }
    for kind in ScopeKind::ALL {
        let names: BTreeSet<&String> = base
            .plugins
            .iter()
            .chain(&head.plugins)
            .filter_map(|p| p.scope.get(kind))
            .collect();
        let entities = names.into_iter().map(|n| ScopeEntity {
            id: n.clone(),
            name: Some(n.clone()),
        });
        match kind {
            ScopeKind::Service => live.services.extend(entities),
            ScopeKind::Route => live.routes.extend(entities),
            ScopeKind::Consumer => live.consumers.extend(entities),
            ScopeKind::ConsumerGroup => live.consumer_groups.extend(entities),
        }
    }
    live
}

/// What an offline review compares.
pub struct Review<'a> {
    pub base: &'a DesiredState,
    /// The base reference as given and its commit id.
    pub base_ref: &'a str,
    pub base_commit: &'a str,
    pub head: &'a DesiredState,
    /// Where the head came from.
    pub head_source: SourceInfo,
    /// Select tags from the command line.
    pub select_tags: &'a [String],
    pub allow_in_place: bool,
    pub allow_empty: bool,
}

/// Plans the head against the base. The plan's target is `{"kind": "git", "address": BASE
/// COMMIT, "control_plane": BASE REF}`; ids of entities the head creates are `new-1`, `new-2`, …
/// in plan order, so a review is reproducible byte for byte.
pub fn plan(review: &Review<'_>) -> Result<Plan, PrepareError> {
    let base_tags = merged(&review.base.select_tags, review.select_tags);
    let head_tags = merged(&review.head.select_tags, review.select_tags);
    let live = live_from_desired(review.base, review.head, &base_tags);
    let options = PlanOptions {
        allow_in_place: review.allow_in_place,
        allow_empty: review.allow_empty,
        select_tags: head_tags,
        unmanaged_references: Default::default(),
    };
    let target = TargetInfo {
        kind: TargetKind::Git,
        address: review.base_commit.to_string(),
        control_plane: review.base_ref.to_string(),
    };
    let mut n = 0usize;
    let mut new_id = || {
        n += 1;
        format!("new-{n}")
    };
    prepare(
        review.head,
        &live,
        target,
        review.head_source.clone(),
        &options,
        &mut new_id,
    )
}
