//! Steps the reconciling commands share: load and lint the state, connect, fetch, plan,
//! render, apply and report.

use std::collections::BTreeSet;

use std::io::IsTerminal;

use clap::Args;

use crate::apply::{self, ApplyOptions, ApplyReport, StepResult, StepStatus};
use crate::cli::target::{self, TargetArgs};
use crate::cli::{CommonArgs, Format};
use crate::error::{CommandError, Outcome};
use crate::lint::{self, LintOptions};
use crate::model::DesiredState;
use crate::plan::prepare::{prepare, PrepareError};
use crate::plan::{Plan, PlanOptions, SourceInfo};
use crate::render;
use crate::settings;
use crate::state;
use crate::target::{self as tgt, Backend, Fetched};
use crate::ui::Printer;

/// Flags of the commands that plan.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Allow a `long` or `cp_dp_sync` schema change on a plugin that keeps its name (a maintenance window).
    #[arg(long)]
    pub allow_in_place: bool,
    /// Allow an empty state to delete everything in scope.
    #[arg(long)]
    pub allow_empty: bool,
    /// Modules a handler may `require` (comma-separated), as for `lint`.
    #[arg(long = "sandbox-requires", value_name = "A,B", value_delimiter = ',')]
    pub sandbox_requires: Vec<String>,
}

/// Flags of the commands that write.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// Steps run at once within a stage.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub parallelism: usize,
    /// Client-side request rate limit (default 30 for Konnect, unlimited otherwise).
    #[arg(long, value_name = "N")]
    pub rps: Option<f64>,
    /// After applying, wait until every data plane node reports the expected config hash (default 60 s).
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "60", require_equals = true)]
    pub wait: Option<u64>,
}

/// A loaded, linted state.
pub struct Loaded {
    pub state: DesiredState,
    pub select_tags: Vec<String>,
    /// Where it was read from (the plan's `source`).
    pub source: SourceInfo,
}

/// Where the state is read from: the working tree, or with `--git-ref` a commit (then also the
/// plan's `source` for it). Fails when the repository, the commit or a state path at that
/// commit is missing.
pub fn file_source(
    paths: &[std::path::PathBuf],
    git_ref: Option<&str>,
) -> Result<(Box<dyn state::FileSource>, Option<SourceInfo>), CommandError> {
    let Some(reference) = git_ref else {
        return Ok((Box::new(state::WorkTree), None));
    };
    let first = paths
        .first()
        .cloned()
        .unwrap_or_else(|| std::path::PathBuf::from("plugsync.yaml"));
    let git_error = |e: crate::git::GitError| {
        let hint = e.hint();
        let mut err = CommandError::new(format!("cannot read the state at `{reference}`: {e}"));
        if let Some(h) = hint {
            err = err.with_hint(h);
        }
        err
    };
    let tree = crate::git::GitTree::open(&first, reference).map_err(git_error)?;
    tree.check_paths(paths).map_err(git_error)?;
    let source = tree.source_info();
    Ok((Box::new(tree), Some(source)))
}

/// Loads the state and runs the lint; lint errors stop the command (diagnostics printed).
pub fn load(
    common: &CommonArgs,
    sandbox_requires: &[String],
    printer: &Printer,
) -> Result<Loaded, CommandError> {
    let (files, commit) = file_source(&common.state, common.git_ref.as_deref())?;
    let loaded = state::load(&common.state, files.as_ref(), &settings::process_env);
    lint_loaded(common, loaded, commit, sandbox_requires, printer)
}

/// Lints a loaded state; lint errors stop the command (diagnostics printed). `commit` is the
/// plan's `source` when the state was read from a commit (else the working tree's is found).
pub fn lint_loaded(
    common: &CommonArgs,
    loaded: state::Loaded,
    commit: Option<SourceInfo>,
    sandbox_requires: &[String],
    printer: &Printer,
) -> Result<Loaded, CommandError> {
    let mut diags = loaded.diagnostics.clone();
    if !loaded.has_errors() {
        diags.extend(lint::lint(
            &loaded.state,
            &LintOptions {
                sandbox_requires: sandbox_requires.to_vec(),
            },
        ));
    }
    diags.sort();
    diags.dedup();
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    if !errors.is_empty() {
        crate::etext!(
            "{}",
            lint::report::text(
                &errors.iter().map(|d| (*d).clone()).collect::<Vec<_>>(),
                printer.color_stderr
            )
        );
        return Err(CommandError::new(format!(
            "the state has {} (nothing was read from or written to the control plane)",
            lint::report::count(errors.len(), "lint error")
        ))
        .with_hint("run `plugsync lint` for details"));
    }
    let mut tags: BTreeSet<String> = loaded.state.select_tags.iter().cloned().collect();
    tags.extend(common.select_tag.iter().cloned());
    let source =
        commit.unwrap_or_else(|| crate::git::worktree_source(&common.state, &loaded.state));
    Ok(Loaded {
        state: loaded.state,
        select_tags: tags.into_iter().collect(),
        source,
    })
}

