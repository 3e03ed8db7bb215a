//! Command-line types (clap) and dispatch. One file per command in `commands/`: its argument
//! struct and a `run` that wires the pipeline stages together.

pub mod commands;
pub mod review;
pub mod run;
pub mod target;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::Outcome;

/// GitOps reconciler for Kong Gateway streamed custom plugins.
#[derive(Debug, Parser)]
#[command(name = "plugsync", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check state files offline: YAML, Lua syntax, streaming limits, schemas, instance configs.
    Lint(commands::lint::LintArgs),
    /// Compute the plan against the target and render it (writes nothing).
    Diff(commands::diff::DiffArgs),
    /// Compute the plan, render it, and save it for a later `apply`.
    Plan(commands::plan::PlanCmdArgs),
    /// Apply a saved plan, unless the live state changed since it was made.
    Apply(commands::apply::ApplyCmdArgs),
    /// Plan and apply in one run.
    Sync(commands::sync::SyncArgs),
    /// Export the live custom plugins and instances in scope as state files.
    Dump(commands::dump::DumpArgs),
    /// Run the local control plane over HTTP.
    Serve(commands::serve::ServeArgs),
    /// Write the data-plane files of hybrid-mode plugins (`streamed: false`).
    Bundle(commands::bundle::BundleArgs),
}

/// Output format of a command's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
    Markdown,
}

/// Flags every state-reading command takes.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// A state file, or a directory whose *.yaml/*.yml files are merged (repeatable).
    #[arg(
        short = 's',
        long = "state",
        value_name = "PATH",
        default_value = "plugsync.yaml"
    )]
    pub state: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Only manage entities carrying this tag (repeatable; merged with `_info.select_tags`).
    #[arg(long = "select-tag", value_name = "TAG")]
    pub select_tag: Vec<String>,
    /// Read the state files (and plugin directories) from this git commit of the repository
    /// holding them instead of the working tree.
    #[arg(long = "git-ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// Print only data and errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print more detail (repeatable).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Parses the command line and runs the command. Usage errors exit 1, never 2.
pub fn main() -> Outcome {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Outcome::Success
                }
                _ => Outcome::Failure,
            };
        }
    };
    match cli.command {
        Command::Lint(args) => commands::lint::run(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Apply(args) => commands::apply::run(args),
        Command::Sync(args) => commands::sync::run(args),
        Command::Dump(args) => commands::dump::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Bundle(args) => commands::bundle::run(args),
    }
}
