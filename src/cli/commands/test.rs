//! `plugsync test`: runs the custom plugins' handlers against the sample requests of
//! `tests/*.test.yaml`, offline, with a stand-in for Kong's PDK.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cli::run::{self, SandboxArgs};
use crate::error::{CommandError, Outcome};
use crate::pdktest::{self, report};
use crate::{settings, state};

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
    let loaded = state::load(&args.state, &state::WorkTree, &settings::process_env);
    if loaded.state.custom_plugins.is_empty() && loaded.has_errors() {
        crate::etext!(
            "{}",
            crate::lint::report::text(
                &loaded
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .cloned()
                    .collect::<Vec<_>>(),
                printer.color_stderr
            )
        );
        return Err(CommandError::new("the state cannot be read")
            .with_hint("run `plugsync lint` for details"));
    }
    if loaded.has_errors() {
        printer.warn("the state has errors (run `plugsync lint`); testing the plugins it declares");
    }
    let (files, mut invalid) = pdktest::discover(&args.paths, &args.state, &loaded.state);
    if files.is_empty() && invalid.is_empty() {
        let where_ = if args.paths.is_empty() {
            pdktest::default_dirs(&args.state)
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            "the paths given".to_string()
        };
        return Err(CommandError::new(format!(
            "no test files (*{}) found in {where_}",
            pdktest::SUFFIX
        ))
        .with_hint("write one: see docs/testing-plugins.md"));
    }
    let options = pdktest::Options {
        profile: options.profile,
        sandbox_requires: options.sandbox_requires,
    };
    let mut result = pdktest::run(&files, &loaded.state, &options);
    invalid.append(&mut result.invalid);
    result.invalid = invalid;
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
