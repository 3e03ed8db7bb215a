//! Git: the state as of a commit, and where the working tree's state came from (CONTRACT §7).
//!
//! * [`GitTree`] is a [`FileSource`] over one commit of the repository that holds the state
//!   files: `--git-ref REF` and `diff --base/--head` load the state through it exactly as they
//!   load the working tree, so plugin directories, symlinks and the rule that paths stay inside
//!   the repository behave the same way.
//! * [`worktree_source`] records, for a plan made from the working tree, the commit checked out
//!   and whether the files the state was read from differ from it (`source` in the plan).
//!
//! The repository is read by running the `git` command: `git rev-parse` finds the repository
//! and the commit, one `git cat-file --batch` per [`GitTree`] serves every tree and file read
//! from it (trees are read lazily, only along the paths the state uses, and cached), and
//! `git status` tells whether the working tree's state files are clean. Every invocation gets
//! explicit arguments (no shell), `--no-pager`, `LC_ALL=C` (stable messages), no terminal
//! prompt, no optional locks, and none of the variables that would point git at another
//! repository than the one holding the state path.
//!
//! This module and `state` are the only ones that read a repository.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::model::DesiredState;
use crate::plan::SourceInfo;
use crate::state::{FileSource, MAX_FILE_BYTES};

/// How many symbolic links one path may pass through before it is an error (as Linux).
const MAX_LINKS: usize = 40;

/// The type bits of a git file mode, and the types.
const MODE_TYPE: u32 = 0o170000;
const MODE_TREE: u32 = 0o040000;
const MODE_BLOB: u32 = 0o100000;
const MODE_LINK: u32 = 0o120000;

/// The program run.
const GIT: &str = "git";

/// Variables that point git at a repository, index or object store other than the one found
/// from the state path (git sets some of them while it runs hooks). They are cleared, so the
/// repository read is always the one holding the state files.
const REPOSITORY_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_PREFIX",
];

/// Why a revision of the state cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// No repository holds the state path.
    #[error("no git repository holds `{}`", .path.display())]
    NoRepository { path: PathBuf },
    /// The repository has no working tree to map paths into.
    #[error("the git repository at {} is bare: state paths cannot be mapped into it", .repo.display())]
    Bare { repo: PathBuf },
    /// The reference names no commit.
    #[error("`{reference}` is not a commit of the git repository at {}: {message}", .repo.display())]
    UnknownRef {
        reference: String,
        repo: PathBuf,
        message: String,
    },
    /// A state path is not in the commit.
    #[error("state path `{}` does not exist at `{reference}` (commit {commit})", .path.display())]
    MissingAtRef {
        path: PathBuf,
        reference: String,
        commit: String,
    },
    /// A state path lies outside the repository the first one is in.
    #[error("state path `{}` is outside the git repository at {}", .path.display(), .repo.display())]
    OutsideRepository { path: PathBuf, repo: PathBuf },
    /// The `git` command could not be started.
    #[error("the state at a commit is read with the `git` command, and `{command}` could not run: {message}")]
    NoGit { command: String, message: String },
    /// git failed.
    #[error("reading the git repository at {} failed: {message}", .repo.display())]
    Git { repo: PathBuf, message: String },
}

impl GitError {
    /// How to fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            GitError::NoRepository { .. } => Some(
                "--git-ref, --base and --head read the state from the git repository holding the state files; run inside a clone, or drop the flag".to_string(),
            ),
            GitError::UnknownRef { .. } => Some(
                "use a branch, tag or commit that exists locally (`git rev-parse REF`); in CI fetch the history first (actions/checkout with fetch-depth: 0)".to_string(),
            ),
            GitError::MissingAtRef { .. } => Some(
                "check -s: paths are relative to the working directory and looked up in that commit".to_string(),
            ),
            GitError::NoGit { .. } => Some(
                "install git (https://git-scm.com/downloads) and make sure `git` is on PATH, or drop --git-ref, --base and --head to read the working tree".to_string(),
            ),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running git.

