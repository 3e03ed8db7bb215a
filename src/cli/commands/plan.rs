//! `plugsync plan --out FILE`: compute the plan, render it, and save it for `apply`.

use std::path::PathBuf;

use clap::Args;

use crate::cli::run::{self, PlanArgs};
use crate::cli::target::TargetArgs;
use crate::cli::CommonArgs;
use crate::error::{CommandError, Outcome};
use crate::settings;

/// Arguments of `plugsync plan`.
#[derive(Debug, Args)]
pub struct PlanCmdArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Where to save the plan (JSON, for `plugsync apply`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes.
    #[arg(long, alias = "non-zero-exit-code")]
    pub exit_code: bool,
}

/// Runs the plan.
pub fn run(args: PlanCmdArgs) -> Outcome {
    let printer = settings::printer(args.common.quiet, args.common.verbose);
    match plan(&args, &printer) {
        Ok(o) => o,
        Err(e) => run::fail_with_report(&printer, args.common.format, "plan", e),
    }
}

fn plan(args: &PlanCmdArgs, printer: &crate::ui::Printer) -> Result<Outcome, CommandError> {
    let (checked, _, plan) =
        run::plan_against_target(&args.common, &args.target, &args.plan, None, printer)?;
    run::release_at_exit(checked);
    printer.data(&run::render_plan(&plan, args.common.format, printer));
    if let Some(out) = &args.out {
        let json = crate::render::json(&plan);
        write_atomically(out, json.as_bytes())
            .map_err(|e| CommandError::io("write the plan to", out, e))?;
        printer.status(&format!(
            "plan saved to {}; apply it with `plugsync apply {}`",
            out.display(),
            out.display()
        ));
    }
    Ok(if args.exit_code && plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}

/// Writes through a temporary file and a rename, so a reader never sees half a plan.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("plan")
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
