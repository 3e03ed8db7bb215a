//! `plugsync test`: runs custom plugins' handlers against sample requests, offline.
//!
//! A test file (`*.test.yaml`, [`file`]) names a custom plugin of the state and lists cases: a
//! config (validated against the plugin's schema, defaults filled), the client's request, the
//! upstream's answer, and what to expect. Each case runs in a fresh sandbox with the PDK
//! stand-in ([`crate::lua::run_request`]); [`compare`] turns expected against actual into
//! mismatches; [`report`] renders them as text, JSON, JUnit XML or Markdown.

pub mod compare;
pub mod file;
pub mod report;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::lua::{self, Exchange, ProfileName};
use crate::model::DesiredState;
use crate::schema::validate;

pub use compare::Mismatch;
pub use file::{Case, FileError, TestFile};

/// The suffix of test files.
pub const SUFFIX: &str = ".test.yaml";

/// How a case ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Pass,
    /// The handler ran (or failed to load) and something differed from the expectation.
    Fail(Vec<Mismatch>),
    /// The case could not run: its config breaks the schema, the schema does not evaluate, …
    Error(String),
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    /// `FILE:LINE:COL` of the case.
    pub location: String,
    pub status: Status,
    /// What happened, when the handler ran.
    pub exchange: Option<Exchange>,
    pub duration: Duration,
}

/// One file's results.
#[derive(Debug, Clone)]
pub struct FileResult {
    pub path: PathBuf,
    pub plugin: String,
    pub cases: Vec<CaseResult>,
}

/// Everything a run produced.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub files: Vec<FileResult>,
    /// Files that could not be read or parsed, or name no declared plugin.
    pub invalid: Vec<FileError>,
    pub duration: Duration,
}

impl Run {
    /// Cases run, passed, failed (mismatches) and errored (could not run).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for f in &self.files {
            for r in &f.cases {
                c.0 += 1;
                match r.status {
                    Status::Pass => c.1 += 1,
                    Status::Fail(_) => c.2 += 1,
                    Status::Error(_) => c.3 += 1,
                }
            }
        }
        c
    }

    /// Whether every case passed and every file was valid.
    pub fn ok(&self) -> bool {
        let (_, _, failed, errors) = self.counts();
        failed == 0 && errors == 0 && self.invalid.is_empty()
    }
}

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub profile: ProfileName,
    pub sandbox_requires: Vec<String>,
}

/// The `tests/` directories beside the state paths (a state directory's own `tests/`).
pub fn default_dirs(state_paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in state_paths {
        let base = if p.is_dir() {
            p.clone()
        } else {
            match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            }
        };
        let dir = base.join("tests");
        if !out.contains(&dir) {
            out.push(dir);
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if e.file_type()?.is_dir() {
            walk(&path, out)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(SUFFIX))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether `path` lies inside one of the plugin directories.
fn in_plugin_dir(path: &Path, plugin_dirs: &[PathBuf]) -> bool {
    let p = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    plugin_dirs.iter().any(|d| p.starts_with(d))
}

/// The test files to run: `paths` (files, or directories searched for `*.test.yaml`), or the
/// `tests/` directories beside the state when none is given. Files inside a plugin directory
/// are refused. Returns the files and the problems found while looking.
pub fn discover(
    paths: &[PathBuf],
    state_paths: &[PathBuf],
    state: &DesiredState,
) -> (Vec<PathBuf>, Vec<FileError>) {
    let plugin_dirs: Vec<PathBuf> = state
        .custom_plugins
        .iter()
        .filter_map(|c| c.dir.as_ref())
        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()))
        .collect();
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let at_start = |file: &Path, message: String| FileError {
        file: file.to_path_buf(),
        pos: crate::state::yaml::Pos { line: 1, column: 1 },
        message,
    };
    let explicit = !paths.is_empty();
    let roots = if explicit {
        paths.to_vec()
    } else {
        default_dirs(state_paths)
    };
    for root in &roots {
        if root.is_dir() {
            let mut found = Vec::new();
            if let Err(e) = walk(root, &mut found) {
                problems.push(at_start(root, format!("cannot read the directory: {e}")));
            }
            files.extend(found);
        } else if root.is_file() {
            files.push(root.clone());
        } else if explicit {
            problems.push(at_start(root, "no such file or directory".into()));
        }
    }
    let mut kept = Vec::new();
    for f in files {
        if in_plugin_dir(&f, &plugin_dirs) {
            problems.push(at_start(
                &f,
                "a test file may not live in a plugin directory (it may hold only handler.lua and schema.lua); move it to tests/".into(),
            ));
        } else if !kept.contains(&f) {
            kept.push(f);
        }
    }
    (kept, problems)
}

