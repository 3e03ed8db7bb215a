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

/// A file path as a SARIF artifact URI: relative paths stay relative (GitHub code scanning
/// resolves them against the repository's root), with `/` separators and percent-encoding;
/// absolute paths become `file://` URIs.
fn artifact_uri(path: &std::path::Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let text = text.strip_prefix("./").unwrap_or(&text).to_string();
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    if path.is_absolute() {
        if out.starts_with('/') {
            format!("file://{out}")
        } else {
            format!("file:///{out}")
        }
    } else {
        out
    }
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// The SARIF 2.1.0 report (`--format sarif`), as GitHub code scanning reads it: one run of the
/// `plugsync` driver whose `rules` are the lint rule registry (with help links to
/// `docs/lints.md`), and one result per diagnostic with its file, line and column.
pub fn sarif(diags: &[Diagnostic]) -> String {
    use serde_json::json;
    let rules = super::rules::RULES;
    let descriptors: Vec<serde_json::Value> = rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id.split('-').map(|w| {
                    let mut c = w.chars();
                    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
                }).collect::<String>(),
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.summary},
                "helpUri": r.help_uri(),
                "help": {
                    "text": format!("{} See {}", r.summary, r.help_uri()),
                    "markdown": format!("{}\n\nSee [`{}` in docs/lints.md]({}).", r.summary, r.id, r.help_uri()),
                },
                "defaultConfiguration": {"level": sarif_level(r.default_severity())},
                "properties": {"tags": ["kong", "plugsync"]},
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            if let Some(h) = &d.hint {
                text.push_str(&format!("\nhint: {h}"));
            }
            let mut result = json!({
                "ruleId": d.rule,
                "level": sarif_level(d.severity),
                "message": {"text": text},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": artifact_uri(&d.span.file)},
                        "region": {
                            "startLine": d.span.line.max(1),
                            "startColumn": d.span.column.max(1),
                        },
                    },
                }],
            });
            if let Some(i) = rules.iter().position(|r| r.id == d.rule) {
                result["ruleIndex"] = json!(i);
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "plugsync",
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "version": crate::version(),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": descriptors,
                },
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).expect("a SARIF log serialises") + "\n"
}

/// Escapes the message of a GitHub workflow command.
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value of a GitHub workflow command.
fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub Actions annotations (`--format github`): `::error file=…,line=…,col=…,title=…::msg`
/// per diagnostic (`::warning`, `::notice` for milder ones), so findings show on the files of a
/// pull request. Paths under `workspace` (`$GITHUB_WORKSPACE`) are made relative to it, as
/// GitHub expects.
pub fn github(diags: &[Diagnostic], workspace: Option<&std::path::Path>) -> String {
    let mut out = String::new();
    for d in diags {
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let path = d.span.file.as_path();
        let path = workspace
            .filter(|_| path.is_absolute())
            .and_then(|w| path.strip_prefix(w).ok())
            .unwrap_or(path);
        let file = path.to_string_lossy().replace('\\', "/");
        let file = file.strip_prefix("./").unwrap_or(&file);
        let mut message = d.message.clone();
        if let Some(h) = &d.hint {
            message.push_str(&format!("\nhint: {h}"));
        }
        out.push_str(&format!(
            "::{command} file={},line={},col={},title={}::{}\n",
            gh_property(file),
            d.span.line,
            d.span.column,
            gh_property(&format!("plugsync {}", d.rule)),
            gh_data(&message)
        ));
    }
    out
}
