//! `plugsync test`: runs the custom plugins' handlers against the sample requests of
//! `tests/*.test.yaml`, offline, with a stand-in for Kong's PDK (`crate::ops::test` runs them;
//! this maps the flags and prints the report).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cli::run::{self, SandboxArgs};
use crate::error::{CommandError, Outcome};
use crate::ops::{self, test::TestRequest};
use crate::pdktest::report;
use crate::settings;

/// Output format of `plugsync test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum TestFormat {
    #[default]
    Text,
    Json,
    Markdown,
    /// JUnit XML, for CI test reports.
    Junit,
}

/// Arguments of `plugsync test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files, or directories searched for *.test.yaml (default: tests/ beside the state).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A state file, or a directory whose *.yaml/*.yml files are merged (repeatable).
    #[arg(
        short = 's',
        long = "state",
        value_name = "PATH",
        default_value = "plugsync.yaml"
    )]
    pub state: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TestFormat::Text)]
    pub format: TestFormat,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// Print only data and errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print more detail (repeatable).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Runs the tests.
pub fn run(args: TestArgs) -> Outcome {
    let printer = settings::printer(args.quiet, args.verbose);
    match test(&args, &printer) {
        Ok(o) => o,
        Err(e) => run::fail(&printer, e),
    }
}

fn test(args: &TestArgs, printer: &crate::ui::Printer) -> Result<Outcome, CommandError> {
    let options = args.sandbox.lint_options()?;
    let request = TestRequest {
        paths: &args.paths,
        state: &args.state,
        lint: options,
        env: &settings::process_env,
    };
    let result = ops::test::test(&request, &run::Reporter::new(printer))?;
    match args.format {
        TestFormat::Text => printer.data(&report::text(&result, printer.color_stdout)),
        TestFormat::Json => printer.data(&report::json(&result)),
        TestFormat::Junit => printer.data(&report::junit(&result)),
        TestFormat::Markdown => printer.data(&report::markdown(&result)),
    }
    printer.verbose(&format!("ran in {} ms", result.duration.as_millis()));
    Ok(if result.ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}
