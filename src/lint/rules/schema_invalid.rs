//! `schema-invalid`: the schema evaluates in the sandbox and satisfies Kong's metaschema.

use super::Rule;
use crate::lint::{Context, Diagnostic};

pub const RULE: Rule = Rule {
    id: "schema-invalid",
    summary: "the schema fails to evaluate in the sandbox or breaks Kong's metaschema",
    check: Some(check),
};

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for p in &ctx.plugins {
        if let Some(Err(e)) = &p.schema {
            let line = e.line().unwrap_or(1);
            out.push(Diagnostic::error(
                RULE.id,
                p.decl.schema.origin.span(line, 1),
                format!("schema of `{}`: {e}", p.decl.name),
            ));
        }
    }
}
