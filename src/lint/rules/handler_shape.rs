//! `handler-shape`: the handler returns a table with an integer PRIORITY and a string VERSION.

use super::Rule;
use crate::lint::{Context, Diagnostic};

pub const RULE: Rule = Rule {
    id: "handler-shape",
    summary: "the handler does not return a table with an integer PRIORITY and a string VERSION (warning when VERSION is not x.y.z)",
    check: Some(check),
};

/// Whether `v` is Kong's `x.y.z` (one to three numeric components).
pub fn is_semver_like(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for p in &ctx.plugins {
        let span = p.decl.handler.origin.span(1, 1);
        let name = &p.decl.name;
        match &p.handler {
            Some(Err(e)) => out.push(Diagnostic::error(
                RULE.id,
                p.decl.handler.origin.span(e.line().unwrap_or(1), 1),
                format!("handler of `{name}` fails to load: {e}"),
            )),
            Some(Ok(h)) if !h.returned_table => out.push(
                Diagnostic::error(RULE.id, span, format!("handler of `{name}` does not return a table"))
                    .with_hint("end handler.lua with `return Handler`, a table with PRIORITY, VERSION and phase functions"),
            ),
            Some(Ok(h)) => {
                match h.priority {
                    None => out.push(Diagnostic::error(
                        RULE.id,
                        span.clone(),
                        format!("handler of `{name}` has no numeric PRIORITY"),
                    )),
                    Some(pr) if !pr.is_finite() || pr.fract() != 0.0 => out.push(Diagnostic::error(
                        RULE.id,
                        span.clone(),
                        format!("handler of `{name}` has PRIORITY {pr}, not an integer"),
                    )),
                    Some(_) => {}
                }
                match &h.version {
                    None => out.push(Diagnostic::error(
                        RULE.id,
                        span,
                        format!("handler of `{name}` has no string VERSION"),
                    )),
                    Some(v) if !is_semver_like(v) => out.push(Diagnostic::warning(
                        RULE.id,
                        span,
                        format!("handler of `{name}` has VERSION \"{v}\", not in the \"x.y.z\" format"),
                    )),
                    Some(_) => {}
                }
            }
            None => {}
        }
    }
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
