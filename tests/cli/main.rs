//! End-to-end tests: the `plugsync` binary run as users run it.

mod lint;
mod scenarios;
mod serve;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The repository root (tests run the binary from here, so paths in output are relative).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `plugsync` with a clean environment for deterministic output.
pub fn plugsync(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("plugsync").expect("the plugsync binary is built");
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("PLUGSYNC_REDIS_PASSWORD", "not-a-real-password")
        .env("PLUGSYNC_SECRET_HEADER", "hunter2 secret");
    cmd
}

/// Compares `actual` with the golden file at `path`; `UPDATE_GOLDEN=1` rewrites it.
pub fn golden(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "output differs from {} (UPDATE_GOLDEN=1 rewrites it after review)",
        path.display()
    );
}
