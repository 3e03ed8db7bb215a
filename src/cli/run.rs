//! Steps the reconciling commands share: load and lint the state, connect, fetch, plan,
//! render, apply and report.

use std::collections::BTreeSet;

use std::io::IsTerminal;

use clap::Args;

use crate::apply::{self, ApplyOptions, ApplyReport, StepResult, StepStatus};
use crate::backend::{self as tgt, Backend, Fetched};
use crate::cli::target::{self, TargetArgs};
use crate::cli::{CommonArgs, Format};
use crate::error::{CommandError, ErrorKind, Outcome};
use crate::lint::{self, LintOptions};
use crate::model::DesiredState;
use crate::plan::prepare::prepare;
use crate::plan::{Plan, PlanOptions, SourceInfo};
use crate::render;
use crate::settings;
use crate::state;
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
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Flags choosing Kong's sandbox environment (`lint`, and the commands that plan).
#[derive(Debug, Clone, Default, Args)]
pub struct SandboxArgs {
    /// Modules a handler may `require` besides the profile's allowlist (comma-separated).
    #[arg(long = "sandbox-requires", value_name = "A,B", value_delimiter = ',')]
    pub sandbox_requires: Vec<String>,
    /// Kong's sandbox environment: 3.10, 3.10-early, strict or lax (default: from --kong-version, else 3.10).
    #[arg(
        long = "sandbox-profile",
        value_name = "NAME",
        env = "PLUGSYNC_SANDBOX_PROFILE"
    )]
    pub sandbox_profile: Option<String>,
    /// The Kong Gateway version the plugins run on (3.10–3.13: profile 3.10; 3.14 and later: strict).
    #[arg(
        long = "kong-version",
        value_name = "X.Y",
        env = "PLUGSYNC_KONG_VERSION"
    )]
    pub kong_version: Option<String>,
    /// Analyse every plugin's Lua anew instead of reusing the lint cache (also
    /// PLUGSYNC_NO_CACHE=1; the cache is in PLUGSYNC_CACHE_DIR, else ~/.cache/plugsync).
    #[arg(long = "no-cache")]
    pub no_cache: bool,
}

impl SandboxArgs {
    /// Whether the flags (or their environment variables) choose the profile.
    pub fn is_explicit(&self) -> bool {
        self.sandbox_profile.is_some() || self.kong_version.is_some()
    }

    /// The lint options these flags choose.
    pub fn lint_options(&self) -> Result<LintOptions, CommandError> {
        use crate::lua::ProfileName;
        let profile = match (&self.sandbox_profile, &self.kong_version) {
            (Some(name), _) => ProfileName::parse(name),
            (None, Some(version)) => ProfileName::for_kong_version(version),
            (None, None) => Ok(ProfileName::default()),
        }
        .map_err(|e| {
            CommandError::new(e).with_hint(
                "profiles: 3.10 (Kong 3.10–3.13), 3.10-early, strict (Kong 3.14+ default), lax; see docs/kong-fidelity.md",
            )
        })?;
        let cache = if self.no_cache {
            None
        } else {
            settings::cache_root().and_then(|root| lint::cache::LintCache::open(&root))
        };
        Ok(LintOptions {
            sandbox_requires: self.sandbox_requires.clone(),
            profile,
            cache,
        })
    }
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
    /// After applying, wait until every data plane node reports the expected config hash (default 60 s);
    /// in hybrid mode also wait for each data-plane rollout where the target reports its nodes' plugins.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "60", require_equals = true)]
    pub wait: Option<u64>,
    /// Hybrid mode: the data-plane rollout with this id is done on every node (repeatable;
    /// needed where the target does not report the plugins installed on its nodes).
    #[arg(long = "rolled-out", value_name = "ID")]
    pub rolled_out: Vec<String>,
}