/// `git ARGS` as a message shows it (arguments with spaces or quotes single-quoted).
fn shown<S: AsRef<OsStr>>(args: &[S]) -> String {
    let mut out = String::from(GIT);
    for a in args {
        let a = a.as_ref().to_string_lossy();
        out.push(' ');
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            out.push('\'');
            out.push_str(&a.replace('\'', r"'\''"));
            out.push('\'');
        } else {
            out.push_str(&a);
        }
    }
    out
}

/// `dir` as git takes it: on Windows without the `\\?\` prefix of canonical paths.
fn plain(dir: &Path) -> PathBuf {
    #[cfg(windows)]
    if let Some(s) = dir.to_str() {
        if let Some(rest) = s.strip_prefix(r"\\?\UNC\") {
            return PathBuf::from(format!(r"\\{rest}"));
        }
        if let Some(rest) = s.strip_prefix(r"\\?\") {
            return PathBuf::from(rest);
        }
    }
    dir.to_path_buf()
}

/// `git --no-pager -C DIR`, in the environment every invocation gets.
fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new(GIT);
    cmd.arg("--no-pager")
        .arg("-C")
        .arg(plain(dir))
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("LC_ALL", "C");
    for name in REPOSITORY_ENV {
        cmd.env_remove(name);
    }
    cmd
}

/// Why a git invocation failed.
#[derive(Debug)]
enum RunError {
    /// The program could not be started.
    Spawn { command: String, error: io::Error },
    /// It exited unsuccessfully; `stderr` is what it said (else its exit status).
    Failed { command: String, stderr: String },
}

impl RunError {
    /// The command, and what went wrong.
    fn message(&self) -> String {
        match self {
            RunError::Spawn { command, error } => format!("`{command}`: {}", spawn_message(error)),
            RunError::Failed { command, stderr } => format!("`{command}` failed: {stderr}"),
        }
    }

    /// Whether git's message contains `text`.
    fn said(&self, text: &str) -> bool {
        matches!(self, RunError::Failed { stderr, .. } if stderr.contains(text))
    }

    /// As a [`GitError`] about the repository at `repo` (git missing is its own error).
    fn into_git_error(self, repo: &Path) -> GitError {
        match self {
            RunError::Spawn { command, error } => GitError::NoGit {
                command,
                message: spawn_message(&error),
            },
            failed => GitError::Git {
                repo: repo.to_path_buf(),
                message: failed.message(),
            },
        }
    }
}

/// What a failure to start git means.
fn spawn_message(error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::NotFound {
        format!("no `{GIT}` program was found on PATH ({error})")
    } else {
        error.to_string()
    }
}

/// Runs `git ARGS` in `dir`; its stdout.
fn run<I, S>(dir: &Path, args: I) -> Result<Vec<u8>, RunError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let output = git_command(dir)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| RunError::Spawn {
            command: shown(&args),
            error,
        })?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    Err(RunError::Failed {
        command: shown(&args),
        stderr: if stderr.is_empty() {
            output.status.to_string()
        } else {
            stderr
        },
    })
}

/// Bytes from git (a path or a file name) as an OS string: as they are on Unix, UTF-8
/// elsewhere (git stores names as UTF-8 there).
#[cfg(unix)]
fn os_string(bytes: Vec<u8>) -> OsString {
    std::os::unix::ffi::OsStringExt::from_vec(bytes)
}

#[cfg(not(unix))]
fn os_string(bytes: Vec<u8>) -> OsString {
    OsString::from(String::from_utf8_lossy(&bytes).into_owned())
}

