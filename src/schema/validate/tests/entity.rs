//! Entity checks at record and schema level: every checker, pass and fail, and the run rules.

use serde_json::{json, Value};

use super::*;

/// A schema whose config record has string fields `a`, `b`, `c` and the record-level `checks`.
fn abc(checks: Vec<EntityCheck>) -> PluginSchema {
    plugin(
        record(vec![("a", string()), ("b", string()), ("c", string())]).checks(checks),
        Vec::new(),
    )
}

fn entity(message: &str) -> Vec<(String, String)> {
    vec![("config.@entity".to_string(), message.to_string())]
}

/// Runs `(config, expected errors)` cases against one schema.
fn cases(schema: &PluginSchema, cases: Vec<(Value, Vec<(String, String)>)>) {
    for (config, want) in cases {
        assert_eq!(errors(schema, config.clone()), want, "config {config}");
    }
}

#[test]
fn at_least_one_of() {
    let s = abc(vec![EntityCheck::AtLeastOneOf(names(&["a", "b"]))]);
    let msg = "at least one of these fields must be non-empty: 'a', 'b'";
    cases(
        &s,
        vec![
            (json!({"a": "x"}), vec![]),
            (json!({"b": "x", "c": "y"}), vec![]),
            (json!({}), entity(msg)),
            (json!({"c": "y"}), entity(msg)),
            // Runs with invalid fields: both errors.
            (
                json!({"a": ""}),
                vec![
                    ("config.@entity".to_string(), msg.to_string()),
                    (
                        "config.a".to_string(),
                        "length must be at least 1".to_string(),
                    ),
                ],
            ),
        ],
    );
}

#[test]
fn only_one_of() {
    let s = abc(vec![EntityCheck::OnlyOneOf(names(&["a", "b"]))]);
    let msg = "exactly one of these fields must be non-empty: 'a', 'b'";
    cases(
        &s,
        vec![
            (json!({"a": "x"}), vec![]),
            (json!({"a": "x", "b": "y"}), entity(msg)),
            // Unset fields are filled with null, so the check runs and fails.
            (json!({}), entity(msg)),
        ],
    );
}

#[test]
fn distinct() {
    let s = abc(vec![EntityCheck::Distinct(names(&["a", "b"]))]);
    let msg = "values of these fields must be distinct: 'a', 'b'";
    cases(
        &s,
        vec![
            (json!({"a": "x", "b": "y"}), vec![]),
            (json!({"a": "x"}), vec![]),
            (json!({}), vec![]),
            (json!({"a": "x", "b": "x"}), entity(msg)),
        ],
    );
    // Numbers compare as Lua numbers.
    let n = plugin(
        record(vec![("a", number()), ("b", number())])
            .checks(vec![EntityCheck::Distinct(names(&["a", "b"]))]),
        Vec::new(),
    );
    assert_eq!(errors(&n, json!({"a": 1, "b": 1.0})), entity(msg));
}

#[test]
fn mutually_required() {
    let s = abc(vec![EntityCheck::MutuallyRequired(names(&["a", "b"]))]);
    let msg = "all or none of these fields must be set: 'a', 'b'";
    cases(
        &s,
        vec![
            (json!({}), vec![]),
            (json!({"a": "x", "b": "y"}), vec![]),
            (json!({"a": "x"}), entity(msg)),
            (json!({"b": "y", "c": "z"}), entity(msg)),
            // Skipped when an involved field is invalid.
            (
                json!({"a": 1}),
                vec![("config.a".to_string(), "expected a string".to_string())],
            ),
        ],
    );
}

#[test]
fn mutually_exclusive() {
    let s = abc(vec![EntityCheck::MutuallyExclusive(names(&[
        "a", "b", "c",
    ]))]);
    let msg = "only one or none of these fields must be set: 'a', 'b', 'c'";
    cases(
        &s,
        vec![
            (json!({}), vec![]),
            (json!({"b": "y"}), vec![]),
            (json!({"a": "x", "c": "z"}), entity(msg)),
        ],
    );
}

#[test]
fn mutually_exclusive_sets() {
    let s = abc(vec![EntityCheck::MutuallyExclusiveSets {
        set1: names(&["a", "b"]),
        set2: names(&["c"]),
    }]);
    cases(
        &s,
        vec![
            (json!({"a": "x", "b": "y"}), vec![]),
            (json!({"c": "z"}), vec![]),
            (
                json!({"b": "y", "c": "z"}),
                entity("these sets are mutually exclusive: ('b'), ('c')"),
            ),
            (
                json!({"a": "x", "b": "y", "c": "z"}),
                entity("these sets are mutually exclusive: ('a', 'b'), ('c')"),
            ),
        ],
    );
}

fn conditional(then_match: Field, then_err: Option<&str>) -> PluginSchema {
    let mode = string()
        .def(json!("local"))
        .with(|v| v.one_of = Some(strings(&["local", "redis"])));
    plugin(
        record(vec![("mode", mode), ("host", string())]).checks(vec![EntityCheck::Conditional {
            if_field: "mode".to_string(),
            if_match: Box::new(string().with(|v| v.one_of = Some(strings(&["redis"])))),
            then_field: "host".to_string(),
            then_match: Box::new(then_match),
            then_err: then_err.map(str::to_string),
        }]),
        Vec::new(),
    )
}