/// The part of a plan `sync` and `apply` perform now: the steps up to the first data-plane
/// rollout not yet done, and that rollout. A rollout is done when `--rolled-out ID` names it
/// or every node the target reports holds its bundle.
pub fn until_rollout(
    plan: &Plan,
    backend: &dyn Backend,
    args: &ApplyArgs,
) -> Result<(Plan, Option<crate::plan::Step>), CommandError> {
    if !plan.steps.iter().any(crate::plan::Step::is_rollout) {
        return Ok((plan.clone(), None));
    }
    let nodes = backend.node_plugins().map_err(|e| {
        CommandError::new(format!("reading the data plane nodes' plugins failed: {e}"))
    })?;
    let done = |r: &crate::plan::Rollout| {
        args.rolled_out.contains(&r.id) || nodes.as_deref().is_some_and(|n| r.satisfied_by(n))
    };
    let (now, pending) = crate::plan::rollout::split(&plan.steps, &done);
    let mut part = plan.clone();
    part.steps = now.into_iter().cloned().collect();
    Ok((part, pending.cloned()))
}

/// Says which bundle to roll out and what to run after it.
pub fn announce_rollout(step: &crate::plan::Step, rerun: &str, printer: &Printer) {
    let Some(r) = &step.rollout else {
        return;
    };
    printer.status(&format!(
        "stopped before the data-plane rollout `{}`: {}",
        r.phase,
        r.describe()
    ));
    printer.status(&format!("  build it with: {}", r.command));
    printer.status(
        "  install it on every data plane node (image, ConfigMaps or packages), with KONG_PLUGINS listing its plugins",
    );
    printer.status(&format!(
        "  then run: {rerun} --rolled-out {}   (the flag is not needed where the target reports its nodes' plugins)",
        r.id
    ));
}

/// Where an apply that runs up to the data-plane rollouts stopped.
pub enum RolloutStop {
    /// Every step of the plan was applied (or a step failed: see the report).
    Complete,
    /// Before this rollout, not yet done on the nodes: announce it and exit 0.
    Pending(crate::plan::Step),
    /// `--wait` waited for this rollout and it did not happen in time (the error says what
    /// the nodes lack); reported after the apply's result.
    WaitFailed(CommandError),
}

/// Applies `plan` up to the first data-plane rollout not yet done. With `--wait` on a target
/// that reports the plugins installed on its nodes, waits (up to `--wait` seconds per rollout)
/// for every node to hold the rollout's bundle and goes on with the steps after it, so one run
/// does a whole hybrid-mode upgrade while the operator rolls out. Returns the steps applied
/// (as a plan), one report for all of them, and where it stopped.
pub fn apply_through_rollouts(
    backend: &dyn Backend,
    plan: &Plan,
    args: &ApplyArgs,
    secrets: &[String],
    validate_against: Option<&crate::model::LiveState>,
    printer: &Printer,
) -> Result<(Plan, ApplyReport, RolloutStop), CommandError> {
    let mut rest = plan.clone();
    let mut applied = plan.clone();
    applied.steps.clear();
    let mut report: Option<ApplyReport> = None;
    loop {
        let (now, rollout) = until_rollout(&rest, backend, args)?;
        let part = apply_plan(backend, &now, args, secrets, validate_against, printer)?;
        applied.steps.extend(now.steps.iter().cloned());
        let ok = part.ok();
        report = Some(match report.take() {
            None => part,
            Some(mut all) => {
                all.counts.add(&part.counts);
                all.steps.extend(part.steps);
                // Requests are counted over the whole run: the last part has them all.
                all.requests = part.requests;
                all.retries = part.retries;
                all
            }
        });
        let done = |stop| Ok((applied.clone(), report.clone().unwrap_or_default(), stop));
        let Some(step) = rollout.filter(|_| ok) else {
            return done(RolloutStop::Complete);
        };
        let (Some(secs), Some(r)) = (args.wait, step.rollout.as_ref()) else {
            return done(RolloutStop::Pending(step));
        };
        match wait_for_rollout(backend, r, std::time::Duration::from_secs(secs), printer) {
            Ok(true) => {}
            Ok(false) => {
                printer.status(
                    "--wait cannot wait for a data-plane rollout here: the target does not report the plugins installed on its nodes",
                );
                return done(RolloutStop::Pending(step));
            }
            Err(e) => return done(RolloutStop::WaitFailed(e)),
        }
        let at = rest.steps.iter().position(|s| *s == step).unwrap_or(0);
        rest.steps.drain(..=at);
    }
}

