//! Where state files and plugin directories are read from: the working tree today, a git
//! commit through the same trait.

use std::io;
use std::path::{Path, PathBuf};

/// Largest state file or Lua file read (the limit that matters for Lua, 100 KB, is a lint rule;
/// this one only keeps a hostile file from exhausting memory).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Read access to a tree of files.
pub trait FileSource {
    /// The bytes of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// The entries of a directory (files and directories), sorted.
    fn list(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// The path with symlinks and `..` resolved.
    fn resolve(&self, path: &Path) -> io::Result<PathBuf>;
    /// The directory a state file's plugin paths must stay inside: the root of the git
    /// repository holding it, else the state file's directory.
    fn containment_root(&self, state_file: &Path) -> PathBuf;
}

/// The working tree on disk.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkTree;

impl FileSource for WorkTree {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let meta = std::fs::metadata(path)?;
        // A FIFO would block the read forever, a device could be endless: only regular
        // files are read.
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                if meta.is_dir() {
                    "it is a directory, not a file"
                } else {
                    "it is not a regular file (a FIFO, socket or device)"
                },
            ));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "file is {} bytes, over the {} byte limit",
                    meta.len(),
                    MAX_FILE_BYTES
                ),
            ));
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::fs::File::open(path)?, MAX_FILE_BYTES + 1),
            &mut bytes,
        )?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file grew past the {MAX_FILE_BYTES} byte limit while read"),
            ));
        }
        Ok(bytes)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn list(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            out.push(entry?.path());
        }
        out.sort();
        Ok(out)
    }

    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }

    fn containment_root(&self, state_file: &Path) -> PathBuf {
        // A bare file name (`plugsync.yaml`, the default) has the empty path as its parent:
        // that is the working directory, not "no root" (an empty root contains everything).
        let dir = match state_file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        let mut cur = Some(dir.as_path());
        while let Some(d) = cur {
            if d.join(".git").exists() {
                return d.to_path_buf();
            }
            cur = d.parent();
        }
        dir
    }
}
