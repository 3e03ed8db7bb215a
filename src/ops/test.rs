//! Test: run the custom plugins' handlers against the sample requests of `tests/*.test.yaml`,
//! offline (`crate::pdktest` runs them; this finds the state and the test files).

use std::path::PathBuf;

use crate::error::CommandError;
use crate::lint::LintOptions;
use crate::model::Diagnostic;
use crate::ops::Progress;
use crate::pdktest;
use crate::state;

/// What to test.
pub struct TestRequest<'a> {
    /// Test files, or directories searched for `*.test.yaml` (empty: `tests/` beside the state).
    pub paths: &'a [PathBuf],
    /// State files or directories.
    pub state: &'a [PathBuf],
    pub lint: LintOptions,
    /// Looks `${{ env "NAME" }}` up.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Loads the state, finds the test files and runs them.
pub fn test(
    request: &TestRequest<'_>,
    progress: &dyn Progress,
) -> Result<pdktest::Run, CommandError> {
    let loaded = state::load(request.state, &state::WorkTree, request.env);
    if loaded.state.custom_plugins.is_empty() && loaded.has_errors() {
        let errors: Vec<Diagnostic> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        progress.diagnostics(&errors);
        return Err(CommandError::new("the state cannot be read")
            .with_hint("run `plugsync lint` for details"));
    }
    if loaded.has_errors() {
        progress
            .warn("the state has errors (run `plugsync lint`); testing the plugins it declares");
    }
    let (files, mut invalid) = pdktest::discover(request.paths, request.state, &loaded.state);
    if files.is_empty() && invalid.is_empty() {
        let where_ = if request.paths.is_empty() {
            pdktest::default_dirs(request.state)
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            "the paths given".to_string()
        };
        return Err(CommandError::new(format!(
            "no test files (*{}) found in {where_}",
            pdktest::SUFFIX
        ))
        .with_hint("write one: see docs/testing-plugins.md"));
    }
    let options = pdktest::Options {
        profile: request.lint.profile,
        sandbox_requires: request.lint.sandbox_requires.clone(),
    };
    let mut result = pdktest::run(&files, &loaded.state, &options);
    invalid.append(&mut result.invalid);
    result.invalid = invalid;
    Ok(result)
}