/// One line of git's output without its newline (only the last one is removed, so a path
/// may itself hold one).
fn one_line(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// Objects, through one `git cat-file --batch`.

/// One entry of a tree object.
#[derive(Debug, Clone)]
struct TreeEntry {
    mode: u32,
    name: OsString,
    /// The object id, in hex.
    id: String,
}

impl TreeEntry {
    fn kind(&self) -> u32 {
        self.mode & MODE_TYPE
    }
}

/// Parses a tree object: entries of `MODE SP NAME NUL ID` with a binary id of `id_len` bytes.
fn parse_tree(data: &[u8], id_len: usize) -> io::Result<Vec<TreeEntry>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed git tree object");
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let mode = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .ok_or_else(bad)?;
        rest = &rest[space + 1..];
        let nul = rest.iter().position(|&b| b == 0).ok_or_else(bad)?;
        let name = os_string(rest[..nul].to_vec());
        rest = &rest[nul + 1..];
        if rest.len() < id_len {
            return Err(bad());
        }
        out.push(TreeEntry {
            mode,
            name,
            id: crate::model::hash::hex(&rest[..id_len]),
        });
        rest = &rest[id_len..];
    }
    Ok(out)
}

/// What `git cat-file --batch` answered for one object.
enum Answer {
    Object {
        kind: String,
        data: Vec<u8>,
    },
    /// Larger than the limit asked for (its content was skipped).
    TooLarge(u64),
    /// Missing or ambiguous: git's answer.
    Missing(String),
}

const BATCH_ARGS: [&str; 2] = ["cat-file", "--batch"];

/// A running `git cat-file --batch`: object ids in on stdin, one per line; for each, a header
/// `ID TYPE SIZE` and the content, or `ID missing`, out on stdout.
struct Batch {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Batch {
    fn spawn(dir: &Path) -> Result<Batch, RunError> {
        let spawn_error = |error| RunError::Spawn {
            command: shown(&BATCH_ARGS[..]),
            error,
        };
        let mut child = git_command(dir)
            .args(BATCH_ARGS)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_error(io::Error::other(
                "its pipes could not be opened",
            )));
        };
        Ok(Batch {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
        })
    }

    /// Asks for object `id`; skips the content of one larger than `limit`. An error means the
    /// conversation with git is lost (the process is then of no further use).
    fn ask(&mut self, id: &str, limit: u64) -> io::Result<Answer> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("its input is closed"))?;
        stdin.write_all(id.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        let mut header = Vec::new();
        self.stdout.read_until(b'\n', &mut header)?;
        if header.pop() != Some(b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "it stopped answering",
            ));
        }
        let header = String::from_utf8_lossy(&header).into_owned();
        let mut fields = header.split(' ');
        let (Some(_), Some(kind), Some(size), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Ok(Answer::Missing(header));
        };
        let size: u64 = size.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected answer `{header}`"),
            )
        })?;
        if size > limit {
            let skipped = io::copy(&mut (&mut self.stdout).take(size + 1), &mut io::sink())?;
            if skipped != size + 1 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            return Ok(Answer::TooLarge(size));
        }
        let len = usize::try_from(size).map_err(|_| io::Error::other("object too large"))?;
        let mut data = vec![0; len];
        self.stdout.read_exact(&mut data)?;
        let mut newline = [0u8; 1];
        self.stdout.read_exact(&mut newline)?;
        if newline != *b"\n" {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "an object's content did not end where its size said",
            ));
        }
        Ok(Answer::Object {
            kind: kind.to_string(),
            data,
        })
    }

    /// Ends the process; what it said on stderr, if anything.
    fn finish(mut self) -> String {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let _ = self.child.wait();
        stderr.trim().to_string()
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // Closing its input ends `cat-file --batch`; the kill covers one that is stuck.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The objects of one repository: the batch process (started again after a failure) and the
/// trees read so far.
struct Objects {
    /// The working tree root git runs in.
    dir: PathBuf,
    batch: Option<Batch>,
    trees: HashMap<String, Arc<Vec<TreeEntry>>>,
    /// Bytes in an object id (20 for SHA-1 repositories, 32 for SHA-256).
    id_len: usize,
}

impl Objects {
    /// Object `id`, of type `kind`, when at most `limit` bytes (a larger one answers
    /// [`Answer::TooLarge`]).
    fn get(&mut self, id: &str, kind: &str, limit: u64) -> io::Result<Answer> {
        let batch = match &mut self.batch {
            Some(b) => b,
            None => self
                .batch
                .insert(Batch::spawn(&self.dir).map_err(|e| io::Error::other(e.message()))?),
        };
        match batch.ask(id, limit) {
            Ok(Answer::Object { kind: got, .. }) if got != kind => Err(io::Error::other(format!(
                "git object {id} is a {got}, not a {kind}"
            ))),
            Ok(answer) => Ok(answer),
            Err(e) => {
                let said = self.batch.take().map(Batch::finish).unwrap_or_default();
                let why = if said.is_empty() { e.to_string() } else { said };
                Err(io::Error::other(format!(
                    "`{}` failed: {why}",
                    shown(&BATCH_ARGS[..])
                )))
            }
        }
    }

    /// The content of blob `id`, at most `limit` bytes.
    fn blob(&mut self, id: &str, limit: u64) -> io::Result<Vec<u8>> {
        match self.get(id, "blob", limit)? {
            Answer::Object { data, .. } => Ok(data),
            Answer::TooLarge(len) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file is {len} bytes, over the {MAX_FILE_BYTES} byte limit"),
            )),
            Answer::Missing(answer) => Err(missing_object(&answer)),
        }
    }

    /// The entries of tree `id`.
    fn tree(&mut self, id: &str) -> io::Result<Arc<Vec<TreeEntry>>> {
        if let Some(t) = self.trees.get(id) {
            return Ok(Arc::clone(t));
        }
        let entries = match self.get(id, "tree", u64::MAX)? {
            Answer::Object { data, .. } => Arc::new(parse_tree(&data, self.id_len)?),
            Answer::TooLarge(_) => return Err(io::Error::other("tree too large")),
            Answer::Missing(answer) => return Err(missing_object(&answer)),
        };
        self.trees.insert(id.to_string(), Arc::clone(&entries));
        Ok(entries)
    }

    /// The entry `name` of tree `id`.
    fn child(&mut self, id: &str, name: &OsStr) -> io::Result<Option<TreeEntry>> {
        Ok(self.tree(id)?.iter().find(|e| e.name == name).cloned())
    }

    /// The tree of commit `id`.
    fn commit_tree(&mut self, id: &str) -> io::Result<String> {
        let data = match self.get(id, "commit", u64::MAX)? {
            Answer::Object { data, .. } => data,
            Answer::TooLarge(_) => return Err(io::Error::other("commit too large")),
            Answer::Missing(answer) => return Err(missing_object(&answer)),
        };
        data.split(|&b| b == b'\n')
            .next()
            .and_then(|line| line.strip_prefix(b"tree "))
            .and_then(|t| std::str::from_utf8(t).ok())
            .map(str::to_string)
            .ok_or_else(|| io::Error::other(format!("commit {id} names no tree")))
    }
}