/// Waits until every node the target reports holds rollout `r`'s bundle. `Ok(false)` when the
/// target does not report its nodes' plugins; an error naming what each node lacks on timeout.
fn wait_for_rollout(
    backend: &dyn Backend,
    r: &crate::plan::Rollout,
    timeout: std::time::Duration,
    printer: &Printer,
) -> Result<bool, CommandError> {
    let deadline = std::time::Instant::now() + timeout;
    printer.status(&format!(
        "waiting up to {}s for the data-plane rollout `{}` ({}) on every node…",
        timeout.as_secs(),
        r.phase,
        r.describe()
    ));
    loop {
        let nodes = backend.node_plugins().map_err(|e| {
            CommandError::new(format!("reading the data plane nodes' plugins failed: {e}"))
        })?;
        let Some(nodes) = nodes else {
            return Ok(false);
        };
        if r.satisfied_by(&nodes) {
            printer.status(&format!(
                "data-plane rollout `{}` done on every node",
                r.phase
            ));
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            let behind = r.shortfall(&nodes).join("; ");
            return Err(CommandError::new(format!(
                "the data-plane rollout `{}` was not done in {}s: {}",
                r.phase,
                timeout.as_secs(),
                if behind.is_empty() {
                    "no data plane node is connected".to_string()
                } else {
                    behind
                }
            ))
            .with_kind(ErrorKind::Wait)
            .with_hint(format!(
                "roll out {} ({}), then run the command again",
                r.describe(),
                r.command
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
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
        CommandError::from(e).context(format!("cannot read the state at `{reference}`"))
    };
    let tree = crate::git::GitTree::open(&first, reference).map_err(git_error)?;
    tree.check_paths(paths).map_err(git_error)?;
    let source = tree.source_info();
    Ok((Box::new(tree), Some(source)))
}

/// Loads the state and runs the lint; lint errors stop the command (diagnostics printed).
pub fn load(
    common: &CommonArgs,
    sandbox: &SandboxArgs,
    printer: &Printer,
) -> Result<Loaded, CommandError> {
    let (files, commit) = file_source(&common.state, common.git_ref.as_deref())?;
    let loaded = state::load(&common.state, files.as_ref(), &settings::process_env);
    lint_loaded(common, loaded, commit, sandbox, printer)
}

/// Lints a loaded state; lint errors stop the command (diagnostics printed). `commit` is the
/// plan's `source` when the state was read from a commit (else the working tree's is found).
pub fn lint_loaded(
    common: &CommonArgs,
    loaded: state::Loaded,
    commit: Option<SourceInfo>,
    sandbox: &SandboxArgs,
    printer: &Printer,
) -> Result<Loaded, CommandError> {
    let options = sandbox.lint_options()?;
    let mut diags = loaded.diagnostics.clone();
    if !loaded.has_errors() {
        diags.extend(lint::lint(&loaded.state, &options));
    }
    let diags = loaded.without_consequences(diags);
    stop_on_lint_errors(diags, printer)?;
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

/// Prints the lint errors among `diags` and fails, or passes when there are none.
fn stop_on_lint_errors(
    mut diags: Vec<crate::model::Diagnostic>,
    printer: &Printer,
) -> Result<(), CommandError> {
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
        return Err(CommandError::new(format!(
            "the state has {} (nothing was read from or written to the control plane)",
            lint::report::count(errors.len(), "lint error")
        ))
        .with_hint("run `plugsync lint` for details")
        .with_kind(ErrorKind::Lint)
        .with_entities(entities));
    }
    Ok(())
}

/// The sandbox profile for this target: the flags when given, else what the target reports
/// (`GET /` on a Kong Admin API: `configuration.untrusted_lua`, then `version`), else the
/// default. Printed with the target. When it differs from the profile the state was linted
/// with, the state is linted again under it.
pub fn target_profile(
    loaded: &Loaded,
    sandbox: &SandboxArgs,
    backend: &dyn Backend,
    secrets: &[String],
    printer: &Printer,
) -> Result<(), CommandError> {
    let linted = sandbox.lint_options()?;
    if sandbox.is_explicit() {
        printer.status(&format!(
            "sandbox profile: {} (from the flags)",
            linted.profile
        ));
        return Ok(());
    }
    let reported = match backend.node_info() {
        Ok(Some(info)) => crate::lua::profile::profile_from_node_info(&info),
        Ok(None) => None,
        Err(e) => {
            printer.warn(&crate::model::mask_secrets(
                &format!(
                    "cannot read the target's Kong version ({e}); checking plugins with the default sandbox profile"
                ),
                secrets,
            ));
            None
        }
    };
    let (profile, why) = match reported {
        Some(Ok(found)) => found,
        Some(Err(e)) => {
            return Err(CommandError::new(e).with_hint(
                "check the target's untrusted_lua setting, or pass --sandbox-profile to check plugins anyway",
            ))
        }
        None => {
            printer.status(&format!(
                "sandbox profile: {} (default; pass --kong-version or --sandbox-profile to match your gateways)",
                linted.profile
            ));
            return Ok(());
        }
    };
    printer.status(&format!("sandbox profile: {profile} ({why})"));
    if profile != linted.profile {
        let options = LintOptions { profile, ..linted };
        stop_on_lint_errors(lint::lint(&loaded.state, &options), printer)?;
    }
    Ok(())
}

/// Connects to the target and prints which it is.
pub fn connect(
    targets: &TargetArgs,
    state: Option<&DesiredState>,
    rps: Option<f64>,
    printer: &Printer,
) -> Result<Box<dyn Backend>, CommandError> {
    // The first retry of a request is always told (unless -q), the later ones with -v: a
    // target that does not answer is never a silent wait.
    let (quiet, verbose) = (printer.quiet, printer.verbose);
    let secrets = targets.secrets();
    let notice = crate::backend::http::RetryNotice(std::sync::Arc::new(move |first, line| {
        if !quiet && (first || verbose > 0) {
            crate::eline!("{}", crate::model::mask_secrets(line, &secrets));
        }
    }));
    let backend = targets.connect(
        state.and_then(|s| s.konnect_control_plane_name.as_deref()),
        rps,
        &|w| printer.warn(w),
        Some(notice),
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
        let hint = crate::cli::target::auth_hint(backend.info().kind, e.status());
        CommandError::from(e)
            .context("reading the control plane failed")
            .masked(secrets)
            .with_hint_opt(hint)
    })
}

/// Fetches the live state in the scope a saved plan was made in.
pub fn fetch_for_plan(
    backend: &dyn Backend,
    plan: &Plan,
    secrets: &[String],
) -> Result<Fetched, CommandError> {
    tgt::fetch_with_hybrid(backend, &plan.select_tags, None, &plan.hybrid_scope).map_err(|e| {
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
    let hybrid: Vec<&str> = loaded
        .state
        .custom_plugins
        .iter()
        .filter(|c| !c.streamed)
        .map(|c| c.name.as_str())
        .collect();
    if !hybrid.is_empty() && !backend.supports_plugin_schemas() {
        return Err(CommandError::new(format!(
            "the state declares hybrid-mode plugins (`streamed: false`): {}; a {} target cannot hold them",
            hybrid.join(", "),
            backend.info().kind
        ))
        .with_hint("hybrid mode is Konnect's: target a Konnect control plane (or the local one). Self-managed Kong loads custom plugins from each node's files; stream them instead (`streamed: true`, Kong 3.15+)"));
    }
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
        // The message is masked; the hint and entities name plugins, not values.
        let mut err = CommandError::from(e).context("cannot plan");
        err.message = loaded.state.mask(&err.message);
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
    let loaded = load(common, &args.sandbox, printer)?;
    let backend = connect(targets, Some(&loaded.state), rps, printer)?;
    let mut secrets = targets.secrets();
    secrets.extend(loaded.state.secrets.iter().cloned());
    target_profile(&loaded, &args.sandbox, backend.as_ref(), &secrets, printer)?;
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
        // `--format sarif|github` is refused for every command but lint before it runs.
        Format::Text | Format::Sarif | Format::Github => render::text(
            plan,
            &render::TextOptions {
                color: printer.color_stdout,
            },
        ),
        Format::Json => render::json(plan),
        Format::Markdown => render::markdown(plan, &render::MarkdownOptions::default()),
    }
}

/// Applies a plan, printing a line per step (or nothing with `-q`) and the summary line. With
/// `validate_against` (a saved plan: its templates were resolved again), every instance config
/// is checked against its schema before the first write.
pub fn apply_plan(
    backend: &dyn Backend,
    plan: &Plan,
    args: &ApplyArgs,
    secrets: &[String],
    validate_against: Option<&crate::model::LiveState>,
    printer: &Printer,
) -> Result<ApplyReport, CommandError> {
    let (bodies, found) = apply::resolve_bodies(plan, &settings::process_env)
        .map_err(|e| CommandError::new(format!("nothing was applied: {e}")))?;
    let mut secrets = secrets.to_vec();
    secrets.extend(found);
    if let Some(live) = validate_against {
        apply::validate_bodies(plan, &bodies, live).map_err(|errors| {
            CommandError::new(crate::model::mask_secrets(
                &format!(
                    "nothing was applied: the values resolved now break the schema\n{}",
                    errors.join("\n")
                ),
                &secrets,
            ))
            .with_hint(
                "fix the environment values (or the state, then make a new plan) and apply again",
            )
        })?;
    }
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
    let before = crate::backend::Stats::default();
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

/// With `--wait`: checks, before anything is written, that the target reports data plane
/// status, and returns what the nodes report now (the baseline where the target has no
/// expected hash). Without `--wait`: nothing.
pub fn wait_baseline(
    backend: &dyn Backend,
    args: &ApplyArgs,
) -> Result<Option<tgt::Propagation>, CommandError> {
    if args.wait.is_none() {
        return Ok(None);
    }
    match backend.propagation() {
        Ok(Some(p)) => Ok(Some(p)),
        Ok(None) => Err(CommandError::new(
            "--wait: this target reports no data plane status (a Kong Admin API without /clustering/data-planes, i.e. not a hybrid-mode control plane); nothing was written",
        )
        .with_hint("drop --wait, or point --kong-addr at the hybrid-mode control plane")
        .with_kind(ErrorKind::Target)),
        Err(e) => Err(CommandError::of_kind(
            ErrorKind::Target,
            format!("--wait: cannot read the data plane status: {e}; nothing was written"),
        )),
    }
}

/// Waits for the data planes when `--wait` was given; a timeout is an error that names the
/// nodes behind and the reasons they report. `baseline` is what [`wait_baseline`] returned
/// (pass `None` for it when nothing was written).
pub fn wait(
    backend: &dyn Backend,
    args: &ApplyArgs,
    baseline: Option<&tgt::Propagation>,
    printer: &Printer,
) -> Result<(), CommandError> {
    if let Some(secs) = args.wait {
        printer.status(&format!(
            "waiting up to {secs}s for data plane nodes to take the new configuration…"
        ));
        let p = tgt::wait_for_propagation(backend, std::time::Duration::from_secs(secs), baseline)
            .map_err(|e| {
                CommandError::of_kind(ErrorKind::Wait, format!("the changes were applied, but {e}"))
                    .with_hint("fix what the nodes report (a rejected configuration keeps the node on its last good one), then run again")
            })?;
        let hash = p
            .nodes
            .first()
            .and_then(|(_, h)| h.clone())
            .unwrap_or_default();
        printer.status(&format!(
            "all {} data plane node(s) report config hash {hash}",
            p.nodes.len()
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
    if format == Format::Markdown {
        printer.data(&report.markdown());
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
    e.outcome()
}

/// Prints a command error, and with `--format json` or `markdown` also writes the report on
/// stdout (reports are always written, whatever the exit code); returns its outcome.
pub fn fail_with_report(
    printer: &Printer,
    format: Format,
    command: &str,
    e: CommandError,
) -> Outcome {
    match format {
        // A `--wait` failure comes after the apply's JSON result, already printed: stdout
        // keeps one document.
        Format::Json if e.kind == ErrorKind::Wait => {}
        Format::Json => printer.data(&e.json_report(command)),
        Format::Markdown => printer.data(&e.markdown_report(command)),
        Format::Text | Format::Sarif | Format::Github => {}
    }
    fail(printer, e)
}
