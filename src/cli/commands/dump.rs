//! `plugsync dump --dir DIR`: export the live custom plugins and instances in scope as a state
//! file plus one directory per plugin (`crate::ops::dump` renders them).

use std::path::PathBuf;

use clap::Args;

use crate::cli::run;
use crate::cli::target::TargetArgs;
use crate::error::{CommandError, Outcome};
use crate::ops;
use crate::settings;

/// Arguments of `plugsync dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Directory to write `plugsync.yaml` and `plugins/NAME/{handler,schema}.lua` into.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only entities carrying this tag (repeatable).
    #[arg(long = "select-tag", value_name = "TAG")]
    pub select_tag: Vec<String>,
    /// Overwrite files that already exist in DIR.
    #[arg(long)]
    pub force: bool,
    /// Print only data and errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print more detail (repeatable).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Runs the dump.
pub fn run(args: DumpArgs) -> Outcome {
    let printer = settings::printer(args.quiet, args.verbose);
    match dump(&args, &printer) {
        Ok(o) => o,
        Err(e) => run::fail(&printer, e),
    }
}

fn dump(args: &DumpArgs, printer: &crate::ui::Printer) -> Result<Outcome, CommandError> {
    let backend = run::connect(&args.target, None, None, printer)?;
    let progress = run::Reporter::new(printer);
    let dump = ops::dump::dump(
        backend.as_ref(),
        &args.select_tag,
        &args.target.secrets(),
        &progress,
    )?;
    ops::dump::write(&args.dir, &dump.files, args.force)?;
    printer.status(&format!(
        "dumped {} custom plugins and {} instances to {}",
        dump.custom_plugins,
        dump.instances,
        args.dir.join("plugsync.yaml").display()
    ));
    Ok(Outcome::Success)
}
