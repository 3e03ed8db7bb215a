//! `plugsync diff`: compute the plan against the target and render it. Writes nothing.

use clap::Args;

use crate::cli::run::{self, PlanArgs};
use crate::cli::target::TargetArgs;
use crate::cli::CommonArgs;
use crate::error::{CommandError, Outcome};
use crate::settings;

/// Arguments of `plugsync diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Exit 2 when there are changes.
    #[arg(long, alias = "non-zero-exit-code")]
    pub exit_code: bool,
    /// Offline review: compare the state at this git revision (as if it were the control
    /// plane) with the head; no control plane is read and target flags are ignored.
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// With --base: the revision to review (default: the working tree).
    #[arg(
        long,
        value_name = "REF",
        requires = "base",
        conflicts_with = "git_ref"
    )]
    pub head: Option<String>,
}

/// Runs the diff.
pub fn run(args: DiffArgs) -> Outcome {
    let printer = settings::printer(args.common.quiet, args.common.verbose);
    match diff(&args, &printer) {
        Ok(o) => o,
        Err(e) => run::fail_with_report(&printer, args.common.format, "diff", e),
    }
}

fn diff(args: &DiffArgs, printer: &crate::ui::Printer) -> Result<Outcome, CommandError> {
    if let Some(base) = &args.base {
        let head = args.head.as_deref().or(args.common.git_ref.as_deref());
        return crate::cli::review::run(
            &args.common,
            base,
            head,
            &args.plan,
            args.exit_code,
            printer,
        );
    }
    let (checked, backend, plan) =
        run::plan_against_target(&args.common, &args.target, &args.plan, None, printer)?;
    printer.data(&run::render_plan(&plan, args.common.format, printer));
    printer.verbose(&format!("requests: {}", backend.stats().requests));
    let outcome = if args.exit_code && plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Success
    };
    run::release_at_exit((checked, plan));
    Ok(outcome)
}
