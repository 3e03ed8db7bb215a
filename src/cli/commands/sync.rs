//! `plugsync sync`: plan and apply in one run (`--dry-run` = `diff`).

use clap::Args;

use crate::cli::run::{self, ApplyArgs, PlanArgs};
use crate::cli::target::TargetArgs;
use crate::cli::{CommonArgs, Format};
use crate::error::{CommandError, Outcome};
use crate::settings;

/// Arguments of `plugsync sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub apply: ApplyArgs,
    /// Show the plan and stop (the same as `diff`).
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs the sync.
pub fn run(args: SyncArgs) -> Outcome {
    let printer = settings::printer(args.common.quiet, args.common.verbose);
    match sync(&args, &printer) {
        Ok(o) => o,
        Err(e) => run::fail_with_report(&printer, args.common.format, "sync", e),
    }
}

fn sync(args: &SyncArgs, printer: &crate::ui::Printer) -> Result<Outcome, CommandError> {
    let (checked, backend, plan) = run::plan_against_target(
        &args.common,
        &args.target,
        &args.plan,
        args.apply.rps,
        printer,
    )?;
    let mut secrets = args.target.secrets();
    secrets.extend(checked.state.secrets.iter().cloned());
    // `-q` keeps the text plan out of a sync (the step lines are left out too; failures and
    // the summary stay); a dry run shows it, as `diff` does. JSON and Markdown are reports.
    let quiet_text = printer.quiet && args.common.format == Format::Text && !args.dry_run;
    if (args.common.format != Format::Json || args.dry_run) && !quiet_text {
        printer.data(&run::render_plan(&plan, args.common.format, printer));
    }
    if args.dry_run {
        return Ok(Outcome::Success);
    }
    let outcome = run::apply_and_report(
        backend.as_ref(),
        &plan,
        &args.apply,
        &secrets,
        None,
        args.common.format,
        "plugsync sync",
        printer,
    );
    run::release_at_exit((checked, plan));
    outcome
}