#[test]
fn conditional_required() {
    let s = conditional(string().req(), Some("ignored for required: %s"));
    let msg = "failed conditional validation given value of field 'mode'";
    cases(
        &s,
        vec![
            (json!({}), vec![]),
            (json!({"mode": "local"}), vec![]),
            (json!({"mode": "redis", "host": "h"}), vec![]),
            (
                json!({"mode": "redis"}),
                vec![
                    ("config.@entity".to_string(), msg.to_string()),
                    (
                        "config.host".to_string(),
                        "required field missing".to_string(),
                    ),
                ],
            ),
            // Runs with invalid fields; "other" fails the if_match, so only the field error.
            (
                json!({"mode": "other"}),
                vec![(
                    "config.mode".to_string(),
                    "expected one of: local, redis".to_string(),
                )],
            ),
        ],
    );
}

#[test]
fn conditional_then_match() {
    let s = conditional(
        string().with(|v| v.len_min = Some(5)),
        Some("host too short for %s"),
    );
    cases(
        &s,
        vec![
            (json!({"mode": "redis", "host": "long-host"}), vec![]),
            // Not required by the then_match: null passes.
            (json!({"mode": "redis"}), vec![]),
            (
                json!({"mode": "redis", "host": "h"}),
                vec![
                    (
                        "config.@entity".to_string(),
                        "host too short for mode".to_string(),
                    ),
                    (
                        "config.host".to_string(),
                        "length must be at least 5".to_string(),
                    ),
                ],
            ),
        ],
    );
    let plain = conditional(string().with(|v| v.eq = Some(json!("x"))), None);
    assert_eq!(
        errors(&plain, json!({"mode": "redis", "host": "y"})),
        vec![
            (
                "config.@entity".to_string(),
                "failed conditional validation given value of field 'mode'".to_string()
            ),
            ("config.host".to_string(), "value must be x".to_string()),
        ]
    );
}

#[test]
fn conditional_on_a_nested_path() {
    let redis = record(vec![("mode", string())]).optional();
    let s = plugin(
        record(vec![("redis", redis), ("host", string())]).checks(vec![EntityCheck::Conditional {
            if_field: "redis.mode".to_string(),
            if_match: Box::new(string().with(|v| v.eq = Some(json!("on")))),
            then_field: "host".to_string(),
            then_match: Box::new(string().req()),
            then_err: None,
        }]),
        Vec::new(),
    );
    assert_eq!(
        errors(&s, json!({"redis": {"mode": "on"}})),
        vec![
            (
                "config.@entity".to_string(),
                "failed conditional validation given value of field 'redis.mode'".to_string()
            ),
            (
                "config.host".to_string(),
                "required field missing".to_string()
            ),
        ]
    );
    // The if_field is required for the check: absent (through a null record) it is reported.
    assert_eq!(
        errors(&s, json!({"redis": null, "host": "h"})),
        vec![(
            "config.redis.mode".to_string(),
            "field required for entity check".to_string()
        )]
    );
}

fn conditional_at_least_one_of(then_err: Option<&str>) -> PluginSchema {
    plugin(
        record(vec![
            ("mode", string()),
            ("x", string()),
            ("y", string()),
            ("z", string()),
        ])
        .checks(vec![EntityCheck::ConditionalAtLeastOneOf {
            if_field: "mode".to_string(),
            if_match: Box::new(string().with(|v| v.one_of = Some(strings(&["a"])))),
            then_at_least_one_of: names(&["x", "y"]),
            then_err: then_err.map(str::to_string),
            else_match: Some(Box::new(
                string().with(|v| v.one_of = Some(strings(&["b"]))),
            )),
            else_then_at_least_one_of: Some(names(&["z"])),
            else_then_err: None,
        }]),
        Vec::new(),
    )
}

#[test]
fn conditional_at_least_one_of_checks() {
    let s = conditional_at_least_one_of(None);
    cases(
        &s,
        vec![
            (json!({"mode": "a", "y": "v"}), vec![]),
            (
                json!({"mode": "a"}),
                entity("at least one of these fields must be non-empty: 'x', 'y'"),
            ),
            (json!({"mode": "b", "z": "v"}), vec![]),
            (
                json!({"mode": "b", "x": "v"}),
                entity("at least one of these fields must be non-empty: 'z'"),
            ),
            (json!({"mode": "c"}), vec![]),
            // An unset optional `if_field` is null, and null passes any `if_match` that does not
            // make it required: Kong then demands the `then` fields.
            (
                json!({}),
                entity("at least one of these fields must be non-empty: 'x', 'y'"),
            ),
        ],
    );
    let custom = conditional_at_least_one_of(Some("set one of %s"));
    assert_eq!(
        errors(&custom, json!({"mode": "a"})),
        entity("set one of 'x', 'y'")
    );
}

