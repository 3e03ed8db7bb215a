//! `plugsync completions SHELL` (shell completion scripts) and the hidden `plugsync man --out
//! DIR` (man pages, for release archives). Both are generated from the command-line
//! definition itself, so they never drift from it.

use std::path::PathBuf;

use clap::{Args, CommandFactory, ValueEnum};

use crate::cli::Cli;
use crate::error::Outcome;

/// The shells completions are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// Arguments of `plugsync completions`.
#[derive(Debug, Args)]
#[command(after_help = "Install, for example:
  bash:        plugsync completions bash > ~/.local/share/bash-completion/completions/plugsync
  zsh:         plugsync completions zsh > \"${fpath[1]}/_plugsync\"
  fish:        plugsync completions fish > ~/.config/fish/completions/plugsync.fish
  powershell:  plugsync completions powershell >> $PROFILE")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script on stdout.
pub fn run(args: CompletionsArgs) -> Outcome {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "plugsync", &mut std::io::stdout());
    Outcome::Success
}

/// Arguments of `plugsync man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write `plugsync.1` and `plugsync-COMMAND.1` into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Writes the man pages.
pub fn man(args: ManArgs) -> Outcome {
    let written = std::fs::create_dir_all(&args.out)
        .and_then(|()| clap_mangen::generate_to(Cli::command(), &args.out));
    match written {
        Ok(()) => Outcome::Success,
        Err(e) => {
            crate::eline!(
                "error: cannot write man pages into {}: {e}",
                args.out.display()
            );
            Outcome::Failure
        }
    }
}