/// Connects to the target and prints which it is.
pub fn connect(
    targets: &TargetArgs,
    state: Option<&DesiredState>,
    rps: Option<f64>,
    printer: &Printer,
) -> Result<Box<dyn Backend>, CommandError> {
    let backend = targets.connect(
        state.and_then(|s| s.konnect_control_plane_name.as_deref()),
        rps,
        &|w| printer.warn(w),
    )?;
    printer.status(&target::describe(&backend.info()));
    Ok(backend)
}

/// Fetches the live state in scope.
pub fn fetch(
    backend: &dyn Backend,
    select_tags: &[String],
    state: Option<&DesiredState>,
    secrets: &[String],
) -> Result<Fetched, CommandError> {
    tgt::fetch(backend, select_tags, state).map_err(|e| {
        CommandError::new(crate::model::mask_secrets(
            &format!("reading the control plane failed: {e}"),
            secrets,
        ))
    })
}

/// The source of the state (the plan's `source`): the commit it was read from, and whether the
/// working tree's state files and plugin directories differ from it.
pub fn source(loaded: &Loaded) -> SourceInfo {
    loaded.source.clone()
}

/// Makes the plan.
pub fn make_plan(
    loaded: &Loaded,
    fetched: &Fetched,
    backend: &dyn Backend,
    args: &PlanArgs,
) -> Result<Plan, CommandError> {
    let options = PlanOptions {
        allow_in_place: args.allow_in_place,
        allow_empty: args.allow_empty,
        select_tags: loaded.select_tags.clone(),
        unmanaged_references: fetched.unmanaged_references.clone(),
    };
    let mut new_id = || uuid::Uuid::new_v4().to_string();
    prepare(
        &loaded.state,
        &fetched.live,
        backend.info(),
        source(loaded),
        &options,
        &mut new_id,
    )
    .map_err(|e| {
        let hint = match &e {
            PrepareError::Plan(errs) => errs.first().map(|e| e.hint()),
            PrepareError::Diff(_) => Some("services, routes, consumers and consumer groups must exist on the control plane; plugsync never creates them".to_string()),
            PrepareError::Schema { .. } => None,
        };
        let mut err = CommandError::new(loaded.state.mask(&format!("cannot plan: {e}")));
        if let Some(h) = hint {
            err = err.with_hint(h);
        }
        err
    })
}

/// Everything up to a plan: load and lint the state, connect, fetch, plan. Returns the state,
/// the connected target and the plan.
pub fn plan_against_target(
    common: &CommonArgs,
    targets: &TargetArgs,
    args: &PlanArgs,
    rps: Option<f64>,
    printer: &Printer,
) -> Result<(Loaded, Box<dyn Backend>, Plan), CommandError> {
    let loaded = load(common, &args.sandbox_requires, printer)?;
    let backend = connect(targets, Some(&loaded.state), rps, printer)?;
    let mut secrets = targets.secrets();
    secrets.extend(loaded.state.secrets.iter().cloned());
    let fetched = fetch(
        backend.as_ref(),
        &loaded.select_tags,
        Some(&loaded.state),
        &secrets,
    )?;
    let plan = make_plan(&loaded, &fetched, backend.as_ref(), args)?;
    Ok((loaded, backend, plan))
}

/// Renders the plan in the chosen format.
pub fn render_plan(plan: &Plan, format: Format, printer: &Printer) -> String {
    match format {
        Format::Text => render::text(
            plan,
            &render::TextOptions {
                color: printer.color_stdout,
            },
        ),
        Format::Json => render::json(plan),
        Format::Markdown => render::markdown(plan, &render::MarkdownOptions::default()),
    }
}

