//! Offline review (`plugsync diff --base REF [--head REF]`): two revisions of the state
//! compared with no control plane, through the same plan operation, policy and renderers as a
//! plan against a control plane.
//!
//! The base revision is a [`LiveSource`] ([`GitBase`]): each declared custom plugin becomes a
//! live custom plugin, each instance a live instance whose config is filled by its schema as
//! Kong would store it, and scope names (services, routes, consumers, consumer groups) are
//! used as their own ids. The head is loaded and linted as for any plan, then planned against
//! it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::backend::Fetched;
use crate::error::CommandError;
use crate::git::{self, GitTree};
use crate::lint::LintOptions;
use crate::lua::SchemaCache;
use crate::model::TargetKind;
use crate::model::{
    DesiredState, InstanceDecl, LiveCustomPlugin, LivePlugin, LiveState, ScopeEntity, ScopeKind,
};
use crate::ops::check::{self, CheckRequest};
use crate::ops::plan::{self, LiveSource, PlanRequest};
use crate::ops::{Checked, Progress};
use crate::plan::prepare::PrepareError;
use crate::plan::{Plan, TargetInfo};
use crate::schema::validate;
use crate::state::{self, FileSource};

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
/// names it uses, so both revisions resolve them. Base schemas are evaluated through
/// `schemas` (a plugin both revisions declare unchanged is evaluated once).
pub fn live_from_desired(
    base: &DesiredState,
    head: &DesiredState,
    select_tags: &[String],
    schemas: &SchemaCache,
) -> LiveState {
    let mut live = LiveState::default();
    for c in &base.custom_plugins {
        live.custom_plugins.push(LiveCustomPlugin {
            id: c.id.clone().unwrap_or_else(|| c.name.clone()),
            name: c.name.clone(),
            handler: c.handler.text.to_string(),
            schema: c.schema.text.to_string(),
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
            .and_then(|c| schemas.evaluate(&c.schema.text).ok());
        let protocols = p
            .protocols
            .clone()
            .map(Value::from)
            .or_else(|| schema.as_deref().map(validate::default_protocols))
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
        let protocols = crate::model::live::sorted_strings(Some(&protocols));
        live.plugins.push(LivePlugin {
            id: base_instance_id(p),
            name: p.name.clone(),
            instance_name: p.instance_name.clone(),
            config: config.into(),
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

/// The state at a git revision, standing in for the control plane.
pub struct GitBase {
    pub state: DesiredState,
    /// The reference as given and its commit id.
    pub reference: String,
    pub commit: String,
    /// Select tags from the command line.
    pub select_tags: Vec<String>,
}

impl LiveSource for GitBase {
    /// `{"kind": "git", "address": BASE COMMIT, "control_plane": BASE REF}`.
    fn target(&self) -> TargetInfo {
        TargetInfo {
            kind: TargetKind::Git,
            address: self.commit.clone(),
            control_plane: self.reference.clone(),
        }
    }

    fn read(&self, checked: &Checked) -> Result<Fetched, CommandError> {
        let tags = merged(&self.state.select_tags, &self.select_tags);
        Ok(Fetched {
            live: live_from_desired(&self.state, &checked.state, &tags, &checked.schemas),
            unmanaged_references: Default::default(),
        })
    }

    /// `new-1`, `new-2`, … in plan order, so a review is reproducible byte for byte.
    fn new_ids(&self) -> Box<dyn FnMut() -> String> {
        let mut n = 0usize;
        Box::new(move || {
            n += 1;
            format!("new-{n}")
        })
    }

    fn plan_error(&self, e: PrepareError, checked: &Checked) -> CommandError {
        let hint = match &e {
            PrepareError::Plan(errs) => errs.first().map(|e| e.hint()),
            _ => None,
        };
        let mut secrets = self.state.secrets.clone();
        secrets.extend(checked.state.secrets.iter().cloned());
        // A review reports kind `error` (not `plan_refused`), with the policy's hint only.
        CommandError::new(e.to_string())
            .context(format!("cannot plan `{}` → head", self.reference))
            .masked(&secrets)
            .with_hint_opt(hint)
    }
}

/// What to review.
pub struct ReviewRequest<'a> {
    /// State files or directories (the same paths at both revisions).
    pub paths: &'a [PathBuf],
    /// The base revision.
    pub base: &'a str,
    /// The head revision; `None`: the working tree.
    pub head: Option<&'a str>,
    /// Select tags from the command line.
    pub select_tags: &'a [String],
    /// The lint options, or why the flags give none (reported once the head is loaded, as
    /// for any plan).
    pub lint: &'a dyn Fn() -> Result<LintOptions, CommandError>,
    pub plan: PlanRequest,
    /// Looks `${{ env "NAME" }}` up (see [`review_env`]).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// An environment for reviews: a variable that `env` does not set reads as its own template,
/// so a review needs no secrets (both revisions see the same stand-in, and it is masked like
/// any substituted value).
pub fn review_env(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).or_else(|| Some(format!("${{{{ env \"{name}\" }}}}")))
}

fn git_error(what: &str, e: git::GitError) -> CommandError {
    CommandError::from(e).context(format!("cannot read the {what} state"))
}

/// Loads the base revision. State paths absent at the base (a state introduced by the change
/// under review) read as an empty state, with a note; any other problem is an error.
fn load_base(
    request: &ReviewRequest<'_>,
    tree: &GitTree,
    progress: &dyn Progress,
) -> Result<DesiredState, CommandError> {
    let present: Vec<_> = request
        .paths
        .iter()
        .filter(|p| tree.exists(p))
        .cloned()
        .collect();
    for p in request.paths.iter().filter(|p| !present.contains(p)) {
        progress.status(&format!(
            "note: `{}` does not exist at base `{}` ({}): compared as an empty state",
            p.display(),
            tree.reference(),
            tree.short_id()
        ));
    }
    if present.is_empty() {
        return Ok(DesiredState::default());
    }
    let loaded = state::load(&present, tree, request.env);
    let errors: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if !errors.is_empty() {
        progress.diagnostics(&errors);
        return Err(CommandError::new(format!(
            "the state at base `{}` ({}) cannot be read: {}",
            tree.reference(),
            tree.short_id(),
            crate::lint::report::count(errors.len(), "error")
        ))
        .with_hint("the base revision must hold state files plugsync can read"));
    }
    Ok(loaded.state)
}

/// Loads and lints the head: a commit, else the working tree.
fn check_head(
    request: &ReviewRequest<'_>,
    progress: &dyn Progress,
) -> Result<Checked, CommandError> {
    let (files, commit) = match request.head {
        Some(r) => {
            let first = request.paths.first().cloned().unwrap_or_default();
            let tree = GitTree::open(&first, r).map_err(|e| git_error("head", e))?;
            tree.check_paths(request.paths)
                .map_err(|e| git_error("head", e))?;
            let info = tree.source_info();
            (Box::new(tree) as Box<dyn FileSource>, Some(info))
        }
        None => (Box::new(state::WorkTree) as Box<dyn FileSource>, None),
    };
    let loaded = state::load(request.paths, files.as_ref(), request.env);
    let check = CheckRequest {
        paths: request.paths,
        git_ref: request.head,
        select_tags: request.select_tags,
        lint: (request.lint)()?,
        env: request.env,
    };
    check::check_loaded(&check, loaded, commit, progress)
}

/// The offline plan of base → head.
pub fn review(request: &ReviewRequest<'_>, progress: &dyn Progress) -> Result<Plan, CommandError> {
    let first = request.paths.first().cloned().unwrap_or_default();
    let base_tree = GitTree::open(&first, request.base).map_err(|e| git_error("base", e))?;
    let head = check_head(request, progress)?;
    let base_state = load_base(request, &base_tree, progress)?;
    progress.status(&format!(
        "Comparing the state at {} with base `{}` ({}); no control plane is read",
        match request.head {
            Some(h) => format!("`{h}`"),
            None => "the working tree".to_string(),
        },
        request.base,
        base_tree.short_id()
    ));
    let select: BTreeSet<String> = request.select_tags.iter().cloned().collect();
    let base = GitBase {
        state: base_state,
        reference: request.base.to_string(),
        commit: base_tree.commit_id(),
        select_tags: select.into_iter().collect(),
    };
    plan::plan(&head, &base, &request.plan)
}
