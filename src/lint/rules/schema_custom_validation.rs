//! `schema-custom-validation`: custom validation functions belong in the handler.

use super::Rule;
use crate::lint::{Context, Diagnostic};
use crate::schema::{EntityCheck, Field};

pub const RULE: Rule = Rule {
    id: "schema-custom-validation",
    summary: "the schema holds custom_validator or custom_entity_check functions (a warning: Kong runs them, its docs advise validating in the handler)",
    check: Some(check),
};

fn field_paths(prefix: &str, fields: &[(String, Field)], out: &mut Vec<String>) {
    for (name, f) in fields {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if f.has_custom_validator {
            out.push(format!("custom_validator on `{path}`"));
        }
        if f.entity_checks
            .iter()
            .any(|c| matches!(c, EntityCheck::CustomEntityCheck { .. }))
        {
            out.push(format!("custom_entity_check in `{path}`"));
        }
        field_paths(&path, &f.fields, out);
        for sub in [&f.elements, &f.keys, &f.values].into_iter().flatten() {
            field_paths(&path, &sub.fields, out);
        }
    }
}

/// The 1-based line of the first occurrence of `needle`, else 1.
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map_or(1, |i| text[..i].bytes().filter(|b| *b == b'\n').count() + 1)
}

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    // Hybrid-mode schemas may hold custom validation: the control plane runs it.
    for p in ctx.plugins.iter().filter(|p| p.decl.streamed) {
        let mut found = Vec::new();
        match p.schema() {
            Some(schema) => {
                field_paths("", &schema.fields, &mut found);
                if schema
                    .entity_checks
                    .iter()
                    .any(|c| matches!(c, EntityCheck::CustomEntityCheck { .. }))
                {
                    found.push("a top-level custom_entity_check".to_string());
                }
                if schema.has_check_function {
                    found.push("a top-level `check` function".to_string());
                }
            }
            // The schema does not evaluate: say what the source shows.
            None => {
                for key in ["custom_validator", "custom_entity_check"] {
                    if p.decl.schema.text.contains(key) {
                        found.push(format!("`{key}`"));
                    }
                }
            }
        }
        if found.is_empty() {
            continue;
        }
        let text = &p.decl.schema.text;
        let line = ["custom_validator", "custom_entity_check", "check"]
            .iter()
            .map(|n| line_of(text, n))
            .find(|l| *l > 1)
            .unwrap_or(1);
        out.push(
            Diagnostic::warning(
                RULE.id,
                p.decl.schema.origin.span(line, 1),
                format!("schema of `{}` has {}", p.decl.name, found.join(", ")),
            )
            .with_hint("Kong runs these functions on every node that validates a config (plugsync runs them too, in the sandbox, for each instance it checks); Kong's streaming docs advise validating in handler.lua instead"),
        );
    }
}
