//! Renders a test run: text (one line per case, expected and actual side by side for a
//! failure), JSON, JUnit XML (CI test reports) and Markdown (PR comments, step summaries).

use super::{CaseResult, Mismatch, Run, Status};
use crate::ui::{paint, Style};

/// Widest value shown in a column of the side-by-side table; longer ones are cut there and
/// shown in full as a diff below it.
const COLUMN: usize = 40;

fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn unquote(s: &str) -> Option<String> {
    serde_json::from_str::<String>(s).ok()
}

/// The side-by-side table of a failure, plus a line diff for long or multi-line strings.
fn mismatch_table(mismatches: &[Mismatch], color: bool) -> String {
    let fw = mismatches
        .iter()
        .map(|m| m.field.chars().count())
        .max()
        .unwrap_or(0)
        .max("field".len());
    let ew = mismatches
        .iter()
        .map(|m| m.expected.chars().count().min(COLUMN))
        .max()
        .unwrap_or(0)
        .max("expected".len());
    let mut out = format!(
        "      {:fw$}  {:ew$}  {}\n",
        paint(color, Style::Dim, "field"),
        paint(color, Style::Dim, "expected"),
        paint(color, Style::Dim, "actual"),
        fw = if color { fw + 8 } else { fw },
        ew = if color { ew + 8 } else { ew },
    );
    let mut diffs = String::new();
    for m in mismatches {
        let e = cut(&m.expected, COLUMN);
        let pad = ew.saturating_sub(e.chars().count());
        out.push_str(&format!(
            "      {:fw$}  {}{}  {}\n",
            m.field,
            paint(color, Style::Green, &e),
            " ".repeat(pad),
            paint(color, Style::Red, &cut(&m.actual, COLUMN * 2)),
        ));
        let long = m.expected.chars().count() > COLUMN || m.actual.chars().count() > COLUMN * 2;
        if long {
            let (ex, ac) = (
                unquote(&m.expected).unwrap_or_else(|| m.expected.clone()),
                unquote(&m.actual).unwrap_or_else(|| m.actual.clone()),
            );
            diffs.push_str(&format!("      {} (- expected, + actual):\n", m.field));
            let diff = similar::TextDiff::from_lines(&ex, &ac);
            for change in diff.iter_all_changes() {
                let (sign, style) = match change.tag() {
                    similar::ChangeTag::Delete => ("-", Style::Green),
                    similar::ChangeTag::Insert => ("+", Style::Red),
                    similar::ChangeTag::Equal => (" ", Style::Dim),
                };
                let line = change.value().trim_end_matches('\n');
                diffs.push_str(&format!(
                    "        {}\n",
                    paint(color, style, &format!("{sign} {line}"))
                ));
            }
        }
    }
    out.push_str(&diffs);
    out
}

/// `N passed, N failed, N errors, N invalid files`.
pub fn summary_line(run: &Run) -> String {
    let (total, passed, failed, errors) = run.counts();
    let mut parts = vec![format!("{passed} passed"), format!("{failed} failed")];
    if errors > 0 {
        parts.push(format!("{errors} could not run"));
    }
    if !run.invalid.is_empty() {
        parts.push(format!(
            "{} invalid file{}",
            run.invalid.len(),
            if run.invalid.len() == 1 { "" } else { "s" }
        ));
    }
    format!(
        "test result: {}. {} in {} file{}",
        parts.join(", "),
        crate::lint::report::count(total, "case"),
        run.files.len(),
        if run.files.len() == 1 { "" } else { "s" }
    )
}

/// The text report: invalid files as `FILE:LINE:COL: error[test-file]: …`, then one line per
/// case, then the summary.
pub fn text(run: &Run, color: bool) -> String {
    let mut out = String::new();
    for e in &run.invalid {
        out.push_str(&format!(
            "{}: {}[test-file]: {}\n",
            super::location(&e.file, e.pos),
            paint(color, Style::Red, "error"),
            e.message
        ));
    }
    for f in &run.files {
        for c in &f.cases {
            case_text(&mut out, &f.plugin, c, color);
        }
    }
    out.push_str(&summary_line(run));
    out.push('\n');
    out
}

fn case_text(out: &mut String, plugin: &str, c: &CaseResult, color: bool) {
    let (tag, style) = match c.status {
        Status::Pass => ("PASS", Style::Green),
        Status::Fail(_) => ("FAIL", Style::Red),
        Status::Error(_) => ("ERROR", Style::Red),
    };
    out.push_str(&format!(
        "{:5} {plugin}: {}  ({})\n",
        paint(color, style, tag),
        c.name,
        c.location
    ));
    match &c.status {
        Status::Pass => {}
        Status::Fail(m) => out.push_str(&mismatch_table(m, color)),
        Status::Error(e) => out.push_str(&format!("      {e}\n")),
    }
}

