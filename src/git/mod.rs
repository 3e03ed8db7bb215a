//! Git: the state as of a commit, and where the working tree's state came from (CONTRACT §7).
//!
//! * [`GitTree`] is a [`FileSource`] over one commit of the repository that holds the state
//!   files: `--git-ref REF` and `diff --base/--head` load the state through it exactly as they
//!   load the working tree, so plugin directories, symlinks and the rule that paths stay inside
//!   the repository behave the same way.
//! * [`worktree_source`] records, for a plan made from the working tree, the commit checked out
//!   and whether the files the state was read from differ from it (`source` in the plan).
//!
//! This module and `state` are the only ones that read a repository.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use git2::{ObjectType, Oid, Repository, StatusOptions};

use crate::model::DesiredState;
use crate::plan::SourceInfo;
use crate::state::{FileSource, MAX_FILE_BYTES};

/// How many symbolic links one path may pass through before it is an error (as Linux).
const MAX_LINKS: usize = 40;

/// The git file mode of a symbolic link.
const MODE_LINK: i32 = 0o120000;

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
    /// libgit2 failed.
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
            _ => None,
        }
    }
}

/// One commit of a repository, read as a file tree. Paths are taken as the working tree would
/// take them (relative to the current directory) and looked up in the commit instead.
pub struct GitTree {
    repo: Mutex<Repository>,
    /// The working tree's root, canonical.
    workdir: PathBuf,
    /// The working tree's root as libgit2 spells it (may differ through symlinks).
    workdir_raw: PathBuf,
    /// The current directory, canonical.
    cwd: PathBuf,
    tree: Oid,
    commit: Oid,
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

/// Opens the repository holding `path`, with its working tree (canonical and raw).
fn discover(cwd: &Path, path: &Path) -> Result<(Repository, PathBuf, PathBuf), GitError> {
    let start = discovery_start(cwd, path);
    let repo = Repository::discover(&start).map_err(|_| GitError::NoRepository {
        path: path.to_path_buf(),
    })?;
    let Some(raw) = repo.workdir().map(Path::to_path_buf) else {
        return Err(GitError::Bare {
            repo: repo.path().to_path_buf(),
        });
    };
    let raw = normalize(&raw);
    let canonical = std::fs::canonicalize(&raw).unwrap_or_else(|_| raw.clone());
    Ok((repo, canonical, raw))
}

fn not_found(what: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("`{}` is not in the commit", what.display()),
    )
}

fn git_io(e: git2::Error) -> io::Error {
    io::Error::other(e.message().to_string())
}

/// What a path is in the commit.
enum Entry {
    Tree(Oid),
    Blob(Oid),
}

impl GitTree {
    /// Opens the commit `reference` of the repository holding `state_path`.
    pub fn open(state_path: &Path, reference: &str) -> Result<GitTree, GitError> {
        let cwd = current_dir();
        let (repo, workdir, workdir_raw) = discover(&cwd, state_path)?;
        let unknown = |message: String| GitError::UnknownRef {
            reference: reference.to_string(),
            repo: workdir.clone(),
            message,
        };
        let object = repo
            .revparse_single(reference)
            .map_err(|e| unknown(e.message().to_string()))?;
        let commit = object
            .peel_to_commit()
            .map_err(|e| unknown(e.message().to_string()))?;
        let (commit_id, tree_id) = (commit.id(), commit.tree_id());
        drop(commit);
        drop(object);
        Ok(GitTree {
            repo: Mutex::new(repo),
            workdir,
            workdir_raw,
            cwd,
            tree: tree_id,
            commit: commit_id,
            reference: reference.to_string(),
        })
    }

    /// The full commit id.
    pub fn commit_id(&self) -> String {
        self.commit.to_string()
    }

