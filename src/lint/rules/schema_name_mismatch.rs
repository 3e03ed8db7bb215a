//! `schema-name-mismatch`: the declared name must equal the schema's `name`.

use super::Rule;
use crate::lint::{Context, Diagnostic};

pub const RULE: Rule = Rule {
    id: "schema-name-mismatch",
    summary: "the declared custom plugin name differs from the schema's `name`",
    check: Some(check),
};

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for p in &ctx.plugins {
        let Some(schema) = p.schema() else { continue };
        if schema.name != p.decl.name {
            out.push(
                Diagnostic::error(
                    RULE.id,
                    p.decl.span.clone(),
                    format!(
                        "custom plugin `{}` has a schema named `{}`",
                        p.decl.name, schema.name
                    ),
                )
                .with_hint("the control plane registers the plugin under its schema's name: make them equal"),
            );
        }
    }
}
