//! Command-line types (clap) and dispatch. One file per command in `commands/`: its argument
//! struct and a `run` that wires the pipeline stages together.

pub mod commands;
pub mod review;
pub mod run;
pub mod target;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::Outcome;

pub use crate::version;

/// GitOps reconciler for Kong Gateway streamed custom plugins.
#[derive(Debug, Parser)]
#[command(name = "plugsync", version = version(), about, propagate_version = true)]
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
    /// Run custom plugins' handlers against sample requests offline (tests/*.test.yaml).
    Test(commands::test::TestArgs),
    /// Check the target's address, token and permissions; print its Kong version and the
    /// sandbox profile that applies.
    Ping(commands::ping::PingArgs),
    /// Print shell completions for bash, zsh, fish or powershell.
    Completions(commands::completions::CompletionsArgs),
    /// Write man pages for plugsync and each command into a directory.
    #[command(hide = true)]
    Man(commands::completions::ManArgs),
}

impl Command {
    /// The `--format` the command was given, for commands that take the common one.
    fn format(&self) -> Option<Format> {
        match self {
            Command::Diff(a) => Some(a.common.format),
            Command::Plan(a) => Some(a.common.format),
            Command::Sync(a) => Some(a.common.format),
            Command::Apply(a) => Some(a.format),
            Command::Ping(a) => Some(a.format),
            _ => None,
        }
    }
}

/// Output format of a command's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
    Markdown,
    /// SARIF 2.1.0, for GitHub code scanning (lint only).
    Sarif,
    /// GitHub Actions workflow commands: annotations on files (lint only).
    Github,
}

impl Format {
    /// Formats only `lint` writes.
    pub fn lint_only(self) -> bool {
        matches!(self, Format::Sarif | Format::Github)
    }
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

/// Flags every command that takes them reads after its name, but that people also type before
/// it, as most CLIs allow (`plugsync -v diff`): `-q`, `-v` (also `-vv`), `--quiet`,
/// `--verbose`, `--format VALUE`.
fn is_leading_flag(arg: &str) -> bool {
    matches!(arg, "--quiet" | "--verbose")
        || arg.starts_with("--format=")
        || (arg.len() > 1
            && arg.starts_with('-')
            && !arg.starts_with("--")
            && arg[1..].chars().all(|c| c == 'q' || c == 'v'))
}

/// Moves the flags of [`is_leading_flag`] typed before the command name to just after it, so
/// `plugsync -v diff` means `plugsync diff -v`. Anything else is left where it is.
pub fn hoist_leading_flags(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut moved = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let Some(a) = args[i].to_str() else { break };
        if a == "--format" && i + 1 < args.len() {
            moved.push(args[i].clone());
            moved.push(args[i + 1].clone());
            i += 2;
        } else if is_leading_flag(a) {
            moved.push(args[i].clone());
            i += 1;
        } else {
            break;
        }
    }
    if moved.is_empty() || i >= args.len() || args[i].to_str().is_some_and(|a| a.starts_with('-')) {
        return args;
    }
    let mut out = vec![args[0].clone(), args[i].clone()];
    out.extend(moved);
    out.extend(args[i + 1..].iter().cloned());
    out
}

/// Parses the command line and runs the command. Usage errors exit 1, never 2.
pub fn main() -> Outcome {
    let args = hoist_leading_flags(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(args) {
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
    if let Some(format) = cli.command.format().filter(|f| f.lint_only()) {
        let value = format.to_possible_value().map(|v| v.get_name().to_string());
        crate::eline!(
            "error: --format {} is for `plugsync lint` only; this command writes text, json or markdown",
            value.unwrap_or_default()
        );
        return Outcome::Failure;
    }
    match cli.command {
        Command::Lint(args) => commands::lint::run(args),
        Command::Ping(args) => commands::ping::run(args),
        Command::Completions(args) => commands::completions::run(args),
        Command::Man(args) => commands::completions::man(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Apply(args) => commands::apply::run(args),
        Command::Sync(args) => commands::sync::run(args),
        Command::Dump(args) => commands::dump::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Bundle(args) => commands::bundle::run(args),
        Command::Test(args) => commands::test::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::hoist_leading_flags;

    fn hoist(args: &[&str]) -> Vec<String> {
        hoist_leading_flags(args.iter().map(Into::into).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn flags_before_the_command_move_after_it() {
        assert_eq!(
            hoist(&["p", "-v", "diff", "-s", "x"]),
            ["p", "diff", "-v", "-s", "x"]
        );
        assert_eq!(
            hoist(&["p", "-q", "--format", "json", "sync"]),
            ["p", "sync", "-q", "--format", "json"]
        );
        assert_eq!(
            hoist(&["p", "-vv", "--quiet", "lint"]),
            ["p", "lint", "-vv", "--quiet"]
        );
        assert_eq!(hoist(&["p", "diff", "-v"]), ["p", "diff", "-v"]);
        assert_eq!(hoist(&["p", "-v", "--help"]), ["p", "-v", "--help"]);
        assert_eq!(hoist(&["p", "-x", "diff"]), ["p", "-x", "diff"]);
    }
}
