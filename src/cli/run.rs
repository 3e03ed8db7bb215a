//! What the reconciling commands share on the CLI side: their flags, and the wiring of flags
//! to the operations of `crate::ops` (load and lint, plan, apply) and of their results to the
//! printer: connect, render, report, fail. No domain logic lives here.

use std::io::IsTerminal;

use clap::Args;

use crate::apply::{ApplyReport, StepResult, StepStatus};
use crate::backend::Backend;
use crate::cli::target::{self, TargetArgs};
use crate::cli::{CommonArgs, Format};
use crate::error::{CommandError, ErrorKind, Outcome};
use crate::lint::{self, LintOptions};
use crate::model::DesiredState;
use crate::ops::apply::RolloutStop;
use crate::ops::check::CheckRequest;
use crate::ops::{self, Checked, Progress};
use crate::plan::Plan;
use crate::render;
use crate::settings;
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

impl PlanArgs {
    /// The plan's policy flags.
    pub fn request(&self) -> ops::plan::PlanRequest {
        ops::plan::PlanRequest {
            allow_in_place: self.allow_in_place,
            allow_empty: self.allow_empty,
        }
    }
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

/// Loads the state and lints it; lint errors stop the command (diagnostics printed).
pub fn load(
    common: &CommonArgs,
    sandbox: &SandboxArgs,
    printer: &Printer,
) -> Result<Checked, CommandError> {
    let (files, commit) = ops::check::file_source(&common.state, common.git_ref.as_deref())?;
    let loaded = crate::state::load(&common.state, files.as_ref(), &settings::process_env);
    let request = CheckRequest {
        paths: &common.state,
        git_ref: common.git_ref.as_deref(),
        select_tags: &common.select_tag,
        lint: sandbox.lint_options()?,
        env: &settings::process_env,
    };
    ops::check::check_loaded(&request, loaded, commit, &Reporter::new(printer))
}

/// Connects to the target and prints which it is.
pub fn connect(
    targets: &TargetArgs,
    state: Option<&DesiredState>,
    rps: Option<f64>,
    printer: &Printer,
) -> Result<Box<dyn Backend>, CommandError> {
    let backend = connect_quietly(targets, state, rps, printer, None)?;
    printer.status(&target::describe(&backend.info()));
    Ok(backend)
}

/// Retry notices of a read started while the state lints: held back until the state is known
/// to lint clean (then told), dropped with the command when it does not.
struct HeldNotices(std::sync::Mutex<Option<Vec<String>>>);

impl HeldNotices {
    fn holding() -> HeldNotices {
        HeldNotices(std::sync::Mutex::new(Some(Vec::new())))
    }

    /// Holds `line` while holding, else tells it.
    fn tell(&self, line: String) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match held.as_mut() {
            Some(lines) => lines.push(line),
            None => crate::eline!("{line}"),
        }
    }

    /// Tells what was held; later notices are told as they come.
    fn release(&self) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for line in held.take().unwrap_or_default() {
            crate::eline!("{line}");
        }
    }
}

/// [`connect`] without the line that says which target it is (warnings and retries are told).
fn connect_quietly(
    targets: &TargetArgs,
    state: Option<&DesiredState>,
    rps: Option<f64>,
    printer: &Printer,
    held: Option<std::sync::Arc<HeldNotices>>,
) -> Result<Box<dyn Backend>, CommandError> {
    // The first retry of a request is always told (unless -q), the later ones with -v: a
    // target that does not answer is never a silent wait.
    let (quiet, verbose) = (printer.quiet, printer.verbose);
    let secrets = targets.secrets();
    let notice = crate::backend::http::RetryNotice(std::sync::Arc::new(move |first, line| {
        if !quiet && (first || verbose > 0) {
            let line = crate::model::mask_secrets(line, &secrets);
            match &held {
                Some(held) => held.tell(line),
                None => crate::eline!("{line}"),
            }
        }
    }));
    targets.connect(
        state.and_then(|s| s.konnect_control_plane_name.as_deref()),
        rps,
        &|w| printer.warn(w),
        Some(notice),
    )
}