/// The JSON report (`format_version` 1).
pub fn json(run: &Run) -> String {
    let (total, passed, failed, errors) = run.counts();
    let files: Vec<serde_json::Value> = run
        .files
        .iter()
        .map(|f| {
            serde_json::json!({
                "file": f.path.display().to_string(),
                "plugin": f.plugin,
                "cases": f.cases.iter().map(|c| {
                    let (status, mismatches, error) = match &c.status {
                        Status::Pass => ("pass", Vec::new(), None),
                        Status::Fail(m) => ("fail", m.clone(), None),
                        Status::Error(e) => ("error", Vec::new(), Some(e.clone())),
                    };
                    serde_json::json!({
                        "name": c.name,
                        "location": c.location,
                        "status": status,
                        "mismatches": mismatches,
                        "error": error,
                        "actual": c.exchange,
                        "duration_ms": c.duration.as_secs_f64() * 1000.0,
                    })
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let invalid: Vec<serde_json::Value> = run
        .invalid
        .iter()
        .map(|e| {
            serde_json::json!({
                "file": e.file.display().to_string(),
                "line": e.pos.line,
                "column": e.pos.column,
                "message": e.message,
            })
        })
        .collect();
    let report = serde_json::json!({
        "format_version": 1,
        "command": "test",
        "ok": run.ok(),
        "summary": {
            "files": run.files.len(),
            "cases": total,
            "passed": passed,
            "failed": failed,
            "errors": errors,
            "invalid_files": run.invalid.len(),
        },
        "files": files,
        "invalid_files": invalid,
        "duration_ms": run.duration.as_secs_f64() * 1000.0,
    });
    serde_json::to_string_pretty(&report).expect("a JSON value serialises")
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {
                out.push_str(&format!("&#x{:X};", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `<testsuite>` per file, one `<testcase>` per case (`classname` the plugin),
/// a `<failure>` with the side-by-side table, an `<error>` for a case or file that cannot run.
pub fn junit(run: &Run) -> String {
    let (total, _, failed, errors) = run.counts();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"plugsync test\" tests=\"{}\" failures=\"{failed}\" errors=\"{}\" time=\"{:.3}\">\n",
        total + run.invalid.len(),
        errors + run.invalid.len(),
        run.duration.as_secs_f64()
    ));
    for f in &run.files {
        let fails = f
            .cases
            .iter()
            .filter(|c| matches!(c.status, Status::Fail(_)))
            .count();
        let errs = f
            .cases
            .iter()
            .filter(|c| matches!(c.status, Status::Error(_)))
            .count();
        let time: f64 = f.cases.iter().map(|c| c.duration.as_secs_f64()).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" errors=\"{errs}\" time=\"{time:.3}\">\n",
            xml(&f.path.display().to_string()),
            f.cases.len()
        ));
        for c in &f.cases {
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3}\"",
                xml(&f.plugin),
                xml(&c.name),
                xml(&f.path.display().to_string()),
                c.duration.as_secs_f64()
            ));
            match &c.status {
                Status::Pass => out.push_str("/>\n"),
                Status::Fail(m) => {
                    let first = m.first().map(|m| m.field.as_str()).unwrap_or("");
                    out.push_str(&format!(
                        ">\n      <failure message=\"{} differs ({})\">{}</failure>\n    </testcase>\n",
                        xml(first),
                        xml(&c.location),
                        xml(&mismatch_table(m, false))
                    ));
                }
                Status::Error(e) => out.push_str(&format!(
                    ">\n      <error message=\"{}\"/>\n    </testcase>\n",
                    xml(e)
                )),
            }
        }
        out.push_str("  </testsuite>\n");
    }
    for e in &run.invalid {
        let loc = super::location(&e.file, e.pos);
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"1\" failures=\"0\" errors=\"1\">\n    <testcase classname=\"test-file\" name=\"{}\" file=\"{}\">\n      <error message=\"{}\"/>\n    </testcase>\n  </testsuite>\n",
            xml(&e.file.display().to_string()),
            xml(&loc),
            xml(&e.file.display().to_string()),
            xml(&format!("{loc}: {}", e.message))
        ));
    }
    out.push_str("</testsuites>\n");
    out
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Markdown: a summary, a table of cases, and each failure's table.
pub fn markdown(run: &Run) -> String {
    let mut out = format!("### plugsync test\n\n{}\n\n", md_cell(&summary_line(run)));
    if !run.invalid.is_empty() {
        out.push_str("**Invalid test files**\n\n");
        for e in &run.invalid {
            out.push_str(&format!(
                "- `{}`: {}\n",
                super::location(&e.file, e.pos),
                md_cell(&e.message)
            ));
        }
        out.push('\n');
    }
    out.push_str("| result | plugin | case | where |\n|---|---|---|---|\n");
    for f in &run.files {
        for c in &f.cases {
            let r = match c.status {
                Status::Pass => "✅ pass",
                Status::Fail(_) => "❌ fail",
                Status::Error(_) => "⚠️ error",
            };
            out.push_str(&format!(
                "| {r} | {} | {} | `{}` |\n",
                md_cell(&f.plugin),
                md_cell(&c.name),
                c.location
            ));
        }
    }
    for f in &run.files {
        for c in &f.cases {
            match &c.status {
                Status::Fail(m) => {
                    out.push_str(&format!(
                        "\n<details><summary>{}: {}</summary>\n\n| field | expected | actual |\n|---|---|---|\n",
                        md_cell(&f.plugin),
                        md_cell(&c.name)
                    ));
                    for x in m {
                        out.push_str(&format!(
                            "| `{}` | `{}` | `{}` |\n",
                            md_cell(&x.field),
                            md_cell(&x.expected),
                            md_cell(&x.actual)
                        ));
                    }
                    out.push_str("\n</details>\n");
                }
                Status::Error(e) => out.push_str(&format!(
                    "\n**{}: {}** could not run: {}\n",
                    md_cell(&f.plugin),
                    md_cell(&c.name),
                    md_cell(e)
                )),
                Status::Pass => {}
            }
        }
    }
    out
}
