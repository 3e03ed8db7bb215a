//! Build metadata for `plugsync --version`: the git commit and the build date, when the crate is
//! built from a git checkout of its own repository (not from a crates.io package, and not from a
//! package unpacked inside some other repository). Uses the `git` command when it is there; no
//! build dependencies.
//!
//! Sets `PLUGSYNC_GIT_COMMIT` (12 hex digits, `-dirty` appended for uncommitted changes) and
//! `PLUGSYNC_BUILD_DATE` (`YYYY-MM-DD`, UTC; `SOURCE_DATE_EPOCH` wins for reproducible builds),
//! both empty when unknown.

// A build script talks to cargo on stdout (`cargo:` lines).
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `YYYY-MM-DD` of a Unix time (UTC), by the days-to-civil algorithm.
fn date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=build.rs");
    // Sources, so that `-dirty` follows uncommitted changes.
    for path in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let own_checkout = git(&manifest, &["rev-parse", "--show-toplevel"])
        .map(PathBuf::from)
        .and_then(|top| top.canonicalize().ok())
        .is_some_and(|top| manifest.canonicalize().is_ok_and(|m| m == top));

    let mut commit = String::new();
    let mut built = String::new();
    if own_checkout {
        if let Some(c) = git(&manifest, &["rev-parse", "--short=12", "HEAD"]) {
            let dirty = git(
                &manifest,
                &[
                    "status",
                    "--porcelain",
                    "--untracked-files=no",
                    "--",
                    "src",
                    "Cargo.toml",
                    "Cargo.lock",
                    "build.rs",
                ],
            )
            .is_some_and(|s| !s.is_empty());
            commit = if dirty { format!("{c}-dirty") } else { c };
        }
        // Run again when HEAD moves: HEAD itself, the branch it points to, and packed refs.
        for path in ["HEAD", "packed-refs"] {
            if let Some(p) = git(&manifest, &["rev-parse", "--git-path", path]) {
                println!("cargo:rerun-if-changed={}", manifest.join(p).display());
            }
        }
        if let Some(branch) = git(&manifest, &["symbolic-ref", "-q", "HEAD"]) {
            if let Some(p) = git(&manifest, &["rev-parse", "--git-path", &branch]) {
                println!("cargo:rerun-if-changed={}", manifest.join(p).display());
            }
        }
        let secs = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs() as i64)
            });
        if let Some(secs) = secs {
            built = date(secs);
        }
    }
    println!("cargo:rustc-env=PLUGSYNC_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=PLUGSYNC_BUILD_DATE={built}");
}
