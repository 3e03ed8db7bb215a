//! Hybrid mode: where the data-plane rollouts go in a plan. plugsync writes a hybrid-mode
//! plugin's schema to the control plane (`plugin-schemas`) but cannot install its files on the
//! data planes; it shows those rollouts as steps, and `sync` stops at each one.
//!
//! The order follows Kong's update paths for hybrid mode and never makes a data plane receive
//! an instance of a plugin version it does not hold:
//!
//! * a new plugin (also a new version that `replaces` an old one): roll out first a bundle
//!   that holds it, and keeps every version still in use (`expand`); then the control-plane
//!   schema, instance migrations, deletion of the old schema; then roll out the bundle without
//!   the old versions (`contract`);
//! * a `none`/`short` change in place: the control-plane schema, then the rollout (`schema`),
//!   then the instance writes that may use the new fields;
//! * a `long`/`cp_dp_sync` change in place allowed with `--allow-in-place`: the docs'
//!   maintenance-window order — control-plane schema, instances, then the rollout (`contract`);
//! * a deleted plugin: its instances, its schema, then the rollout without it (`contract`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::order::Stage;
use super::Step;
use crate::diff::{Action, Diff, PluginDiff};
use crate::model::hash::sha256_hex;
use crate::model::StepKind;
use crate::schema::classify::UpdatePath;

/// Which rollout of a change a data-plane rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// New plugins (and new versions) join the bundle; every version in use stays.
    Expand,
    /// A plugin's schema changes in place.
    Schema,
    /// Versions no longer used leave the bundle.
    Contract,
}

impl Phase {
    /// The plan's spelling: `expand`, `schema`, `contract`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Expand => "expand",
            Phase::Schema => "schema",
            Phase::Contract => "contract",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One plugin version a bundle holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BundlePlugin {
    pub name: String,
    pub schema_sha256: String,
    /// `null` for an old version whose handler the control plane does not hold (it comes
    /// from the state at an earlier commit: `plugsync bundle --base REF`).
    pub handler_sha256: Option<String>,
}

/// A data-plane rollout: what every node must hold once it is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub phase: Phase,
    /// The hybrid-mode plugins the bundle holds, by name.
    pub plugins: Vec<BundlePlugin>,
    /// Plugins the bundle no longer holds.
    pub removes: Vec<String>,
    /// Identifies this rollout: a hash of `plugins` and `removes`. `sync --rolled-out ID`
    /// confirms it on targets that do not report their nodes' plugins.
    pub id: String,
    /// How to build the bundle.
    pub command: String,
}

impl Rollout {
    /// Whether every node in `nodes` holds the bundle: each of its plugins at the same schema
    /// (and handler, where both are known), and none of the removed ones.
    pub fn satisfied_by(&self, nodes: &[crate::backend::NodePlugins]) -> bool {
        !nodes.is_empty() && self.shortfall(nodes).is_empty()
    }

    /// What each node that does not hold the bundle lacks or still holds, one entry per node:
    /// `node-1 lacks x-v2, holds x`.
    pub fn shortfall(&self, nodes: &[crate::backend::NodePlugins]) -> Vec<String> {
        nodes
            .iter()
            .filter_map(|n| {
                let lacks: Vec<&str> = self
                    .plugins
                    .iter()
                    .filter(|want| {
                        !n.plugins.iter().any(|(name, schema, handler)| {
                            *name == want.name
                                && *schema == want.schema_sha256
                                && match (&want.handler_sha256, handler) {
                                    (Some(a), Some(b)) => a == b,
                                    _ => true,
                                }
                        })
                    })
                    .map(|p| p.name.as_str())
                    .collect();
                let holds: Vec<&str> = n
                    .plugins
                    .iter()
                    .filter(|(name, _, _)| self.removes.contains(name))
                    .map(|(name, _, _)| name.as_str())
                    .collect();
                let mut parts = Vec::new();
                if !lacks.is_empty() {
                    parts.push(format!("lacks {}", lacks.join(", ")));
                }
                if !holds.is_empty() {
                    parts.push(format!("still holds {}", holds.join(", ")));
                }
                (!parts.is_empty()).then(|| format!("{} {}", n.node, parts.join(", ")))
            })
            .collect()
    }

    /// One line for people: `expand: holds x-v2, x (kept); removes …`.
    pub fn describe(&self) -> String {
        let holds: Vec<String> = self
            .plugins
            .iter()
            .map(|p| {
                if p.handler_sha256.is_none() {
                    format!("{} (kept)", p.name)
                } else {
                    p.name.clone()
                }
            })
            .collect();
        let mut out = format!(
            "bundle {} holding {}",
            self.id,
            if holds.is_empty() {
                "no hybrid-mode plugin".to_string()
            } else {
                holds.join(", ")
            }
        );
        if !self.removes.is_empty() {
            out.push_str(&format!(" (removes {})", self.removes.join(", ")));
        }
        out
    }
}

