//! Load and lint: a state read from files (the working tree or a commit) becomes a
//! [`Checked`] state, or the lint errors that stop every command that plans.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::error::{CommandError, ErrorKind};
use crate::lint::{self, LintOptions};
use crate::lua::SchemaCache;
use crate::model::{DesiredState, Diagnostic, SourceInfo};
use crate::ops::Progress;
use crate::state::{self, FileSource};

/// A loaded state that lints clean, with what lint evaluated.
#[derive(Debug)]
pub struct Checked {
    pub state: DesiredState,
    /// The state's select tags merged with the command line's, sorted.
    pub select_tags: Vec<String>,
    /// Where it was read from (the plan's `source`).
    pub source: SourceInfo,
    /// The schemas evaluated so far in this run (lint's, then the live side's).
    pub schemas: SchemaCache,
}

/// What to load and how to lint it.
pub struct CheckRequest<'a> {
    /// State files or directories.
    pub paths: &'a [PathBuf],
    /// Read them from this commit instead of the working tree.
    pub git_ref: Option<&'a str>,
    /// Select tags from the command line.
    pub select_tags: &'a [String],
    pub lint: LintOptions,
    /// Looks `${{ env "NAME" }}` up.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Where the state is read from: the working tree, or at `git_ref` a commit (then also the
/// plan's `source` for it). Fails when the repository, the commit or a state path at that
/// commit is missing.
pub fn file_source(
    paths: &[PathBuf],
    git_ref: Option<&str>,
) -> Result<(Box<dyn FileSource>, Option<SourceInfo>), CommandError> {
    let Some(reference) = git_ref else {
        return Ok((Box::new(state::WorkTree), None));
    };
    let first = paths
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("plugsync.yaml"));
    let git_error = |e: crate::git::GitError| {
        CommandError::from(e).context(format!("cannot read the state at `{reference}`"))
    };
    let tree = crate::git::GitTree::open(&first, reference).map_err(git_error)?;
    tree.check_paths(paths).map_err(git_error)?;
    let source = tree.source_info();
    Ok((Box::new(tree), Some(source)))
}

/// Loads the state and lints it; lint errors stop (reported through `progress`).
pub fn check(request: &CheckRequest<'_>, progress: &dyn Progress) -> Result<Checked, CommandError> {
    let (files, commit) = file_source(request.paths, request.git_ref)?;
    let loaded = state::load(request.paths, files.as_ref(), request.env);
    check_loaded(request, loaded, commit, progress)
}

/// What `plugsync lint` found: every diagnostic, sorted, and what was linted.
pub struct Linted {
    pub diagnostics: Vec<Diagnostic>,
    pub custom_plugins: usize,
    pub instances: usize,
}

/// Loads the state from `files` (see [`file_source`]) and lints it, keeping every diagnostic
/// (errors do not stop).
pub fn lint(
    paths: &[PathBuf],
    files: &dyn FileSource,
    options: &LintOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Linted {
    let loaded = state::load(paths, files, env);
    let mut diags = loaded.diagnostics.clone();
    diags.extend(lint::lint(&loaded.state, options));
    let mut diags = loaded.without_consequences(diags);
    diags.sort();
    diags.dedup();
    Linted {
        diagnostics: diags,
        custom_plugins: loaded.state.custom_plugins.len(),
        instances: loaded.state.plugins.len(),
    }
}

/// Lints a loaded state; lint errors stop (reported through `progress`). `commit` is the
/// plan's `source` when the state was read from a commit (else the working tree's is found).
pub fn check_loaded(
    request: &CheckRequest<'_>,
    loaded: state::Loaded,
    commit: Option<SourceInfo>,
    progress: &dyn Progress,
) -> Result<Checked, CommandError> {
    let schemas = SchemaCache::new();
    let mut diags = loaded.diagnostics.clone();
    if !loaded.has_errors() {
        diags.extend(lint::lint_with(&loaded.state, &request.lint, &schemas));
    }
    let diags = loaded.without_consequences(diags);
    stop_on_lint_errors(diags, progress)?;
    let mut tags: BTreeSet<String> = loaded.state.select_tags.iter().cloned().collect();
    tags.extend(request.select_tags.iter().cloned());
    let source = commit.unwrap_or_else(|| worktree_source(request.paths, &loaded.state));
    Ok(Checked {
        state: loaded.state,
        select_tags: tags.into_iter().collect(),
        source,
        schemas,
    })
}

fn worktree_source(paths: &[PathBuf], state: &DesiredState) -> SourceInfo {
    crate::git::worktree_source(paths, state)
}

/// Lints a checked state again under other options (another sandbox profile); the schemas
/// are read from the run's cache, not evaluated again.
pub fn relint(
    checked: &Checked,
    options: &LintOptions,
    progress: &dyn Progress,
) -> Result<(), CommandError> {
    stop_on_lint_errors(
        lint::lint_with(&checked.state, options, &checked.schemas),
        progress,
    )
}

/// Reports the lint errors among `diags` and fails, or passes when there are none.
fn stop_on_lint_errors(
    mut diags: Vec<Diagnostic>,
    progress: &dyn Progress,
) -> Result<(), CommandError> {
    diags.sort();
    diags.dedup();
    let errors: Vec<Diagnostic> = diags.into_iter().filter(|d| d.is_error()).collect();
    if errors.is_empty() {
        return Ok(());
    }
    progress.diagnostics(&errors);
    let entities = errors
        .iter()
        .map(|d| {
            serde_json::json!({
                "kind": "diagnostic",
                "location": d.span.to_string(),
                "rule": d.rule,
                "message": d.message,
            })
        })
        .collect();
    Err(CommandError::new(format!(
        "the state has {} (nothing was written to the control plane)",
        lint::report::count(errors.len(), "lint error")
    ))
    .with_hint("run `plugsync lint` for details")
    .with_kind(ErrorKind::Lint)
    .with_entities(entities))
}
