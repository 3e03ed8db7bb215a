//! Flags and environment → settings. The only place that reads the process environment.

use std::io::IsTerminal;

use crate::ui::Printer;

/// Looks a variable up in the process environment (for `${{ env "…" }}` templates).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Whether colour is allowed at all (`NO_COLOR` unset or empty).
fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The printer for these output flags.
pub fn printer(quiet: bool, verbose: u8) -> Printer {
    let allowed = color_allowed();
    Printer {
        color_stdout: allowed && std::io::stdout().is_terminal(),
        color_stderr: allowed && std::io::stderr().is_terminal(),
        quiet,
        verbose,
    }
}
