//! Flags and environment → settings. The only place that reads the process environment.

use std::io::IsTerminal;

use crate::ui::Printer;

/// Looks a variable up in the process environment (for `${{ env "…" }}` templates).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Where plugsync keeps its caches (the lint cache, `lint::cache`): `PLUGSYNC_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/plugsync`, else `~/.cache/plugsync` (`%LOCALAPPDATA%\plugsync` on Windows).
/// `None` when `PLUGSYNC_NO_CACHE` is set to anything but empty, `0` or `false`, or when no home
/// is known.
pub fn cache_root() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if var("PLUGSYNC_NO_CACHE")
        .is_some_and(|v| !matches!(v.to_string_lossy().trim(), "0" | "false" | "no" | "off"))
    {
        return None;
    }
    if let Some(dir) = var("PLUGSYNC_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    // The XDG base directory spec: a relative XDG_CACHE_HOME is invalid and ignored.
    if let Some(dir) = var("XDG_CACHE_HOME").map(PathBuf::from) {
        if dir.is_absolute() {
            return Some(dir.join("plugsync"));
        }
    }
    if cfg!(windows) {
        return var("LOCALAPPDATA").map(|d| PathBuf::from(d).join("plugsync"));
    }
    var("HOME").map(|h| PathBuf::from(h).join(".cache").join("plugsync"))
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