fn location(path: &Path, pos: crate::state::yaml::Pos) -> String {
    format!("{}:{}:{}", path.display(), pos.line, pos.column)
}

/// Runs one case of `file` against `decl`'s handler with `schema`.
fn run_case(
    file: &TestFile,
    case: &Case,
    handler: &str,
    schema: Result<&crate::schema::PluginSchema, &str>,
    options: &Options,
) -> CaseResult {
    let started = Instant::now();
    let loc = location(&file.path, case.pos);
    let finish = |status, exchange| CaseResult {
        name: case.name.clone(),
        location: loc.clone(),
        status,
        exchange,
        duration: started.elapsed(),
    };
    let schema = match schema {
        Ok(s) => s,
        Err(e) => {
            return finish(
                Status::Error(format!(
                    "the schema of `{}` does not evaluate: {e}",
                    file.plugin
                )),
                None,
            )
        }
    };
    let conf = match validate::process_config(schema, case.config.as_ref()) {
        Ok(c) => c,
        Err(errors) => {
            return finish(
                Status::Error(format!(
                    "{}: the config breaks the schema of `{}`: {}",
                    location(&file.path, case.config_pos),
                    file.plugin,
                    validate::summary(&errors)
                )),
                None,
            )
        }
    };
    let result = lua::run_request(
        handler,
        options.profile,
        &options.sandbox_requires,
        &conf,
        &case.request,
        &case.upstream,
    )
    .map_err(|e| format!("the handler does not load: {e}"));
    let mismatches = compare::compare(&case.expect, &result);
    let status = if mismatches.is_empty() {
        Status::Pass
    } else {
        Status::Fail(mismatches)
    };
    finish(status, result.ok())
}

/// Reads, parses and runs `files` against the plugins of `state`; the cases of a file run in
/// parallel.
pub fn run(files: &[PathBuf], state: &DesiredState, options: &Options) -> Run {
    let started = Instant::now();
    let mut out = Run::default();
    for path in files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                out.invalid.push(FileError {
                    file: path.clone(),
                    pos: crate::state::yaml::Pos { line: 1, column: 1 },
                    message: format!("cannot read the file: {e}"),
                });
                continue;
            }
        };
        let file = match file::parse(path, &text) {
            Ok(f) => f,
            Err(e) => {
                out.invalid.push(e);
                continue;
            }
        };
        let Some(decl) = state.custom_plugin(&file.plugin) else {
            let declared: Vec<&str> = state
                .custom_plugins
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            out.invalid.push(FileError {
                file: path.clone(),
                pos: file.plugin_pos,
                message: format!(
                    "`{}` is not a custom plugin declared in the state (declared: {})",
                    file.plugin,
                    if declared.is_empty() {
                        "none".to_string()
                    } else {
                        declared.join(", ")
                    }
                ),
            });
            continue;
        };
        let schema = lua::evaluate_schema(&decl.schema.text).map_err(|e| e.to_string());
        // Every case gets its own Lua state, so cases are independent; one per block.
        let cases = crate::par::map_blocks(&file.cases, 1, |c| {
            run_case(
                &file,
                c,
                &decl.handler.text,
                schema.as_ref().map_err(String::as_str),
                options,
            )
        });
        out.files.push(FileResult {
            path: path.clone(),
            plugin: file.plugin.clone(),
            cases,
        });
    }
    out.duration = started.elapsed();
    out
}
