//! The checks a control plane makes when a custom plugin is uploaded — the subset of the lint
//! rules that concerns one plugin on its own: size, syntax, sandbox evaluation, the name, and
//! the streaming limits (no `init_worker`, no timers). The local control plane calls this, so
//! what lints clean uploads clean.

use serde::Serialize;

use super::MAX_LUA_BYTES;
use crate::lua;
use crate::schema::PluginSchema;

/// One reason an upload is refused: the field it concerns (`name`, `handler`, `schema`) and a
/// message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadError {
    pub field: &'static str,
    pub message: String,
}

/// Checks a custom plugin as a control plane would on upload; returns its evaluated schema.
pub fn check_custom_plugin(
    name: &str,
    handler: &str,
    schema: &str,
) -> Result<PluginSchema, Vec<UploadError>> {
    let mut errors: Vec<UploadError> = Vec::new();
    let push = |errors: &mut Vec<UploadError>, field: &'static str, message: String| {
        errors.push(UploadError { field, message })
    };
    for (field, text) in [("handler", handler), ("schema", schema)] {
        if text.len() > MAX_LUA_BYTES {
            push(
                &mut errors,
                field,
                format!(
                    "the {field} is {} bytes; at most {MAX_LUA_BYTES} are accepted",
                    text.len()
                ),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for (field, text) in [("handler", handler), ("schema", schema)] {
        for f in lua::syntax_errors(text) {
            push(
                &mut errors,
                field,
                format!("{field}.lua:{}:{}: {}", f.line, f.column, f.message),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let evaluated = match lua::evaluate_schema(schema, &format!("{name}/schema.lua")) {
        Ok(s) => Some(s),
        Err(e) => {
            push(
                &mut errors,
                "schema",
                format!("the schema fails to evaluate: {e}"),
            );
            None
        }
    };
    if let Some(s) = &evaluated {
        if s.name != name {
            push(
                &mut errors,
                "name",
                format!(
                    "the name `{name}` differs from the schema's name `{}`",
                    s.name
                ),
            );
        }
    }
    match lua::load_handler(handler, &format!("{name}/handler.lua")) {
        Err(e) => push(
            &mut errors,
            "handler",
            format!("the handler fails to load: {e}"),
        ),
        Ok(h) if !h.returned_table => push(
            &mut errors,
            "handler",
            "the handler does not return a table".to_string(),
        ),
        Ok(h) => {
            if !h
                .priority
                .is_some_and(|p| p.is_finite() && p.fract() == 0.0)
            {
                push(
                    &mut errors,
                    "handler",
                    "the handler has no integer PRIORITY".to_string(),
                );
            }
            if h.version.is_none() {
                push(
                    &mut errors,
                    "handler",
                    "the handler has no string VERSION".to_string(),
                );
            }
        }
    }
    for f in lua::handler_findings(handler, &[]) {
        if f.rule == "init-worker" || f.rule == "timer" {
            push(
                &mut errors,
                "handler",
                format!("handler.lua:{}:{}: {}", f.line, f.column, f.message),
            );
        }
    }
    match (evaluated, errors.is_empty()) {
        (Some(s), true) => Ok(s),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"return { name = "tagger", fields = { { config = { type = "record", fields = { { v = { type = "string" } } } } } } }"#;
    const HANDLER: &str = r#"return { PRIORITY = 10, VERSION = "1.0.0" }"#;

    #[test]
    fn a_good_plugin_uploads() {
        let s = check_custom_plugin("tagger", HANDLER, SCHEMA).unwrap();
        assert_eq!(s.name, "tagger");
    }

    #[test]
    fn refusals_name_the_field() {
        let cases: [(&str, &str, &str, &str, &str); 6] = [
            ("other", HANDLER, SCHEMA, "name", "differs from the schema's name `tagger`"),
            ("tagger", "return {", SCHEMA, "handler", "handler.lua:1:"),
            ("tagger", HANDLER, "while true do end", "schema", "fails to evaluate"),
            ("tagger", "return 1", SCHEMA, "handler", "does not return a table"),
            ("tagger", "local h = { PRIORITY = 1, VERSION = \"1.0.0\" } function h:init_worker() end return h", SCHEMA, "handler", "init_worker"),
            ("tagger", HANDLER, &"-".repeat(102_401), "schema", "at most 102400"),
        ];
        for (name, handler, schema, field, want) in cases {
            let errs = check_custom_plugin(name, handler, schema).unwrap_err();
            assert!(
                errs.iter()
                    .any(|e| e.field == field && e.message.contains(want)),
                "{field} {want}: {errs:?}"
            );
        }
    }
}
