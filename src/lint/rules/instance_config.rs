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
        // The whole instance as Kong validates it on insert (entity checks can name the scope
        // or the protocols); errors about those fields themselves are `instance-scope`'s.
        match inst.validate(schema) {
            Ok(_) => Vec::new(),
            Err(errors) => validate::config_errors(errors)
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