fn missing_object(answer: &str) -> io::Error {
    io::Error::other(format!(
        "`{}` answered `{answer}`: the object is not in the repository (a shallow or partial clone?)",
        shown(&BATCH_ARGS[..])
    ))
}

// ---------------------------------------------------------------------------------------------
// The repository and a commit of it.

/// The repository holding a path: its working tree root, canonical and as reached from the
/// path (the two differ when the path goes through a symbolic link).
struct Repo {
    workdir: PathBuf,
    workdir_raw: PathBuf,
}

/// One commit of a repository, read as a file tree. Paths are taken as the working tree would
/// take them (relative to the current directory) and looked up in the commit instead.
pub struct GitTree {
    objects: Mutex<Objects>,
    /// The working tree's root, canonical.
    workdir: PathBuf,
    /// The working tree's root as reached from the state path (may differ through symlinks).
    workdir_raw: PathBuf,
    /// The current directory, canonical.
    cwd: PathBuf,
    /// The commit's root tree, in hex.
    tree: String,
    /// The commit, in hex.
    commit: String,
    reference: String,
}

impl std::fmt::Debug for GitTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitTree")
            .field("workdir", &self.workdir)
            .field("reference", &self.reference)
            .field("commit", &self.commit)
            .finish()
    }
}

/// The current directory, canonical when it can be.
fn current_dir() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    std::fs::canonicalize(&cwd).unwrap_or(cwd)
}

