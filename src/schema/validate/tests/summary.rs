//! Kong's one-line summary, error ordering and `Display`.

use serde_json::json;

use super::*;
use crate::schema::validate::{sort_errors, summary};

fn e(path: &str, message: &str) -> FieldError {
    FieldError {
        path: path.to_string(),
        message: message.to_string(),
    }
}

#[test]
fn summary_formats() {
    let cases: Vec<(Vec<FieldError>, &str)> = vec![
        (
            vec![e("config.foo", "required field missing")],
            "schema violation (config.foo: required field missing)",
        ),
        (
            vec![e("config.b", "expected a string"), e("config.a", "required field missing")],
            "2 schema violations (config.a: required field missing; config.b: expected a string)",
        ),
        (
            vec![
                e("config.a", "expected a string"),
                e("@entity", "at least one of these fields must be non-empty: 'config.a', 'config.b'"),
            ],
            "2 schema violations (at least one of these fields must be non-empty: 'config.a', \
             'config.b'; config.a: expected a string)",
        ),
        (
            vec![e("config.@entity", "all or none of these fields must be set: 'a', 'b'")],
            "schema violation (config.@entity: all or none of these fields must be set: 'a', 'b')",
        ),
        (
            vec![e("protocols.1", "expected one of: http"), e("consumer", "value must be null")],
            "2 schema violations (consumer: value must be null; protocols.1: expected one of: http)",
        ),
        (vec![], "0 schema violations ()"),
    ];
    for (errors, want) in cases {
        assert_eq!(summary(&errors), want);
    }
}

#[test]
fn summary_of_a_real_validation() {
    let s = schema(vec![
        ("a", string().req()),
        ("n", integer().with(|v| v.between = Some((0.0, 10.0)))),
    ]);
    let errs = process_config(&s, Some(&json!({"n": 11}))).unwrap_err();
    assert_eq!(
        summary(&errs),
        "2 schema violations (config.a: required field missing; config.n: value should be between 0 and 10)"
    );
}

#[test]
fn sorting_by_segments() {
    let mut errs = vec![
        e("config.hosts.10", "x"),
        e("config.b", "x"),
        e("config.hosts.2", "x"),
        e("config.@entity", "second"),
        e("@entity", "x"),
        e("config", "x"),
        e("config.@entity", "first"),
        e("config.B", "x"),
    ];
    // Equal paths keep their order: put "second" after "first" as produced.
    errs.swap(3, 6);
    sort_errors(&mut errs);
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "@entity",
            "config",
            "config.@entity",
            "config.@entity",
            "config.B",
            "config.b",
            "config.hosts.2",
            "config.hosts.10",
        ]
    );
    assert_eq!(errs[2].message, "first");
}

#[test]
fn display() {
    assert_eq!(e("config.a", "m").to_string(), "config.a: m");
    assert_eq!(e("@entity", "m").to_string(), "m");
}