    /// The abbreviated commit id (12 hex digits).
    pub fn short_id(&self) -> String {
        self.commit.to_string().chars().take(12).collect()
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

    fn lock(&self) -> MutexGuard<'_, Repository> {
        // A panic while holding the lock leaves the repository handle usable.
        self.repo.lock().unwrap_or_else(|e| e.into_inner())
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
    fn resolve_abs(&self, repo: &Repository, path: &Path) -> io::Result<PathBuf> {
        let tree = repo.find_tree(self.tree).map_err(git_io)?;
        let mut abs = self.absolute(path);
        'links: for _ in 0..MAX_LINKS {
            let Some(rel) = self.rel(&abs) else {
                return Ok(abs);
            };
            let parts: Vec<Component<'_>> = rel.components().collect();
            let mut cur = PathBuf::new();
            for (i, part) in parts.iter().enumerate() {
                cur.push(part);
                let entry = tree.get_path(&cur).map_err(|_| not_found(path))?;
                if entry.filemode() == MODE_LINK {
                    let blob = repo.find_blob(entry.id()).map_err(git_io)?;
                    let target = PathBuf::from(String::from_utf8_lossy(blob.content()).as_ref());
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
            }
            return Ok(abs);
        }
        Err(io::Error::other(format!(
            "`{}`: too many levels of symbolic links",
            path.display()
        )))
    }

    /// What `path` is in the commit, links followed.
    fn entry(&self, repo: &Repository, path: &Path) -> io::Result<Entry> {
        let abs = self.resolve_abs(repo, path)?;
        let rel = self.rel(&abs).ok_or_else(|| not_found(path))?;
        if rel.as_os_str().is_empty() {
            return Ok(Entry::Tree(self.tree));
        }
        let tree = repo.find_tree(self.tree).map_err(git_io)?;
        let entry = tree.get_path(&rel).map_err(|_| not_found(path))?;
        match entry.kind() {
            Some(ObjectType::Tree) => Ok(Entry::Tree(entry.id())),
            Some(ObjectType::Blob) => Ok(Entry::Blob(entry.id())),
            // A submodule: its files are not in this repository.
            _ => Err(not_found(path)),
        }
    }
}

impl FileSource for GitTree {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let repo = self.lock();
        match self.entry(&repo, path)? {
            Entry::Blob(id) => {
                let blob = repo.find_blob(id).map_err(git_io)?;
                let len = blob.size() as u64;
                if len > MAX_FILE_BYTES {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("file is {len} bytes, over the {MAX_FILE_BYTES} byte limit"),
                    ));
                }
                Ok(blob.content().to_vec())
            }
            Entry::Tree(_) => Err(io::Error::other(format!(
                "`{}` is a directory",
                path.display()
            ))),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        let repo = self.lock();
        matches!(self.entry(&repo, path), Ok(Entry::Tree(_)))
    }

    fn exists(&self, path: &Path) -> bool {
        let repo = self.lock();
        self.entry(&repo, path).is_ok()
    }

    fn list(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let repo = self.lock();
        let Entry::Tree(id) = self.entry(&repo, path)? else {
            return Err(io::Error::other(format!(
                "`{}` is not a directory",
                path.display()
            )));
        };
        let tree = repo.find_tree(id).map_err(git_io)?;
        let mut out: Vec<PathBuf> = tree
            .iter()
            .filter_map(|e| e.name().ok().map(|n| path.join(n)))
            .collect();
        out.sort();
        Ok(out)
    }

    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        let repo = self.lock();
        let abs = self.resolve_abs(&repo, path)?;
        // Like canonicalize: the path must exist (outside the repository it cannot be read,
        // and the loader reports the escape).
        if self.rel(&abs).is_some() {
            self.entry(&repo, &abs)?;
        }
        Ok(abs)
    }

    fn containment_root(&self, _state_file: &Path) -> PathBuf {
        self.workdir.clone()
    }
}

/// Where a state read from the working tree came from: the commit checked out (none outside a
/// repository or before the first commit) and whether any of the files it was read from —
/// the `-s` paths, the state files and the plugin directories — differ from that commit
/// (modified, staged, deleted or untracked; ignored files do not count).
pub fn worktree_source(paths: &[PathBuf], state: &DesiredState) -> SourceInfo {
    let cwd = current_dir();
    let Some(first) = paths.first() else {
        return SourceInfo::default();
    };
    let Ok((repo, workdir, workdir_raw)) = discover(&cwd, first) else {
        return SourceInfo::default();
    };
    let commit = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .map(|c| c.id().to_string());
    let mut specs: Vec<String> = Vec::new();
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
            let spec = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            specs.push(spec);
        }
    }
    specs.sort();
    specs.dedup();
    let dirty = if specs.is_empty() {
        false
    } else {
        let mut opts = StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .exclude_submodules(true);
        // The whole repository when a path is its root.
        if !specs.iter().any(String::is_empty) {
            opts.disable_pathspec_match(true);
            for s in &specs {
                opts.pathspec(s);
            }
        }
        repo.statuses(Some(&mut opts))
            .map(|s| !s.is_empty())
            .unwrap_or(false)
    };
    SourceInfo {
        git_commit: commit,
        dirty,
    }
}

#[cfg(test)]
mod tests;
