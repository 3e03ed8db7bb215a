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
            let mut d = Diagnostic::error(
                RULE.id,
                inst.span.clone(),
                format!("{}: {}: {}", inst.label(), e.path, e.message),
            );
            if e.message == "value must be null" {
                let scope = e.path.as_str();
                d = d.with_hint(format!(
                    "the schema of `{}` declares `{{ {scope} = typedefs.no_{scope} }}`: the plugin cannot be applied per {}; bind the instance elsewhere or drop no_{scope} from the schema",
                    inst.name,
                    scope.replace('_', " ")
                ));
            }
            out.push(d);
        }
    }
}