/// `path` with `.` removed and `..` applied lexically (never above the root).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    out.iter().collect()
}

/// The working-tree directory to discover the repository from: the nearest existing
/// directory at or above `path`.
fn discovery_start(cwd: &Path, path: &Path) -> PathBuf {
    let abs = normalize(&cwd.join(path));
    abs.ancestors()
        .find(|a| a.is_dir())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| cwd.to_path_buf())
}

/// The working tree root as reached from `start` (which may go through symbolic links): the
/// ancestor of `start` as many levels up as `start` is below the canonical root.
fn raw_root(start: &Path, canonical: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(start).ok()?;
    let depth = real.strip_prefix(canonical).ok()?.components().count();
    let mut raw = start.to_path_buf();
    for _ in 0..depth {
        if !raw.pop() {
            return None;
        }
    }
    (std::fs::canonicalize(&raw).ok()? == canonical).then_some(raw)
}

/// Finds the repository holding `path` and its working tree.
fn discover(cwd: &Path, path: &Path) -> Result<Repo, GitError> {
    let start = discovery_start(cwd, path);
    let top = match run(&start, ["rev-parse", "--show-toplevel"]) {
        Ok(out) => PathBuf::from(os_string(one_line(out))),
        Err(e) if e.said("not a git repository") => {
            return Err(GitError::NoRepository {
                path: path.to_path_buf(),
            })
        }
        Err(e) if e.said("must be run in a work tree") => {
            // A bare repository, or the inside of a `.git` directory.
            let out = run(
                &start,
                ["rev-parse", "--is-bare-repository", "--absolute-git-dir"],
            )
            .map_err(|e| e.into_git_error(&start))?;
            let out = one_line(out);
            return match out.strip_prefix(b"true\n") {
                Some(dir) => Err(GitError::Bare {
                    repo: PathBuf::from(os_string(dir.to_vec())),
                }),
                None => Err(e.into_git_error(&start)),
            };
        }
        Err(e) => return Err(e.into_git_error(&start)),
    };
    let top = normalize(&top);
    let workdir = std::fs::canonicalize(&top).unwrap_or(top);
    let workdir_raw = raw_root(&start, &workdir).unwrap_or_else(|| workdir.clone());
    Ok(Repo {
        workdir,
        workdir_raw,
    })
}

fn not_found(what: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("`{}` is not in the commit", what.display()),
    )
}

/// What a path is in the commit (object ids in hex).
enum Entry {
    Tree(String),
    Blob(String),
}