/// Whether a changed plugin is a hybrid-mode one (declared, or live, with `streamed: false`).
pub fn is_hybrid(p: &PluginDiff) -> bool {
    match (&p.desired, &p.live) {
        (Some(d), _) => !d.streamed,
        (None, Some(l)) => !l.streamed,
        (None, None) => false,
    }
}

/// Names of the hybrid-mode plugins the state declares or replaces.
pub fn hybrid_scope(diff: &Diff) -> Vec<String> {
    let mut out: Vec<String> = diff
        .plugins
        .iter()
        .filter_map(|p| p.desired.as_ref())
        .filter(|d| !d.streamed)
        .flat_map(|d| std::iter::once(d.name.clone()).chain(d.replaces.clone()))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn rollout_step(phase: Phase, plugins: Vec<BundlePlugin>, removes: Vec<String>) -> Step {
    let mut key = String::new();
    for p in &plugins {
        key.push_str(&format!(
            "{} {} {}\n",
            p.name,
            p.schema_sha256,
            p.handler_sha256.as_deref().unwrap_or("-")
        ));
    }
    for r in &removes {
        key.push_str(&format!("- {r}\n"));
    }
    let id = sha256_hex(key.as_bytes())[..16].to_string();
    let keeps_old = plugins.iter().any(|p| p.handler_sha256.is_none());
    let command = if keeps_old {
        "plugsync bundle --out DIR --base REF   (REF: a commit whose state still declares the kept versions)".to_string()
    } else {
        "plugsync bundle --out DIR".to_string()
    };
    Step {
        stage: Stage::of_rollout(phase),
        action: crate::model::Action::Rollout,
        kind: StepKind::Rollout,
        name: phase.as_str().into(),
        id: None,
        from: None,
        body: None,
        rollout: Some(Rollout {
            phase,
            plugins,
            removes,
            id,
            command,
        }),
    }
}

/// Orders the control-plane steps (by stage, in the order of [`Stage::ALL`]) and the rollouts
/// they need into one list.
pub fn place(diff: &Diff, stages: [Vec<Step>; 4], maintenance_window: bool) -> Vec<Step> {
    let hybrid: Vec<&PluginDiff> = diff.plugins.iter().filter(|p| is_hybrid(p)).collect();
    if hybrid.is_empty() {
        return stages.into_iter().flatten().collect();
    }
    // Final bundle: every declared hybrid-mode plugin. Old versions: live ones going away.
    let mut last: BTreeMap<String, BundlePlugin> = BTreeMap::new();
    let mut old: BTreeMap<String, BundlePlugin> = BTreeMap::new();
    let sha = |t: &str| sha256_hex(t.as_bytes());
    for p in &hybrid {
        match (&p.desired, &p.live) {
            (Some(d), _) => {
                last.insert(
                    d.name.clone(),
                    BundlePlugin {
                        name: d.name.clone(),
                        schema_sha256: sha(&d.schema.text),
                        handler_sha256: Some(sha(&d.handler.text)),
                    },
                );
            }
            (None, Some(l)) if p.action == Action::Delete => {
                old.insert(
                    l.name.clone(),
                    BundlePlugin {
                        name: l.name.clone(),
                        schema_sha256: sha(&l.schema),
                        handler_sha256: None,
                    },
                );
            }
            _ => {}
        }
    }
    let creates = hybrid.iter().any(|p| p.action == Action::Create);
    let in_place: Vec<&&PluginDiff> = hybrid
        .iter()
        .filter(|p| p.action == Action::Update && p.schema_changed)
        .collect();
    let window = maintenance_window && in_place.iter().any(|p| p.update_path >= UpdatePath::Long);
    let both: Vec<BundlePlugin> = last.values().chain(old.values()).cloned().collect();
    let [s1, s2, s3, s4] = stages;
    let mut out = Vec::new();
    if creates {
        out.push(rollout_step(
            Phase::Expand,
            sorted(both.clone()),
            Vec::new(),
        ));
    }
    out.extend(s1);
    if !creates && !in_place.is_empty() && !window {
        out.push(rollout_step(Phase::Schema, sorted(both), Vec::new()));
    }
    out.extend(s2);
    out.extend(s3);
    out.extend(s4);
    if !old.is_empty() || window {
        out.push(rollout_step(
            Phase::Contract,
            sorted(last.into_values().collect()),
            old.into_keys().collect(),
        ));
    }
    out
}

fn sorted(mut v: Vec<BundlePlugin>) -> Vec<BundlePlugin> {
    v.sort();
    v
}

/// The steps up to the first rollout not yet done (`done` says which are), and that rollout.
pub fn split<'a>(
    steps: &'a [Step],
    done: &dyn Fn(&Rollout) -> bool,
) -> (Vec<&'a Step>, Option<&'a Step>) {
    let mut before = Vec::new();
    for s in steps {
        if let Some(r) = &s.rollout {
            if !done(r) {
                return (before, Some(s));
            }
            continue;
        }
        before.push(s);
    }
    (before, None)
}
