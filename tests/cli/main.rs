//! End-to-end tests: the `plugsync` binary run as users run it.

// Tests may unwrap and print (Cargo.toml [lints]; clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod action;
mod architecture;
mod deck;
mod distrib;
mod fidelity;
mod git;
mod hybrid;
mod lint;
mod pdktest;
mod reconcile;
mod reliability;
mod scenarios;
mod serve;
mod trust;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as ProcessCommand, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// The repository root (tests run the binary from here, so paths in output are relative).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `plugsync` with a clean environment for deterministic output. Its lint cache is one
/// directory shared by the whole suite (so the snapshots also check cached answers), never the
/// user's.
pub fn plugsync(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("plugsync").expect("the plugsync binary is built");
    cmd.current_dir(dir)
        .env_remove("PLUGSYNC_NO_CACHE")
        .env(
            "PLUGSYNC_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
        )
        .env("NO_COLOR", "1")
        .env("PLUGSYNC_REDIS_PASSWORD", "not-a-real-password")
        .env("PLUGSYNC_SECRET_HEADER", "hunter2 secret");
    cmd
}

/// Runs plugsync in `dir` with `args` and then `extra`; returns the exit code, stdout and
/// stderr.
pub fn run_plugsync(dir: &Path, args: &[&str], extra: &[String]) -> (i32, String, String) {
    let out = plugsync(dir)
        .args(args)
        .args(extra)
        .output()
        .expect("run plugsync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Runs `git ARGS` in `dir`, a test repository (fixed author, no user or system
/// configuration); returns its stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let null = if cfg!(windows) { "NUL" } else { "/dev/null" };
    let out = ProcessCommand::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", null)
        .args([
            "-c",
            "user.name=plugsync tests",
            "-c",
            "user.email=tests@example.com",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Stages everything in the working tree of the repository at `dir` (deletions too) and
/// commits; returns the commit id.
pub fn git_commit(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// Target flags for the Konnect shape (`konnect`) or the Admin API shape of `server`, with
/// `token`.
pub fn target_flags(server: &Server, konnect: bool, token: &str) -> Vec<String> {
    if konnect {
        vec![
            "--konnect-addr".into(),
            server.base.clone(),
            "--konnect-token".into(),
            token.into(),
            "--konnect-control-plane-name".into(),
            "default".into(),
        ]
    } else {
        vec![
            "--kong-addr".into(),
            server.base.clone(),
            "--kong-admin-token".into(),
            token.into(),
        ]
    }
}

/// Checks `actual` against the insta snapshot `dir/NAME.snap` (kept beside the case's inputs,
/// so a case folder holds everything about it). A mismatch fails with a line diff; to accept
/// new output, `cargo insta review` or `INSTA_UPDATE=always cargo test` (CONTRIBUTING.md). CI
/// sets `INSTA_UPDATE=no`: it never writes a snapshot.
///
/// insta compares contents without trailing whitespace; every output here ends with exactly one
/// newline, so that is checked on its own and the comparison stays byte for byte.
pub fn snapshot(dir: &Path, name: &str, actual: &str) {
    assert!(
        actual.ends_with('\n') && !actual.ends_with("\n\n"),
        "{}/{name}: the output does not end with exactly one newline: {actual:?}",
        dir.display()
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, actual));
}

/// The sub-folders of `testdata/SUBDIR`, sorted: the cases a table of tests must list.
pub fn case_folders(subdir: &str) -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir(root().join("testdata").join(subdir))
        .unwrap_or_else(|e| panic!("testdata/{subdir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().expect("a name").to_string_lossy().to_string())
        .collect();
    cases.sort();
    cases
}

/// A running `plugsync serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The `default` control plane's id.
    pub cp: String,
    /// What the server wrote to stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `plugsync serve --listen 127.0.0.1:0 --data DATA EXTRA…` and reads its
    /// listening line.
    pub fn start(data: &str, extra: &[&str]) -> Server {
        let mut child = ProcessCommand::new(env!("CARGO_BIN_EXE_plugsync"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data", data])
            .args(extra)
            .env("NO_COLOR", "1")
            .env_remove("PLUGSYNC_SERVE_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start plugsync serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let parsed = line
            .trim_end()
            .strip_prefix("plugsync serve listening on ")
            .and_then(|rest| rest.split_once(" (control plane default: "))
            .and_then(|(base, cp)| Some((base.to_string(), cp.strip_suffix(')')?.to_string())));
        let Some((base, cp)) = parsed else {
            let _ = child.kill();
            let _ = child.wait();
            thread::sleep(Duration::from_millis(100));
            panic!(
                "no listening line from plugsync serve (got {line:?}); stderr:\n{}",
                stderr.lock().unwrap()
            );
        };
        Server {
            child,
            base,
            cp,
            stderr,
        }
    }

    /// `BASE/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A core-entities URL of the `default` control plane.
    pub fn v2(&self, path: &str) -> String {
        self.v2_of(&self.cp, path)
    }

    /// A core-entities URL of control plane `cp`.
    pub fn v2_of(&self, cp: &str, path: &str) -> String {
        format!("{}/v2/control-planes/{cp}/core-entities{path}", self.base)
    }

    /// Stops the server with SIGTERM and checks it exits 0.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = ProcessCommand::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for plugsync serve") {
                assert!(
                    status.success(),
                    "plugsync serve exited with {status} after SIGTERM; stderr:\n{}",
                    self.stderr.lock().unwrap()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "plugsync serve did not stop on SIGTERM"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
