//! Diagnostics: a rule id, a severity, a place and a message, as `lint` prints them and as the
//! loader reports state-file errors.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

/// A place in a file: 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub file: Arc<PathBuf>,
    pub line: usize,
    pub column: usize,
}

impl Span {
    /// A span at `line`/`column` of `file`.
    pub fn new(file: Arc<PathBuf>, line: usize, column: usize) -> Span {
        Span { file, line, column }
    }

    /// The start of `file`.
    pub fn file_start(file: Arc<PathBuf>) -> Span {
        Span::new(file, 1, 1)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One finding about the state files.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    pub span: Span,
    pub severity: Severity,
    /// The rule id (`yaml`, `instance-config`, …).
    pub rule: &'static str,
    pub message: String,
    /// How to fix it, when known.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error of `rule` at `span`.
    pub fn error(rule: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            span,
            severity: Severity::Error,
            rule,
            message: message.into(),
            hint: None,
        }
    }

    /// A warning of `rule` at `span`.
    pub fn warning(rule: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(rule, span, message)
        }
    }

    /// A note of `rule` at `span`.
    pub fn note(rule: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Note,
            ..Diagnostic::error(rule, span, message)
        }
    }

    /// The same diagnostic with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `FILE:LINE:COL: error[ID]: message`, then `  hint: …` on its own line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}[{}]: {}",
            self.span, self.severity, self.rule, self.message
        )?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}
