//! `schema-invalid`: the schema passes Kong's create-time steps (compile, run with no arguments,
//! a table with a `name`, the restricted metaschema) and loads (the fit with the plugins entity),
//! reported with Kong's message and a hint where the fix is known.

use super::Rule;
use crate::lint::{Context, Diagnostic};
use crate::lua::SandboxError;
use crate::schema::{Field, FieldType};

/// Fields whose type lacks its companion declaration: Kong accepts them, but validating a
/// value of them raises (`attempt to index field 'elements' (a nil value)`).
fn incomplete(prefix: &str, fields: &[(String, Field)], out: &mut Vec<String>) {
    for (name, f) in fields {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let missing = match f.ty {
            FieldType::Array | FieldType::Set if f.elements.is_none() => Some("elements"),
            FieldType::Map if f.keys.is_none() => Some("keys"),
            FieldType::Map if f.values.is_none() => Some("values"),
            _ => None,
        };
        if let Some(m) = missing {
            out.push(format!("`{path}` ({} without `{m}`)", f.ty.as_str()));
        }
        incomplete(&path, &f.fields, out);
    }
}

pub const RULE: Rule = Rule {
    id: "schema-invalid",
    summary: "the schema fails to evaluate in the sandbox or breaks Kong's metaschema",
    check: Some(check),
};

/// A hint for a schema failure whose usual cause is known.
pub fn hint(source: &str, error: &SandboxError) -> Option<&'static str> {
    let text = error.to_string();
    // A missing global names itself; only an unnamed nil can be the empty `...`.
    if text.contains("global 'ngx'") || text.contains("global 'kong'") {
        return Some("schemas run without `ngx` and `kong`: take values such as ngx.null from require \"kong.db.schema.typedefs\" or write them literally");
    }
    if matches!(error, SandboxError::Runtime { .. })
        && text.contains("attempt to index")
        && !text.contains("attempt to index global")
        && source.contains("...")
    {
        return Some("a streamed schema gets no module name: Kong calls the chunk with no arguments, so `...` is empty; write the plugin's name literally (name = \"my-plugin\")");
    }
    if text.contains("no_consumer: unknown field")
        || text.contains("no_route: unknown field")
        || text.contains("no_service: unknown field")
    {
        return Some("this is the pre-1.0 schema format: return { name = \"…\", fields = { { consumer = typedefs.no_consumer }, { config = { type = \"record\", fields = { … } } } } } with typedefs = require \"kong.db.schema.typedefs\"");
    }
    if matches!(error, SandboxError::ForbiddenModule { .. }) {
        return Some("a schema may require only bit, string.buffer, table.*, kong.db.schema.typedefs and Kong's redis schema modules");
    }
    if text.contains("shorthand_fields: unknown field") {
        return Some(
            "streamed schemas may declare shorthand_fields only on fields, not at the top level",
        );
    }
    None
}

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for p in &ctx.plugins {
        if let Some(schema) = p.schema() {
            let mut found = Vec::new();
            incomplete("", &schema.fields, &mut found);
            if !found.is_empty() {
                out.push(
                    Diagnostic::warning(
                        RULE.id,
                        p.decl.schema.origin.span(1, 1),
                        format!(
                            "schema of `{}`: Kong accepts {}, but validating a value of it fails (attempt to index a nil declaration)",
                            p.decl.name,
                            found.join(", ")
                        ),
                    )
                    .with_hint("declare the companion attribute (`elements = { type = \"string\" }`, `keys`/`values`)"),
                );
            }
        }
        if let Some(Err(e)) = &p.schema {
            // A forbidden top-level require is reported once, by the `require` rule.
            if matches!(e, SandboxError::ForbiddenModule { .. })
                && p.schema_findings
                    .iter()
                    .any(|f| f.rule == crate::lua::Check::Require)
            {
                continue;
            }
            let line = e.line().unwrap_or(1);
            let message = if e.is_create_time() {
                e.kong_message("schema")
            } else {
                format!(
                    "error loading custom plugin schemas: on custom plugin '{}': {e}",
                    p.decl.name
                )
            };
            let mut d = Diagnostic::error(
                RULE.id,
                p.decl.schema.origin.span(line, 1),
                format!("schema of `{}`: {message}", p.decl.name),
            );
            if let Some(h) = hint(&p.decl.schema.text, e) {
                d = d.with_hint(h);
            }
            out.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(message: &str) -> SandboxError {
        SandboxError::Runtime {
            message: message.to_string(),
        }
    }

    #[test]
    fn a_missing_global_is_hinted_as_such_even_when_the_schema_reads_its_arguments() {
        let source = "kong.log.info('x')\nlocal mod = ...\nreturn {}";
        let error = runtime("[string \"schema\"]:1: attempt to index global 'kong' (a nil value)");
        assert!(hint(source, &error).is_some_and(|h| h.contains("without `ngx` and `kong`")));
        let error = runtime("[string \"schema\"]:2: attempt to index local 'mod' (a nil value)");
        assert!(hint(source, &error).is_some_and(|h| h.contains("`...` is empty")));
    }
}
