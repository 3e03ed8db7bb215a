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
}

/// Runs the diff.
pub fn run(args: DiffArgs) -> Outcome {
    let printer = settings::printer(args.common.quiet, args.common.verbose);
    match diff(&args, &printer) {
        Ok(o) => o,
        Err(e) => run::fail(&printer, e),
    }
}

fn diff(args: &DiffArgs, printer: &crate::ui::Printer) -> Result<Outcome, CommandError> {
    let loaded = run::load(&args.common, &args.plan.sandbox_requires, printer)?;
    let backend = run::connect(&args.target, Some(&loaded.state), None, printer)?;
    let fetched = run::fetch(
        backend.as_ref(),
        &loaded.select_tags,
        Some(&loaded.state),
        &args.target.secrets(),
    )?;
    let plan = run::make_plan(&loaded, &fetched, backend.as_ref(), &args.plan)?;
    printer.data(&run::render_plan(&plan, args.common.format, printer));
    printer.verbose(&format!("requests: {}", backend.stats().requests));
    Ok(if args.exit_code && plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}
