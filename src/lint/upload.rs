//! The checks Kong makes when a custom plugin is created (`reference/kong-sandbox.md` §4), in
//! Kong's order and with Kong's messages, plus the upload limit of Konnect and Dedicated Cloud
//! Gateways (100 KB per file). The local control plane calls this and `lint` reports the same
//! findings, so what lints clean uploads clean, under the same sandbox profile.

use serde::Serialize;

use super::MAX_LUA_BYTES;
use crate::lua::{self, ProfileName, SandboxError};
use crate::schema::PluginSchema;

/// One reason an upload is refused: the field it concerns (`name`, `handler`, `schema`, or
/// `@entity` for Kong's entity checks) and Kong's message for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadError {
    pub field: &'static str,
    pub message: String,
}

/// Kong's bundled plugins (3.10), which a custom plugin may not be named after.
pub const BUNDLED_PLUGINS: &[&str] = &[
    "acl",
    "acme",
    "ai-azure-content-safety",
    "ai-prompt-decorator",
    "ai-prompt-guard",
    "ai-prompt-template",
    "ai-proxy",
    "ai-proxy-advanced",
    "ai-rate-limiting-advanced",
    "ai-request-transformer",
    "ai-response-transformer",
    "ai-semantic-cache",
    "ai-semantic-prompt-guard",
    "application-registration",
    "aws-lambda",
    "azure-functions",
    "basic-auth",
    "bot-detection",
    "canary",
    "confluent",
    "correlation-id",
    "cors",
    "datadog",
    "degraphql",
    "exit-transformer",
    "file-log",
    "forward-proxy",
    "graphql-proxy-cache-advanced",
    "graphql-rate-limiting-advanced",
    "grpc-gateway",
    "grpc-web",
    "hmac-auth",
    "http-log",
    "injection-protection",
    "ip-restriction",
    "jq",
    "json-threat-protection",
    "jwe-decrypt",
    "jwt",
    "jwt-signer",
    "key-auth",
    "key-auth-enc",
    "ldap-auth",
    "loggly",
    "mocking",
    "oauth2",
    "oauth2-introspection",
    "opentelemetry",
    "post-function",
    "pre-function",
    "prometheus",
    "proxy-cache",
    "proxy-cache-advanced",
    "rate-limiting",
    "rate-limiting-advanced",
    "redirect",
    "request-size-limiting",
    "request-termination",
    "request-transformer",
    "request-transformer-advanced",
    "response-ratelimiting",
    "response-transformer",
    "response-transformer-advanced",
    "route-by-header",
    "route-transformer-advanced",
    "service-protection",
    "session",
    "standard-webhooks",
    "statsd",
    "statsd-advanced",
    "syslog",
    "tcp-log",
    "tls-handshake-modifier",
    "tls-metadata-headers",
    "udp-log",
    "upstream-timeout",
    "websocket-size-limit",
    "websocket-validator",
    "xml-threat-protection",
    "zipkin",
];

/// Kong's custom plugin name rule: `^[a-z][a-z0-9-]*[a-z0-9]$`.
pub fn valid_plugin_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// Kong's message for a name it refuses (§4.2), if it does.
pub fn name_error(name: &str) -> Option<String> {
    if BUNDLED_PLUGINS.contains(&name) {
        return Some(format!(
            "must not be one of: {}",
            BUNDLED_PLUGINS.join(", ")
        ));
    }
    if !valid_plugin_name(name) {
        return Some(format!("invalid value: {name}"));
    }
    None
}

/// The first create-time failure of the `schema` field (§4.3), in Kong's words, or the schema.
pub fn schema_result(schema: &str) -> Result<PluginSchema, SandboxError> {
    if let Some((line, message)) = lua::luajit_syntax_error(schema) {
        return Err(SandboxError::Syntax { line, message });
    }
    lua::evaluate_schema(schema)
}

/// The first create-time failure of the `handler` field (§4.5), in Kong's words.
pub fn handler_error(handler: &str, profile: ProfileName, extra: &[String]) -> Option<String> {
    if let Some((line, message)) = lua::luajit_syntax_error(handler) {
        return Some(SandboxError::Syntax { line, message }.kong_message("handler"));
    }
    match lua::load_handler(handler, profile, extra) {
        Err(e) => Some(e.kong_message("handler")),
        Ok(h) => h
            .kong_error
            .map(|m| format!("handler validation error ({m})")),
    }
}

/// Checks a custom plugin as Kong does on create; returns its evaluated schema. A schema that
/// Kong accepts but cannot load later (§4.7) is refused too, with Kong's load-time message: the
/// local control plane has no later load to fail in.
pub fn check_custom_plugin(
    name: &str,
    handler: &str,
    schema: &str,
    profile: ProfileName,
) -> Result<PluginSchema, Vec<UploadError>> {
    let mut errors: Vec<UploadError> = Vec::new();
    let mut push =
        |field: &'static str, message: String| errors.push(UploadError { field, message });
    for (field, text) in [("handler", handler), ("schema", schema)] {
        if text.len() > MAX_LUA_BYTES {
            push(
                field,
                format!(
                    "the {field} is {} bytes; Konnect accepts at most {MAX_LUA_BYTES} per file",
                    text.len()
                ),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut push =
        |field: &'static str, message: String| errors.push(UploadError { field, message });
    if let Some(m) = name_error(name) {
        push("name", m);
    }
    let evaluated = match schema_result(schema) {
        Ok(s) => Some(s),
        Err(e) if e.is_create_time() => {
            push("schema", e.kong_message("schema"));
            None
        }
        Err(e) => {
            push(
                "schema",
                format!("error loading custom plugin schemas: on custom plugin '{name}': {e}"),
            );
            None
        }
    };
    if let Some(m) = handler_error(handler, profile, &[]) {
        push("handler", m);
    }
    if let Some(s) = &evaluated {
        if s.name != name {
            push("@entity", "name must be equal to schema.name".to_string());
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
        let s = check_custom_plugin("tagger", HANDLER, SCHEMA, ProfileName::default()).unwrap();
        assert_eq!(s.name, "tagger");
    }

    #[test]
    fn refusals_name_the_field() {
        let cases: [(&str, &str, &str, &str, &str); 9] = [
            ("other", HANDLER, SCHEMA, "@entity", "name must be equal to schema.name"),
            ("tagger", "return {", SCHEMA, "handler", "handler compilation error ([string \"handler\"]:1: unexpected symbol near '<eof>')"),
            ("tagger", HANDLER, "while true do end", "schema", "schema load failure (the plugin sandbox's execution budget"),
            ("tagger", "return 1", SCHEMA, "handler", "handler validation error (expected table, got number)"),
            ("tagger", "local h = { PRIORITY = 1, VERSION = \"1.0.0\" } function h:init_worker() end return h", SCHEMA, "handler", "handler validation error (implementing init_worker method is not allowed)"),
            ("tagger", HANDLER, &"-".repeat(102_401), "schema", "at most 102400"),
            ("My-plugin", HANDLER, SCHEMA, "name", "invalid value: My-plugin"),
            ("cors", HANDLER, SCHEMA, "name", "must not be one of: acl, acme,"),
            ("tagger", HANDLER, "local n = ({...})[1]:match('x') return { name = n }", "schema", "schema load failure ([string \"schema\"]:1: attempt to index"),
        ];
        for (name, handler, schema, field, want) in cases {
            let errs =
                check_custom_plugin(name, handler, schema, ProfileName::default()).unwrap_err();
            assert!(
                errs.iter()
                    .any(|e| e.field == field && e.message.contains(want)),
                "{field} {want}: {errs:?}"
            );
        }
    }
}
