//! `handler-shape`: the handler returns a table with an integer PRIORITY and a string VERSION.

use super::Rule;
use crate::lint::{Context, Diagnostic};
use crate::lua::{parse_kong_version, SandboxError};

pub const RULE: Rule = Rule {
    id: "handler-shape",
    summary: "the handler does not return a table with an integer PRIORITY and a string VERSION (warning when VERSION is not x.y.z)",
    check: Some(check),
};

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for p in &ctx.plugins {
        let span = p.decl.handler.origin.span(1, 1);
        let name = &p.decl.name;
        match &p.handler {
            Some(Err(e)) => {
                // A forbidden top-level require is reported once, by the `require` rule.
                if matches!(e, SandboxError::ForbiddenModule { .. })
                    && p.handler_findings
                        .iter()
                        .any(|f| f.rule == crate::lua::Check::Require)
                {
                    continue;
                }
                out.push(Diagnostic::error(
                    RULE.id,
                    p.decl.handler.origin.span(e.line().unwrap_or(1), 1),
                    format!("handler of `{name}`: {}", e.kong_message("handler")),
                ))
            }
            Some(Ok(h)) => {
                // `init_worker` is reported once, by the `init-worker` rule.
                let reported = h
                    .kong_error
                    .as_deref()
                    .is_some_and(|k| k.contains("init_worker"))
                    && p.handler_findings
                        .iter()
                        .any(|f| f.rule == crate::lua::Check::InitWorker);
                if reported {
                    continue;
                }
                if let Some(kong) = &h.kong_error {
                    let hint = if !h.returned_table {
                        "end handler.lua with `return Handler`, a table with PRIORITY, VERSION and phase functions"
                    } else if kong.starts_with("PRIORITY") {
                        "set PRIORITY to an integer number, e.g. PRIORITY = 1000"
                    } else if kong.starts_with("VERSION") {
                        "set VERSION to a string such as \"1.0.0\" (at most three numeric parts)"
                    } else if kong.contains("response") {
                        "implement either `response` or `header_filter`/`body_filter`, not both"
                    } else {
                        "streamed plugins cannot run in init_worker; do the work lazily in a request phase"
                    };
                    out.push(
                        Diagnostic::error(
                            RULE.id,
                            span.clone(),
                            format!("handler of `{name}`: handler validation error ({kong})"),
                        )
                        .with_hint(hint),
                    );
                } else if let Some(v) = &h.version {
                    if !is_semver_like(v) {
                        out.push(Diagnostic::warning(
                            RULE.id,
                            span,
                            format!(
                                "handler of `{name}` has VERSION \"{v}\"; Kong reads it as \"{}\"",
                                parse_kong_version(v).unwrap_or_default()
                            ),
                        ));
                    }
                }
            }
            None => {}
        }
    }
}

/// Whether `v` is exactly `x.y.z` (one to three numeric components).
pub fn is_semver_like(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions() {
        for ok in ["1.0.0", "1", "1.2", "10.20.30"] {
            assert!(super::is_semver_like(ok), "{ok}");
        }
        for bad in ["1.0,0", "", "1.0.0.0", "v1", "1..2", "1.0-beta"] {
            assert!(!super::is_semver_like(bad), "{bad}");
        }
    }
}