impl GitTree {
    /// Opens the commit `reference` of the repository holding `state_path`.
    pub fn open(state_path: &Path, reference: &str) -> Result<GitTree, GitError> {
        let cwd = current_dir();
        let Repo {
            workdir,
            workdir_raw,
        } = discover(&cwd, state_path)?;
        let unknown = |message: String| GitError::UnknownRef {
            reference: reference.to_string(),
            repo: workdir.clone(),
            message,
        };
        if reference.starts_with('-') {
            // git would take it for an option.
            return Err(unknown("a revision does not start with `-`".to_string()));
        }
        let spec = format!("{reference}^{{commit}}");
        let commit = match run(&workdir, ["rev-parse", "--verify", spec.as_str()]) {
            Ok(out) => String::from_utf8_lossy(&out).trim().to_string(),
            Err(e @ RunError::Spawn { .. }) => return Err(e.into_git_error(&workdir)),
            Err(e) => return Err(unknown(e.message())),
        };
        if commit.len() < 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(unknown(format!(
                "`git rev-parse` answered `{commit}`, not a commit id"
            )));
        }
        let mut objects = Objects {
            dir: workdir.clone(),
            batch: None,
            trees: HashMap::new(),
            id_len: commit.len() / 2,
        };
        let tree = objects.commit_tree(&commit).map_err(|e| GitError::Git {
            repo: workdir.clone(),
            message: e.to_string(),
        })?;
        Ok(GitTree {
            objects: Mutex::new(objects),
            workdir,
            workdir_raw,
            cwd,
            tree,
            commit,
            reference: reference.to_string(),
        })
    }

    /// The full commit id.
    pub fn commit_id(&self) -> String {
        self.commit.clone()
    }

    /// The abbreviated commit id (12 hex digits).
    pub fn short_id(&self) -> String {
        self.commit.chars().take(12).collect()
    }

    /// The reference as given.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The repository's working tree root (canonical).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// What a plan made from this commit records.
    pub fn source_info(&self) -> SourceInfo {
        SourceInfo {
            git_commit: Some(self.commit_id()),
            dirty: false,
        }
    }

    /// Checks that every state path is inside the repository and exists in the commit.
    pub fn check_paths(&self, paths: &[PathBuf]) -> Result<(), GitError> {
        for p in paths {
            if self.rel(&self.absolute(p)).is_none() {
                return Err(GitError::OutsideRepository {
                    path: p.clone(),
                    repo: self.workdir.clone(),
                });
            }
            if !self.exists(p) {
                return Err(GitError::MissingAtRef {
                    path: p.clone(),
                    reference: self.reference.clone(),
                    commit: self.short_id(),
                });
            }
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Objects> {
        // A panic while holding the lock leaves the objects usable (a broken batch process is
        // started again).
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The absolute, normalised form of a path given as the working tree takes it.
    fn absolute(&self, path: &Path) -> PathBuf {
        let abs = normalize(&self.cwd.join(path));
        match abs.strip_prefix(&self.workdir_raw) {
            Ok(rest) if self.workdir_raw != self.workdir => self.workdir.join(rest),
            _ => abs,
        }
    }

    /// The path inside the repository, when `abs` is inside it.
    fn rel(&self, abs: &Path) -> Option<PathBuf> {
        abs.strip_prefix(&self.workdir).ok().map(Path::to_path_buf)
    }

    /// Follows symbolic links stored in the commit; returns the absolute path reached (which
    /// may lie outside the repository: the caller decides what that means).
    fn resolve_abs(&self, objects: &mut Objects, path: &Path) -> io::Result<PathBuf> {
        let mut abs = self.absolute(path);
        'links: for _ in 0..MAX_LINKS {
            let Some(rel) = self.rel(&abs) else {
                return Ok(abs);
            };
            let parts: Vec<Component<'_>> = rel.components().collect();
            let mut tree = self.tree.clone();
            let mut cur = PathBuf::new();
            for (i, part) in parts.iter().enumerate() {
                cur.push(part);
                let entry = objects
                    .child(&tree, part.as_os_str())?
                    .ok_or_else(|| not_found(path))?;
                match entry.kind() {
                    MODE_LINK => {
                        let target = os_string(objects.blob(&entry.id, MAX_FILE_BYTES)?);
                        let parent = self
                            .workdir
                            .join(&cur)
                            .parent()
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|| self.workdir.clone());
                        let mut next = parent.join(target);
                        for rest in &parts[i + 1..] {
                            next.push(rest);
                        }
                        abs = normalize(&next);
                        continue 'links;
                    }
                    MODE_TREE => tree = entry.id,
                    // A file (or a submodule) has no entries.
                    _ if i + 1 < parts.len() => return Err(not_found(path)),
                    _ => {}
                }
            }
            return Ok(abs);
        }
        Err(io::Error::other(format!(
            "`{}`: too many levels of symbolic links",
            path.display()
        )))
    }

    /// What `path` is in the commit, links followed.
    fn entry(&self, objects: &mut Objects, path: &Path) -> io::Result<Entry> {
        let abs = self.resolve_abs(objects, path)?;
        let rel = self.rel(&abs).ok_or_else(|| not_found(path))?;
        let mut found = Entry::Tree(self.tree.clone());
        for part in rel.components() {
            let Entry::Tree(tree) = &found else {
                return Err(not_found(path));
            };
            let entry = objects
                .child(tree, part.as_os_str())?
                .ok_or_else(|| not_found(path))?;
            found = match entry.kind() {
                MODE_TREE => Entry::Tree(entry.id),
                MODE_BLOB | MODE_LINK => Entry::Blob(entry.id),
                // A submodule: its files are not in this repository.
                _ => return Err(not_found(path)),
            };
        }
        Ok(found)
    }
}

