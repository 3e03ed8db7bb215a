//! `instance-config`: each instance config validates against its plugin's schema, as Kong
//! validates it.

use super::Rule;
use crate::lint::{Context, Diagnostic};
use crate::schema::validate;

pub const RULE: Rule = Rule {
    id: crate::state::RULE_INSTANCE_CONFIG,
    summary: "an instance config breaks its schema (types, required, defaults, one_of, between, len_*, match*, entity checks, …)",
    check: Some(check),
};

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let schemas = ctx.schemas();
    // Thousands of instances validate independently: on every core, findings in order.
    let found = crate::par::map(&ctx.state.plugins, |inst| {
        let Some(schema) = schemas.get(inst.name.as_str()) else {
            return Vec::new();
        };
        match validate::process_config(schema, inst.config.as_ref()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors
                .into_iter()
                .map(|e| {
                    Diagnostic::error(
                        RULE.id,
                        inst.span_of(&e.path),
                        ctx.state
                            .mask(&format!("{}: {}: {}", inst.label(), e.path, e.message)),
                    )
                })
                .collect(),
        }
    });
    out.extend(found.into_iter().flatten());
}
