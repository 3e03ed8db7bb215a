//! `instance-scope`: an instance is bound only where its schema allows, with protocols its
//! schema allows.

use super::Rule;
use crate::lint::{Context, Diagnostic};
use crate::schema::validate;

pub const RULE: Rule = Rule {
    id: "instance-scope",
    summary: "an instance is bound where its schema forbids it (no_consumer, no_route, no_service) or uses protocols its schema does not allow",
    check: Some(check),
};

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let schemas = ctx.schemas();
    for inst in &ctx.state.plugins {
        let Some(schema) = schemas.get(inst.name.as_str()) else {
            continue;
        };
        let protocols = inst
            .protocols
            .as_ref()
            .map(|p| serde_json::Value::from(p.clone()));
        let bound = inst.scope.bound();
        for e in validate::validate_instance_fields(schema, protocols.as_ref(), &bound) {
            out.push(Diagnostic::error(
                RULE.id,
                inst.span.clone(),
                format!("{}: {}: {}", inst.label(), e.path, e.message),
            ));
        }
    }
}