impl FileSource for GitTree {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut objects = self.lock();
        match self.entry(&mut objects, path)? {
            Entry::Blob(id) => objects.blob(&id, MAX_FILE_BYTES),
            Entry::Tree(_) => Err(io::Error::other(format!(
                "`{}` is a directory",
                path.display()
            ))),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        let mut objects = self.lock();
        matches!(self.entry(&mut objects, path), Ok(Entry::Tree(_)))
    }

    fn exists(&self, path: &Path) -> bool {
        let mut objects = self.lock();
        self.entry(&mut objects, path).is_ok()
    }

    fn list(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut objects = self.lock();
        let Entry::Tree(id) = self.entry(&mut objects, path)? else {
            return Err(io::Error::other(format!(
                "`{}` is not a directory",
                path.display()
            )));
        };
        let mut out: Vec<PathBuf> = objects
            .tree(&id)?
            .iter()
            .map(|e| path.join(&e.name))
            .collect();
        out.sort();
        Ok(out)
    }

    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        let mut objects = self.lock();
        let abs = self.resolve_abs(&mut objects, path)?;
        // Like canonicalize: the path must exist (outside the repository it cannot be read,
        // and the loader reports the escape).
        if self.rel(&abs).is_some() {
            self.entry(&mut objects, &abs)?;
        }
        Ok(abs)
    }

    fn containment_root(&self, _state_file: &Path) -> PathBuf {
        self.workdir.clone()
    }
}

/// `rel` as a git pathspec: its components joined by `/`.
fn pathspec(rel: &Path) -> OsString {
    let mut out = OsString::new();
    for (i, c) in rel.components().enumerate() {
        if i > 0 {
            out.push("/");
        }
        out.push(c.as_os_str());
    }
    out
}

/// Where a state read from the working tree came from: the commit checked out (none outside a
/// repository, before the first commit, or without the `git` command) and whether any of the
/// files it was read from — the `-s` paths, the state files and the plugin directories —
/// differ from that commit (modified, staged, deleted or untracked; ignored files do not
/// count).
pub fn worktree_source(paths: &[PathBuf], state: &DesiredState) -> SourceInfo {
    let cwd = current_dir();
    let Some(first) = paths.first() else {
        return SourceInfo::default();
    };
    let Ok(Repo {
        workdir,
        workdir_raw,
    }) = discover(&cwd, first)
    else {
        return SourceInfo::default();
    };
    let commit = run(
        &workdir,
        ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
    )
    .ok()
    .map(|out| String::from_utf8_lossy(&out).trim().to_string())
    .filter(|c| !c.is_empty());
    let mut specs: Vec<OsString> = Vec::new();
    let candidates = paths
        .iter()
        .cloned()
        .chain(state.files.iter().map(|f| f.as_ref().clone()))
        .chain(state.custom_plugins.iter().filter_map(|c| c.dir.clone()));
    for p in candidates {
        let abs = normalize(&cwd.join(&p));
        let abs = std::fs::canonicalize(&abs).unwrap_or(abs);
        let rel = abs
            .strip_prefix(&workdir)
            .or_else(|_| abs.strip_prefix(&workdir_raw));
        if let Ok(rel) = rel {
            specs.push(pathspec(rel));
        }
    }
    specs.sort();
    specs.dedup();
    let dirty = if specs.is_empty() {
        false
    } else {
        let mut args: Vec<OsString> = [
            "--literal-pathspecs",
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=all",
            "--ignore-submodules=all",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        // The whole repository when a path is its root.
        if !specs.iter().any(|s| s.is_empty()) {
            args.push("--".into());
            args.extend(specs);
        }
        run(&workdir, &args).is_ok_and(|out| !out.is_empty())
    };
    SourceInfo {
        git_commit: commit,
        dirty,
    }
}

#[cfg(test)]
mod tests;