#[test]
fn a_custom_entity_check_without_a_function_is_not_run() {
    // The pure core runs no Lua; with no function id (or no runner installed) nothing runs.
    let s = abc(vec![EntityCheck::CustomEntityCheck {
        field_sources: names(&["a"]),
        custom_fn: None,
        run_with_missing: false,
        run_with_invalid: false,
    }]);
    assert_eq!(errors(&s, json!({})), vec![]);
}

#[test]
fn checks_in_nested_records_and_elements() {
    let inner = record(vec![("p", string()), ("q", string())])
        .checks(vec![EntityCheck::AtLeastOneOf(names(&["p", "q"]))]);
    let s = schema(vec![("redis", inner.clone()), ("list", array(inner))]);
    assert_eq!(
        errors(&s, json!({"redis": {"p": "v"}, "list": [{"p": "v"}, {}]})),
        vec![(
            "config.list.2.@entity".to_string(),
            "at least one of these fields must be non-empty: 'p', 'q'".to_string()
        )]
    );
    assert_eq!(
        errors(&s, json!({})),
        vec![(
            "config.redis.@entity".to_string(),
            "at least one of these fields must be non-empty: 'p', 'q'".to_string()
        )]
    );
}

#[test]
fn top_level_checks_see_dotted_config_paths() {
    let s = plugin(
        record(vec![("a", string()), ("b", string())]),
        vec![EntityCheck::AtLeastOneOf(names(&["config.a", "config.b"]))],
    );
    assert_eq!(errors(&s, json!({"a": "x"})), vec![]);
    assert_eq!(
        errors(&s, json!({})),
        vec![(
            "@entity".to_string(),
            "at least one of these fields must be non-empty: 'config.a', 'config.b'".to_string()
        )]
    );
    // Only undotted names match Kong's error table, so an invalid `config.a` does not stop a
    // check that skips invalid fields.
    let m = plugin(
        record(vec![("a", string()), ("b", string())]),
        vec![EntityCheck::MutuallyRequired(names(&[
            "config.a", "config.b",
        ]))],
    );
    assert_eq!(
        errors(&m, json!({"a": 1})),
        vec![
            (
                "@entity".to_string(),
                "all or none of these fields must be set: 'config.a', 'config.b'".to_string()
            ),
            ("config.a".to_string(), "expected a string".to_string()),
        ]
    );
}

#[test]
fn missing_required_field_for_check() {
    // `only_one_of` needs its fields present; a field inside a null record is absent.
    let s = plugin(
        record(vec![
            ("r", record(vec![("a", string())]).optional()),
            ("b", string()),
        ])
        .checks(vec![EntityCheck::OnlyOneOf(names(&["r.a", "b"]))]),
        Vec::new(),
    );
    assert_eq!(
        errors(&s, json!({"b": "x"})),
        vec![(
            "config.r.a".to_string(),
            "field required for entity check".to_string()
        )]
    );
    assert_eq!(errors(&s, json!({"r": {"a": "y"}})), vec![]);
}

#[test]
fn vault_references_skip_checks() {
    let mut a = string();
    a.referenceable = true;
    let s = plugin(
        record(vec![("a", a), ("b", string())])
            .checks(vec![EntityCheck::MutuallyExclusive(names(&["a", "b"]))]),
        Vec::new(),
    );
    assert_eq!(
        errors(&s, json!({"a": "{vault://env/a}", "b": "x"})),
        vec![]
    );
    assert_eq!(
        errors(&s, json!({"a": "plain", "b": "x"})),
        entity("only one or none of these fields must be set: 'a', 'b'")
    );
}

#[test]
fn several_entity_errors_keep_check_order() {
    let s = abc(vec![
        EntityCheck::MutuallyRequired(names(&["a", "b"])),
        EntityCheck::AtLeastOneOf(names(&["b", "c"])),
    ]);
    assert_eq!(
        errors(&s, json!({"a": "x"})),
        vec![
            (
                "config.@entity".to_string(),
                "all or none of these fields must be set: 'a', 'b'".to_string()
            ),
            (
                "config.@entity".to_string(),
                "at least one of these fields must be non-empty: 'b', 'c'".to_string()
            ),
        ]
    );
}

#[test]
fn conditional_applies_when_if_field_is_null() {
    // Kong validates a null `if_field` against `if_match`; null passes unless required, so the
    // `then_match` applies.
    let s = plugin(
        record(vec![("mode", string()), ("host", string())]).checks(vec![
            EntityCheck::Conditional {
                if_field: "mode".to_string(),
                if_match: Box::new(string().with(|v| v.one_of = Some(strings(&["redis"])))),
                then_field: "host".to_string(),
                then_match: Box::new(string().req()),
                then_err: None,
            },
        ]),
        Vec::new(),
    );
    assert_eq!(
        errors(&s, json!({})),
        vec![
            (
                "config.@entity".to_string(),
                "failed conditional validation given value of field 'mode'".to_string()
            ),
            (
                "config.host".to_string(),
                "required field missing".to_string()
            ),
        ]
    );
    assert_eq!(errors(&s, json!({"mode": "local"})), vec![]);
}
