//! `plugsync apply FILE`: apply a saved plan, unless the live state changed since it was made.

use std::path::PathBuf;

use clap::Args;

use crate::cli::run::{self, ApplyArgs};
use crate::cli::target::TargetArgs;
use crate::cli::Format;
use crate::error::{CommandError, Outcome};
use crate::ops;
use crate::settings;

/// Arguments of `plugsync apply`.
#[derive(Debug, Args)]
pub struct ApplyCmdArgs {
    /// The plan file written by `plugsync plan --out`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub apply: ApplyArgs,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print only data and errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print more detail (repeatable).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Runs the apply.
pub fn run(args: ApplyCmdArgs) -> Outcome {
    let printer = settings::printer(args.quiet, args.verbose);
    match apply(&args, &printer) {
        Ok(o) => o,
        Err(e) => run::fail_with_report(&printer, args.format, "apply", e),
    }
}

fn apply(args: &ApplyCmdArgs, printer: &crate::ui::Printer) -> Result<Outcome, CommandError> {
    let plan = ops::apply::read_saved(&args.file)?;
    let backend = run::connect(&args.target, None, args.apply.rps, printer)?;
    let secrets = args.target.secrets();
    let fetched = ops::apply::check_saved(&plan, backend.as_ref(), &secrets)?;
    if !plan.has_changes() {
        printer.status("the plan has no changes");
        return Ok(Outcome::Success);
    }
    run::apply_and_report(
        backend.as_ref(),
        &plan,
        &args.apply,
        &secrets,
        Some(&fetched.live),
        args.format,
        "plugsync plan --out FILE, review it, and plugsync apply FILE",
        printer,
    )
}
