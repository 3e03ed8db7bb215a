//! Cases that rely on code owned elsewhere: the Lua pattern engine
//! (`crate::schema::lua_pattern::is_match`) for `match`, `not_match`, `match_all`, `match_none`
//! and `match_any`, and the typedef builtins (`crate::schema::builtins::check`).

use serde_json::json;

use super::*;
use crate::schema::model::{Builtin, MatchAny, PatternErr};

fn entry(pattern: &str, err: &str) -> PatternErr {
    PatternErr {
        pattern: pattern.to_string(),
        err: err.to_string(),
    }
}

/// Relies on the Lua pattern engine.
#[test]
fn pattern_validators() {
    table(vec![
        (
            string().with(|v| v.r#match = Some("^%d+$".into())),
            json!("123"),
            None,
        ),
        (
            string().with(|v| v.r#match = Some("^%d+$".into())),
            json!("12a"),
            Some("invalid value: 12a"),
        ),
        (
            string()
                .with(|v| v.r#match = Some("^%u+$".into()))
                .err("upper only"),
            json!("get"),
            Some("upper only"),
        ),
        (
            string().with(|v| v.not_match = Some("%s".into())),
            json!("a b"),
            Some("invalid value: a b"),
        ),
        (
            string().with(|v| v.not_match = Some("%s".into())),
            json!("ab"),
            None,
        ),
        (
            string().with(|v| {
                v.match_all = Some(vec![
                    entry("^/", "must start with /"),
                    entry("/$", "must end with /"),
                ])
            }),
            json!("/a"),
            Some("must end with /"),
        ),
        (
            string().with(|v| {
                v.match_all = Some(vec![
                    entry("^/", "must start with /"),
                    entry("/$", "must end with /"),
                ])
            }),
            json!("/a/"),
            None,
        ),
        (
            string()
                .with(|v| v.match_none = Some(vec![entry("//", "must not have empty segments")])),
            json!("/a//b"),
            Some("must not have empty segments"),
        ),
        (
            string().with(|v| v.match_none = Some(vec![entry("//", "")])),
            json!("a//"),
            Some("invalid value: a//"),
        ),
        (
            string().with(|v| {
                v.match_any = Some(MatchAny {
                    patterns: vec!["^http://".into(), "^https://".into()],
                    err: "must be a URL".into(),
                })
            }),
            json!("ftp://x"),
            Some("must be a URL"),
        ),
        (
            string().with(|v| {
                v.match_any = Some(MatchAny {
                    patterns: vec!["^http://".into(), "^https://".into()],
                    err: "must be a URL".into(),
                })
            }),
            json!("https://x"),
            None,
        ),
        // starts_with comes before the pattern validators; not_match before match_none before
        // match.
        (
            string().with(|v| {
                v.starts_with = Some("/".into());
                v.r#match = Some("^%d".into());
            }),
            json!("a"),
            Some("should start with: /"),
        ),
        (
            string().with(|v| {
                v.not_match = Some("x".into());
                v.r#match = Some("^%d".into());
            }),
            json!("ax"),
            Some("invalid value: ax"),
        ),
    ]);
}

/// Relies on the Lua pattern engine: a conditional's `if_match` with a pattern.
#[test]
fn conditional_with_pattern() {
    let s = plugin(
        record(vec![("policy", string()), ("host", string())]).checks(vec![
            EntityCheck::Conditional {
                if_field: "policy".to_string(),
                if_match: Box::new(string().with(|v| v.r#match = Some("^redis$".into()))),
                then_field: "host".to_string(),
                then_match: Box::new(string().req()),
                then_err: None,
            },
        ]),
        Vec::new(),
    );
    assert_eq!(errors(&s, json!({"policy": "local"})), vec![]);
    assert_eq!(
        errors(&s, json!({"policy": "redis"})),
        vec![
            (
                "config.@entity".to_string(),
                "failed conditional validation given value of field 'policy'".to_string()
            ),
            (
                "config.host".to_string(),
                "required field missing".to_string()
            ),
        ]
    );
}

/// Relies on the typedef builtins: they run after the attribute validators, and `err`
/// replaces their message.
#[test]
fn builtins_run_as_custom_validator() {
    let mut header = string();
    header.builtins = vec![Builtin::HeaderName];
    let got = one(&header, json!("bad header"));
    assert!(
        got.as_deref()
            .is_some_and(|m| m.contains("bad header name")),
        "{got:?}"
    );
    assert_eq!(one(&header, json!("X-Good")), None);
    // Attribute validators first.
    let mut limited = header.clone().with(|v| v.len_max = Some(3));
    assert_eq!(
        one(&limited, json!("bad header")).as_deref(),
        Some("length must be at most 3")
    );
    limited = header.err("a header name");
    assert_eq!(
        one(&limited, json!("bad header")).as_deref(),
        Some("a header name")
    );
}
