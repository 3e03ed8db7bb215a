//! Renders lint diagnostics: `FILE:LINE:COL: error[ID]: message` text, JSON, or Markdown.

use serde::Serialize;

use super::{Diagnostic, Severity};
use crate::ui::{paint, Style};

/// Counts by severity.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
}

impl Summary {
    /// Counts `diags`.
    pub fn of(diags: &[Diagnostic]) -> Summary {
        let mut s = Summary::default();
        for d in diags {
            match d.severity {
                Severity::Error => s.errors += 1,
                Severity::Warning => s.warnings += 1,
                Severity::Note => s.notes += 1,
            }
        }
        s
    }

    /// `2 errors, 1 warning`.
    pub fn line(&self) -> String {
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}",
            plural(self.errors, "error"),
            plural(self.warnings, "warning")
        )
    }
}

/// `n word` with an English plural `s`.
pub fn count(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// One diagnostic in the JSON report.
#[derive(Debug, Serialize)]
struct JsonDiagnostic<'a> {
    file: String,
    line: usize,
    column: usize,
    severity: Severity,
    rule: &'a str,
    message: &'a str,
    hint: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    format_version: u32,
    diagnostics: Vec<JsonDiagnostic<'a>>,
    summary: Summary,
}

/// The text report: one diagnostic per line (hints indented below).
pub fn text(diags: &[Diagnostic], color: bool) -> String {
    let mut out = String::new();
    for d in diags {
        let sev = match d.severity {
            Severity::Error => paint(color, Style::Red, "error"),
            Severity::Warning => paint(color, Style::Yellow, "warning"),
            Severity::Note => paint(color, Style::Cyan, "note"),
        };
        out.push_str(&format!("{}: {sev}[{}]: {}\n", d.span, d.rule, d.message));
        if let Some(h) = &d.hint {
            out.push_str(&format!("  hint: {h}\n"));
        }
    }
    out
}

/// The JSON report (`format_version` 1).
pub fn json(diags: &[Diagnostic]) -> String {
    let report = JsonReport {
        format_version: 1,
        diagnostics: diags
            .iter()
            .map(|d| JsonDiagnostic {
                file: d.span.file.display().to_string(),
                line: d.span.line,
                column: d.span.column,
                severity: d.severity,
                rule: d.rule,
                message: &d.message,
                hint: d.hint.as_deref(),
            })
            .collect(),
        summary: Summary::of(diags),
    };
    serde_json::to_string_pretty(&report).expect("a lint report serialises") + "\n"
}

/// The Markdown report: a summary line and a table.
pub fn markdown(diags: &[Diagnostic]) -> String {
    let summary = Summary::of(diags);
    let mut out = format!("### plugsync lint: {}\n\n", summary.line());
    if diags.is_empty() {
        out.push_str("No problems found.\n");
        return out;
    }
    out.push_str("| place | severity | rule | message |\n|---|---|---|---|\n");
    for d in diags {
        let msg = d.message.replace('|', "\\|").replace('\n', " ");
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} |\n",
            d.span, d.severity, d.rule, msg
        ));
    }
    out
}
