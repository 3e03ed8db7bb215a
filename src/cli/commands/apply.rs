//! `plugsync apply FILE`: apply a saved plan, unless the live state changed since it was made.

use std::path::PathBuf;

use clap::Args;

use crate::cli::run::{self, ApplyArgs};
use crate::cli::target::TargetArgs;
use crate::cli::Format;
use crate::error::{CommandError, ErrorKind, Outcome};
use crate::plan::file::PlanFileError;
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
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| CommandError::io("read the plan", &args.file, e))?;
    let plan = crate::plan::file::parse(&text).map_err(|e| match e {
        PlanFileError::Invalid(why) => CommandError::new(format!(
            "{} is not a plugsync plan: {why}",
            args.file.display()
        )),
        PlanFileError::Version(_) => CommandError::new(e.to_string()),
    })?;
    let backend = run::connect(&args.target, None, args.apply.rps, printer)?;
    let info = backend.info();
    if info.kind != plan.target.kind || info.control_plane != plan.target.control_plane {
        return Err(CommandError::new(format!(
            "the plan was made for {} control plane \"{}\" but the target is {} control plane \"{}\"",
            plan.target.kind, plan.target.control_plane, info.kind, info.control_plane
        ))
        .with_hint("pass the same target flags as when the plan was made"));
    }
    let secrets = args.target.secrets();
    let fetched = run::fetch_for_plan(backend.as_ref(), &plan, &secrets)?;
    let now = crate::model::hash::fingerprint(&fetched.live);
    if now != plan.fingerprint {
        return Err(CommandError::of_kind(
            ErrorKind::StalePlan,
            format!(
                "the plan is stale: the control plane changed since it was made ({} now, {} in the plan); nothing was written",
                now, plan.fingerprint
            ),
        )
        .with_hint("make a new plan with `plugsync plan --out FILE` and review it"));
    }
    if !plan.has_changes() {
        printer.status("the plan has no changes");
        return Ok(Outcome::Success);
    }
    let baseline = run::wait_baseline(backend.as_ref(), &args.apply)?;
    let (now, report, stop) = run::apply_through_rollouts(
        backend.as_ref(),
        &plan,
        &args.apply,
        &secrets,
        Some(&fetched.live),
        printer,
    )?;
    let outcome = run::report_apply(&now, &report, args.format, printer);
    if outcome == Outcome::Success {
        match stop {
            run::RolloutStop::Pending(step) => {
                run::announce_rollout(
                    &step,
                    "plugsync plan --out FILE, review it, and plugsync apply FILE",
                    printer,
                );
                return Ok(outcome);
            }
            run::RolloutStop::WaitFailed(e) => return Err(e),
            run::RolloutStop::Complete => {}
        }
        let baseline = baseline.filter(|_| now.has_changes());
        run::wait(backend.as_ref(), &args.apply, baseline.as_ref(), printer)?;
    }
    Ok(outcome)
}
