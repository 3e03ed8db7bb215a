//! How an operation tells what it does while it runs: a trait the CLI implements with its
//! printer and progress bar, and [`Recording`] for tests.

use std::sync::Mutex;

use crate::apply::StepResult;
use crate::model::Diagnostic;

/// What an operation reports while it runs. Implementations decide what to show (`-q`, a
/// progress bar on a terminal, one line per step otherwise).
pub trait Progress: Sync {
    /// A line about what happens (`target: …`, `waiting up to 60s …`).
    fn status(&self, line: &str);
    /// A warning: the operation goes on.
    fn warn(&self, line: &str);
    /// Diagnostics that stop the operation (lint errors), reported before its error.
    fn diagnostics(&self, errors: &[Diagnostic]);
    /// An apply of `total` steps starts.
    fn apply_started(&self, total: usize) {
        let _ = total;
    }
    /// Step `n` of `total` finished (done, failed or blocked).
    fn step_done(&self, result: &StepResult, n: usize, total: usize);
    /// The apply started last finished.
    fn apply_finished(&self) {}
}

/// A [`Progress`] that keeps everything it is told, one line each, for tests.
#[derive(Debug, Default)]
pub struct Recording {
    pub lines: Mutex<Vec<String>>,
}

impl Recording {
    fn push(&self, line: String) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Progress for Recording {
    fn status(&self, line: &str) {
        self.push(format!("status: {line}"));
    }
    fn warn(&self, line: &str) {
        self.push(format!("warn: {line}"));
    }
    fn diagnostics(&self, errors: &[Diagnostic]) {
        for d in errors {
            self.push(format!("diagnostic: {d}"));
        }
    }
    fn step_done(&self, r: &StepResult, n: usize, total: usize) {
        self.push(format!(
            "step {n}/{total}: {} {} {}: {:?}",
            r.action, r.kind, r.name, r.status
        ));
    }
}
