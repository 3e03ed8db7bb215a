//! `lua-syntax`: handler and schema compile with LuaJIT (2.1, Lua 5.2 compatibility), reported
//! in Kong's words (`<field> compilation error ([string "<field>"]:<line>: <msg>)`).

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
                    format!(
                        "{what} of `{}`: {what} compilation error ([string \"{what}\"]:{}: {})",
                        p.decl.name, f.line, f.message
                    ),
                ));
            }
        }
    }
}
