//! `plugsync diff --base REF [--head REF]`: offline review of two revisions of the state, with
//! no control plane. The head (a commit, or the working tree) is loaded and linted as for any
//! plan; the base is loaded from its commit and stands in for the live control plane
//! ([`crate::git::review`]); the plan between them is rendered by the usual renderers.

use std::collections::BTreeSet;

use crate::cli::run::{self, PlanArgs};
use crate::cli::CommonArgs;
use crate::error::{CommandError, Outcome};
use crate::git::{self, GitTree};
use crate::model::DesiredState;
use crate::plan::prepare::PrepareError;
use crate::plan::Plan;
use crate::settings;
use crate::state::{self, FileSource};
use crate::ui::Printer;

/// An environment for reviews: a variable that is not set reads as its own template, so a
/// review needs no secrets (both revisions see the same stand-in, and it is masked like any
/// substituted value).
fn review_env(name: &str) -> Option<String> {
    settings::process_env(name).or_else(|| Some(format!("${{{{ env \"{name}\" }}}}")))
}

fn git_error(what: &str, e: git::GitError) -> CommandError {
    CommandError::from(e).context(format!("cannot read the {what} state"))
}

/// Loads the base revision. State paths absent at the base (a state introduced by the change
/// under review) read as an empty state, with a note; any other problem is an error.
fn load_base(
    common: &CommonArgs,
    tree: &GitTree,
    printer: &Printer,
) -> Result<DesiredState, CommandError> {
    let present: Vec<_> = common
        .state
        .iter()
        .filter(|p| tree.exists(p))
        .cloned()
        .collect();
    for p in common.state.iter().filter(|p| !present.contains(p)) {
        printer.status(&format!(
            "note: `{}` does not exist at base `{}` ({}): compared as an empty state",
            p.display(),
            tree.reference(),
            tree.short_id()
        ));
    }
    if present.is_empty() {
        return Ok(DesiredState::default());
    }
    let loaded = state::load(&present, tree, &review_env);
    let errors: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if !errors.is_empty() {
        crate::etext!(
            "{}",
            crate::lint::report::text(&errors, printer.color_stderr)
        );
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

/// Loads and lints the head: a commit with `--head`/`--git-ref`, else the working tree.
fn load_head(
    common: &CommonArgs,
    head_ref: Option<&str>,
    sandbox: &crate::cli::run::SandboxArgs,
    printer: &Printer,
) -> Result<run::Loaded, CommandError> {
    let (files, commit) = match head_ref {
        Some(r) => {
            let first = common.state.first().cloned().unwrap_or_default();
            let tree = GitTree::open(&first, r).map_err(|e| git_error("head", e))?;
            tree.check_paths(&common.state)
                .map_err(|e| git_error("head", e))?;
            let info = tree.source_info();
            (Box::new(tree) as Box<dyn FileSource>, Some(info))
        }
        None => (Box::new(state::WorkTree) as Box<dyn FileSource>, None),
    };
    let loaded = state::load(&common.state, files.as_ref(), &review_env);
    run::lint_loaded(common, loaded, commit, sandbox, printer)
}

/// The offline plan of `base` → `head`.
pub fn plan(
    common: &CommonArgs,
    base: &str,
    head: Option<&str>,
    args: &PlanArgs,
    printer: &Printer,
) -> Result<Plan, CommandError> {
    let first = common.state.first().cloned().unwrap_or_default();
    let base_tree = GitTree::open(&first, base).map_err(|e| git_error("base", e))?;
    let head_state = load_head(common, head, &args.sandbox, printer)?;
    let base_state = load_base(common, &base_tree, printer)?;
    printer.status(&format!(
        "Comparing the state at {} with base `{}` ({}); no control plane is read",
        match head {
            Some(h) => format!("`{h}`"),
            None => "the working tree".to_string(),
        },
        base,
        base_tree.short_id()
    ));
    let select: BTreeSet<String> = common.select_tag.iter().cloned().collect();
    let select: Vec<String> = select.into_iter().collect();
    let review = git::review::Review {
        base: &base_state,
        base_ref: base,
        base_commit: &base_tree.commit_id(),
        head: &head_state.state,
        head_source: head_state.source.clone(),
        select_tags: &select,
        allow_in_place: args.allow_in_place,
        allow_empty: args.allow_empty,
    };
    let mut secrets = base_state.secrets.clone();
    secrets.extend(head_state.state.secrets.iter().cloned());
    git::review::plan(&review).map_err(|e| {
        let hint = match &e {
            PrepareError::Plan(errs) => errs.first().map(|e| e.hint()),
            _ => None,
        };
        // A review reports kind `error` (not `plan_refused`), with the policy's hint only.
        CommandError::new(e.to_string())
            .context(format!("cannot plan `{base}` → head"))
            .masked(&secrets)
            .with_hint_opt(hint)
    })
}

/// Runs the review and renders it; `exit_code` as for `diff --exit-code`.
pub fn run(
    common: &CommonArgs,
    base: &str,
    head: Option<&str>,
    args: &PlanArgs,
    exit_code: bool,
    printer: &Printer,
) -> Result<Outcome, CommandError> {
    let plan = plan(common, base, head, args, printer)?;
    printer.data(&run::render_plan(&plan, common.format, printer));
    Ok(if exit_code && plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}
