//! `lua-syntax`: handler and schema parse as LuaJIT source.

use super::Rule;
use crate::lint::{Context, Diagnostic};

pub const RULE: Rule = Rule {
    id: "lua-syntax",
    summary: "handler or schema does not parse (LuaJIT syntax)",
    check: Some(check),
};

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for p in &ctx.plugins {
        for (what, src, findings) in [
            ("handler", &p.decl.handler, &p.handler_syntax),
            ("schema", &p.decl.schema, &p.schema_syntax),
        ] {
            for f in findings {
                out.push(Diagnostic::error(
                    RULE.id,
                    src.origin.span(f.line, f.column),
                    format!("{what} of `{}`: {}", p.decl.name, f.message),
                ));
            }
        }
    }
}
