//! `plugsync lint`: load the state, run every rule, print the diagnostics.

use clap::Args;

use crate::cli::{CommonArgs, Format};
use crate::error::Outcome;
use crate::lint::report;
use crate::ops;
use crate::settings;

/// Arguments of `plugsync lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub sandbox: crate::cli::run::SandboxArgs,
}

/// Runs the lint.
pub fn run(args: LintArgs) -> Outcome {
    let printer = settings::printer(args.common.quiet, args.common.verbose);
    let files = match ops::check::file_source(&args.common.state, args.common.git_ref.as_deref()) {
        Ok((files, _)) => files,
        Err(e) => return crate::cli::run::fail(&printer, e),
    };
    let options = match args.sandbox.lint_options() {
        Ok(o) => o,
        Err(e) => return crate::cli::run::fail(&printer, e),
    };
    let linted = ops::check::lint(
        &args.common.state,
        files.as_ref(),
        &options,
        &settings::process_env,
    );
    let diags = linted.diagnostics;
    let summary = report::Summary::of(&diags);
    match args.common.format {
        Format::Text => {
            printer.data(&report::text(&diags, printer.color_stdout));
            let counts = format!(
                "linted {} and {}: {}",
                report::count(linted.custom_plugins, "custom plugin"),
                report::count(linted.instances, "instance"),
                summary.line()
            );
            printer.status(&counts);
        }
        Format::Json => printer.data(&report::json(&diags)),
        Format::Markdown => printer.data(&report::markdown(&diags)),
        Format::Sarif => printer.data(&report::sarif(&diags)),
        Format::Github => printer.data(&report::github(
            &diags,
            std::env::var_os("GITHUB_WORKSPACE")
                .map(std::path::PathBuf::from)
                .as_deref(),
        )),
    }
    if summary.errors > 0 {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}
