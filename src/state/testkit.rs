//! Test fixtures for the pure core: a desired state loaded from files held in memory (no disk),
//! and a live state from the API's JSON shapes. Used by the unit tests of `diff` and `plan`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::{load, FileSource};
use crate::model::{DesiredState, LiveState};

/// A tree of files in memory, rooted at `/repo` (the containment root).
#[derive(Debug, Default)]
pub struct MemFiles(BTreeMap<PathBuf, Vec<u8>>);

const ROOT: &str = "/repo";

impl MemFiles {
    /// Files at paths relative to `/repo`.
    pub fn new(files: &[(&str, &str)]) -> MemFiles {
        MemFiles(
            files
                .iter()
                .map(|(p, text)| (Path::new(ROOT).join(p), text.as_bytes().to_vec()))
                .collect(),
        )
    }
}

/// `path` with `.` and `..` resolved lexically.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

impl FileSource for MemFiles {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0
            .get(&normal(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn is_dir(&self, path: &Path) -> bool {
        let path = normal(path);
        self.0.keys().any(|k| k != &path && k.starts_with(&path))
    }

    fn exists(&self, path: &Path) -> bool {
        self.0.contains_key(&normal(path)) || self.is_dir(path)
    }

    fn list(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let path = normal(path);
        let mut out: Vec<PathBuf> = self
            .0
            .keys()
            .filter_map(|k| {
                let first = k.strip_prefix(&path).ok()?.components().next()?;
                Some(path.join(first))
            })
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        Ok(normal(path))
    }

    fn containment_root(&self, _state_file: &Path) -> PathBuf {
        PathBuf::from(ROOT)
    }
}

/// The desired state of `/repo/plugsync.yaml` among `files` (paths relative to `/repo`), with
/// `env` for `${{ env }}`; panics on any error diagnostic.
pub fn desired_with_env(files: &[(&str, &str)], env: &[(&str, &str)]) -> DesiredState {
    let source = MemFiles::new(files);
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = |name: &str| env.get(name).cloned();
    let loaded = load(&[PathBuf::from("/repo/plugsync.yaml")], &source, &lookup);
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "the test state does not load: {errors:?}"
    );
    loaded.state
}

/// [`desired_with_env`] without environment.
pub fn desired(files: &[(&str, &str)]) -> DesiredState {
    desired_with_env(files, &[])
}

/// A live state from the API's shapes: `{"custom_plugins": [...], "plugins": [...],
/// "services": [...], "routes": [...], "consumers": [...], "consumer_groups": [...]}`.
pub fn live(v: &Value) -> LiveState {
    LiveState::from_json(v).expect("a live state")
}

/// A schema like Kong's bundled rate limiting: `window` (required, > 0), `limit` (default
/// 100), `header`.
pub const SCHEMA: &str = r#"return {
  name = "rate-guard",
  fields = {
    { config = {
        type = "record",
        fields = {
          { window = { type = "integer", required = true, gt = 0 } },
          { limit = { type = "integer", default = 100 } },
          { header = { type = "string" } },
        },
      },
    },
  },
}
"#;

/// A handler for [`SCHEMA`], version `version`.
pub fn handler(version: &str) -> String {
    format!(
        "local RateGuard = {{ PRIORITY = 910, VERSION = \"{version}\" }}\n\nfunction RateGuard:access(conf)\n  kong.log.debug(conf.window)\nend\n\nreturn RateGuard\n"
    )
}

/// Ids the way a plan test wants them: `00000000-0000-4000-8000-00000000000N` in order.
pub fn ids() -> impl FnMut() -> String {
    let mut n = 0u32;
    move || {
        n += 1;
        format!("00000000-0000-4000-8000-{n:012}")
    }
}

/// Both sides' evaluated schemas, as `crate::ops` hands them to the planner.
pub fn schemas(desired: &DesiredState, live: &LiveState) -> crate::plan::prepare::Schemas {
    crate::ops::plan::schemas(desired, live, &crate::lua::SchemaCache::new())
}

/// The schema `source` evaluates to.
pub fn schema(source: &str) -> crate::schema::PluginSchema {
    crate::lua::evaluate_schema(source).unwrap_or_else(|e| panic!("{e}\n{source}"))
}