/// Applies a plan, printing a line per step (or nothing with `-q`) and the summary line.
pub fn apply_plan(
    backend: &dyn Backend,
    plan: &Plan,
    args: &ApplyArgs,
    secrets: &[String],
    printer: &Printer,
) -> Result<ApplyReport, CommandError> {
    let (bodies, found) = apply::resolve_bodies(plan, &settings::process_env)
        .map_err(|e| CommandError::new(format!("nothing was applied: {e}")))?;
    let mut secrets = secrets.to_vec();
    secrets.extend(found);
    let quiet = printer.quiet;
    let color = printer.color_stderr;
    // A progress bar on a terminal; one line per step otherwise. Failures always get a line.
    let bar = (!quiet && std::io::stderr().is_terminal() && plan.steps.len() > 1).then(|| {
        let bar = indicatif::ProgressBar::new(plan.steps.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let on_step = |r: &StepResult, n: usize, total: usize| {
        if quiet && r.status == StepStatus::Done {
            return;
        }
        let status = match r.status {
            StepStatus::Done => crate::ui::paint(color, crate::ui::Style::Green, "done"),
            StepStatus::Failed => crate::ui::paint(color, crate::ui::Style::Red, "FAILED"),
            StepStatus::Blocked => crate::ui::paint(color, crate::ui::Style::Yellow, "BLOCKED"),
        };
        let id = r.id.as_deref().map(|i| format!(" {i}")).unwrap_or_default();
        let mut line = format!(
            "[{n}/{total}] stage {} {} {} {}{id}: {status}",
            r.stage, r.action, r.kind, r.name
        );
        if let Some(reason) = &r.reason {
            line.push_str(&format!(" — {reason}"));
        }
        match &bar {
            Some(b) => {
                if r.status != StepStatus::Done {
                    b.println(crate::ui::terminal_safe(&line));
                }
                b.set_message(
                    crate::ui::terminal_safe(&format!("{} {} {}", r.action, r.kind, r.name))
                        .into_owned(),
                );
                b.inc(1);
            }
            None => crate::eline!("{line}"),
        }
    };
    // The report counts every request of the run, the fetches before the apply included
    // (`ApplyReport::requests`): retries while reading the live state are retries too.
    let before = crate::target::Stats::default();
    let report = apply::apply(
        backend,
        plan,
        &bodies,
        &ApplyOptions {
            parallelism: args.parallelism,
            secrets: &secrets,
            on_step: &on_step,
        },
        before,
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(report)
}

/// Waits for the data planes when `--wait` was given; a timeout is an error.
pub fn wait(
    backend: &dyn Backend,
    args: &ApplyArgs,
    printer: &Printer,
) -> Result<(), CommandError> {
    if let Some(secs) = args.wait {
        printer.status(&format!(
            "waiting up to {secs}s for data plane nodes to take the new configuration…"
        ));
        let p = tgt::wait_for_propagation(backend, std::time::Duration::from_secs(secs))
            .map_err(CommandError::new)?;
        printer.status(&format!(
            "all {} data plane node(s) report config hash {}",
            p.nodes.len(),
            p.expected_hash
        ));
    }
    Ok(())
}

/// Reports an apply: JSON on stdout with `--format json`, the summary line on stderr always.
pub fn report_apply(
    plan: &Plan,
    report: &ApplyReport,
    format: Format,
    printer: &Printer,
) -> Outcome {
    if format == Format::Json {
        let v = serde_json::json!({
            "format_version": 1,
            "plan": plan,
            "result": report,
        });
        printer.data(&(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"));
    }
    crate::eline!("{}", report.counts.line());
    if !report.ok() {
        printer.error(
            "the apply did not complete: the steps above that failed or were blocked left the rest unchanged",
            Some("fix the cause and run again: done steps are not repeated, and the plan converges"),
        );
    }
    printer.verbose(&format!(
        "requests: {} ({} retried)",
        report.requests, report.retries
    ));
    if report.ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    }
}

/// Prints a command error and returns its outcome.
pub fn fail(printer: &Printer, e: CommandError) -> Outcome {
    printer.error(&e.message, e.hint.as_deref());
    e.outcome
}
