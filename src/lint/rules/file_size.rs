//! `file-size`: handler.lua and schema.lua at most 100 KB each.

use super::Rule;
use crate::lint::{Context, Diagnostic, MAX_LUA_BYTES};

pub const RULE: Rule = Rule {
    id: "file-size",
    summary: "handler or schema over 100 KB (102,400 bytes)",
    check: Some(check),
};

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for p in &ctx.plugins {
        for (what, src) in [("handler", &p.decl.handler), ("schema", &p.decl.schema)] {
            let len = src.text.len();
            if len > MAX_LUA_BYTES {
                out.push(Diagnostic::error(
                    RULE.id,
                    src.origin.span(1, 1),
                    format!(
                        "the {what} of `{}` is {len} bytes; control planes accept at most {MAX_LUA_BYTES}",
                        p.decl.name
                    ),
                ));
            }
        }
    }
}
