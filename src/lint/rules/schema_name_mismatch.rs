//! `schema-name-mismatch`: the declared name must equal the schema's `name`.

use super::Rule;
use crate::lint::{Context, Diagnostic};

pub const RULE: Rule = Rule {
    id: "schema-name-mismatch",
    summary: "the declared custom plugin name differs from the schema's `name`",
    check: Some(check),
};

/// The `name = "…"` a schema's source declares, for when it does not evaluate: the first
/// string-valued `name` key.
fn static_name(source: &str) -> Option<String> {
    let mut rest = source;
    while let Some(i) = rest.find("name") {
        let before = rest[..i].chars().last();
        let after = rest[i + 4..].trim_start();
        rest = &rest[i + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        let quote = value.chars().next()?;
        if quote == '"' || quote == '\'' {
            let body = &value[1..];
            return body.find(quote).map(|end| body[..end].to_string());
        }
    }
    None
}

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for p in &ctx.plugins {
        let name = match p.schema() {
            Some(schema) => schema.name.clone(),
            None => match static_name(&p.decl.schema.text) {
                Some(n) => n,
                None => continue,
            },
        };
        if name != p.decl.name {
            out.push(
                Diagnostic::error(
                    RULE.id,
                    p.decl.span.clone(),
                    format!(
                        "custom plugin `{}` has a schema named `{name}`: name must be equal to schema.name",
                        p.decl.name
                    ),
                )
                .with_hint("the control plane registers the plugin under its schema's name: make them equal"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn static_names() {
        assert_eq!(
            super::static_name("return { name = \"a-b\", fields = {} }").as_deref(),
            Some("a-b")
        );
        assert_eq!(
            super::static_name("local x = { plugin_name = 'q' }\nreturn { name = 'z' }").as_deref(),
            Some("z")
        );
        assert_eq!(super::static_name("return { name = n }"), None);
    }
}