/// Everything up to a plan: load and lint the state, connect, choose the sandbox profile,
/// fetch, plan. Returns the checked state, the connected target and the plan.
pub fn plan_against_target(
    common: &CommonArgs,
    targets: &TargetArgs,
    args: &PlanArgs,
    rps: Option<f64>,
    printer: &Printer,
) -> Result<(Checked, Box<dyn Backend>, Plan), CommandError> {
    // When the flags alone name a remote target, it is connected and its plugins are read on
    // another thread while the state loads and lints: that part of the read needs nothing
    // declared. Lint errors still stop the command first, with nothing written (the read in
    // flight is dropped with the process, its retry notices untold).
    let held = std::sync::Arc::new(HeldNotices::holding());
    let early = targets.independent_of_state().then(|| {
        let (targets, printer, held) = (targets.clone(), printer.clone(), held.clone());
        std::thread::spawn(move || {
            let backend = connect_quietly(&targets, None, rps, &printer, Some(held))?;
            let plugins = ops::plan::read_plugins(backend.as_ref());
            Ok::<_, CommandError>((backend, plugins))
        })
    });
    let checked = load(common, &args.sandbox, printer)?;
    held.release();
    let (backend, plugins) = match early {
        Some(reader) => {
            let (backend, plugins) = reader
                .join()
                .map_err(|_| CommandError::internal("reading the control plane stopped"))??;
            printer.status(&target::describe(&backend.info()));
            (backend, Some(plugins))
        }
        None => (connect(targets, Some(&checked.state), rps, printer)?, None),
    };
    let mut secrets = targets.secrets();
    secrets.extend(checked.state.secrets.iter().cloned());
    let progress = Reporter::new(printer);
    let profile = ops::plan::ProfileRequest {
        linted: args.sandbox.lint_options()?,
        explicit: args.sandbox.is_explicit(),
    };
    ops::plan::target_profile(&checked, &profile, backend.as_ref(), &secrets, &progress)?;
    let mut source = ops::plan::ControlPlane::new(backend.as_ref(), &secrets);
    if let Some(plugins) = plugins {
        source = source.with_plugins(plugins);
    }
    let plan = ops::plan::plan(&checked, &source, &args.request())?;
    Ok((checked, backend, plan))
}

/// Leaves a command's large in-memory values (the checked state, the plan) to the end of the
/// process instead of freeing them one allocation at a time, which for tens of thousands of
/// instances takes longer than anything left to do: the command returns and the process exits
/// right after. Only for plain data: nothing whose drop flushes, unlocks or disconnects.
pub fn release_at_exit<T>(value: T) {
    std::mem::forget(value);
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

/// Applies a plan up to (and with `--wait` through) its data-plane rollouts, printing a line
/// per step (or a bar) and the report, then waits for the data planes with `--wait`.
/// `validate_against`: the live state a saved plan was checked against; `rerun`: the command
/// to run after a data-plane rollout.
#[allow(clippy::too_many_arguments)]
pub fn apply_and_report(
    backend: &dyn Backend,
    plan: &Plan,
    args: &ApplyArgs,
    secrets: &[String],
    validate_against: Option<&crate::model::LiveState>,
    format: Format,
    rerun: &str,
    printer: &Printer,
) -> Result<Outcome, CommandError> {
    let progress = Reporter::new(printer);
    let baseline = ops::apply::wait_baseline(backend, args.wait)?;
    let schemas = crate::lua::SchemaCache::new();
    let request = ops::apply::ApplyRequest {
        parallelism: args.parallelism,
        wait: args.wait,
        rolled_out: &args.rolled_out,
        secrets,
        validate_against,
        schemas: &schemas,
        env: &settings::process_env,
    };
    let applied = ops::apply::apply_through_rollouts(backend, plan, &request, &progress)?;
    let outcome = report_apply(&applied.plan, &applied.report, format, printer);
    if outcome == Outcome::Success {
        match applied.stop {
            RolloutStop::Pending(step) => {
                announce_rollout(&step, rerun, printer);
                return Ok(outcome);
            }
            RolloutStop::WaitFailed(e) => return Err(e),
            RolloutStop::Complete => {}
        }
        let baseline = baseline.filter(|_| applied.plan.has_changes());
        ops::apply::wait(backend, args.wait, baseline.as_ref(), &progress)?;
    }
    Ok(outcome)
}

/// The printer as the operations' [`Progress`]: status lines and warnings on stderr (as `-q`
/// and `-v` allow), lint errors as text, and per apply a progress bar on a terminal or one
/// line per step otherwise (failures always get a line).
pub struct Reporter<'a> {
    printer: &'a Printer,
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl<'a> Reporter<'a> {
    pub fn new(printer: &'a Printer) -> Reporter<'a> {
        Reporter {
            printer,
            bar: std::sync::Mutex::new(None),
        }
    }
}

impl Progress for Reporter<'_> {
    fn status(&self, line: &str) {
        self.printer.status(line);
    }

    fn warn(&self, line: &str) {
        self.printer.warn(line);
    }

    fn diagnostics(&self, errors: &[crate::model::Diagnostic]) {
        crate::etext!("{}", lint::report::text(errors, self.printer.color_stderr));
    }

    fn apply_started(&self, total: usize) {
        let show = !self.printer.quiet && std::io::stderr().is_terminal() && total > 1;
        let bar = show.then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        if let Ok(mut slot) = self.bar.lock() {
            *slot = bar;
        }
    }

    fn step_done(&self, r: &StepResult, n: usize, total: usize) {
        if self.printer.quiet && r.status == StepStatus::Done {
            return;
        }
        let color = self.printer.color_stderr;
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
        let bar = self.bar.lock().ok().and_then(|b| b.clone());
        match bar {
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
    }

    fn apply_finished(&self) {
        if let Some(b) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            b.finish_and_clear();
        }
    }
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
