//! Every validator attribute that does not need the pattern engine or the typedef builtins,
//! their messages, their order, and `err`.

use serde_json::json;

use super::*;

#[test]
fn eq_and_ne() {
    table(vec![
        (string().with(|v| v.eq = Some(json!("a"))), json!("a"), None),
        (
            string().with(|v| v.eq = Some(json!("a"))),
            json!("b"),
            Some("value must be a"),
        ),
        (integer().with(|v| v.eq = Some(json!(5))), json!(5.0), None),
        (
            integer().with(|v| v.eq = Some(json!(5))),
            json!(6),
            Some("value must be 5"),
        ),
        (
            number().with(|v| v.eq = Some(json!(0.5))),
            json!(1),
            Some("value must be 0.5"),
        ),
        (
            boolean().with(|v| v.eq = Some(json!(true))),
            json!(false),
            Some("value must be true"),
        ),
        (
            string().with(|v| v.eq = Some(json!(null))),
            json!("x"),
            Some("value must be null"),
        ),
        (
            string().with(|v| v.eq = Some(json!(null))),
            json!(null),
            None,
        ),
        (
            string().with(|v| v.eq = Some(json!(null))).err("not here"),
            json!("x"),
            Some("not here"),
        ),
        // `eq = null` is checked before the type.
        (
            string().with(|v| v.eq = Some(json!(null))),
            json!(1),
            Some("value must be null"),
        ),
        (string().with(|v| v.ne = Some(json!("a"))), json!("b"), None),
        (
            string().with(|v| v.ne = Some(json!("a"))),
            json!("a"),
            Some("value must not be a"),
        ),
        (
            integer().with(|v| v.ne = Some(json!(0))),
            json!(0),
            Some("value must not be 0"),
        ),
        (
            string().with(|v| v.ne = Some(json!(null))),
            json!("x"),
            None,
        ),
    ]);
}

#[test]
fn one_of_and_not_one_of() {
    table(vec![
        (
            string().with(|v| v.one_of = Some(strings(&["a", "b"]))),
            json!("a"),
            None,
        ),
        (
            string().with(|v| v.one_of = Some(strings(&["a", "b"]))),
            json!("c"),
            Some("expected one of: a, b"),
        ),
        (
            integer().with(|v| v.one_of = Some(vec![json!(-1), json!(1)])),
            json!(1.0),
            None,
        ),
        (
            integer().with(|v| v.one_of = Some(vec![json!(-1), json!(1)])),
            json!(0),
            Some("expected one of: -1, 1"),
        ),
        (
            number().with(|v| v.one_of = Some(vec![json!(1), json!(2.5)])),
            json!(3),
            Some("expected one of: 1, 2.5"),
        ),
        // Lua never equates a string and a number.
        (
            string().with(|v| v.one_of = Some(vec![json!(1)])),
            json!("1"),
            Some("expected one of: 1"),
        ),
        (
            string().with(|v| v.not_one_of = Some(strings(&["a", "b"]))),
            json!("c"),
            None,
        ),
        (
            string().with(|v| v.not_one_of = Some(strings(&["a", "b"]))),
            json!("b"),
            Some("must not be one of: a, b"),
        ),
    ]);
}

#[test]
fn numeric_bounds() {
    let port = integer().with(|v| v.between = Some((0.0, 65535.0)));
    table(vec![
        (port.clone(), json!(0), None),
        (port.clone(), json!(65535), None),
        (
            port.clone(),
            json!(65536),
            Some("value should be between 0 and 65535"),
        ),
        (
            port.clone(),
            json!(-1),
            Some("value should be between 0 and 65535"),
        ),
        // `%d` truncates fractional bounds.
        (
            number().with(|v| v.between = Some((0.5, 1.5))),
            json!(2),
            Some("value should be between 0 and 1"),
        ),
        (
            number().with(|v| v.between = Some((0.001, 1e6))),
            json!(0),
            Some("value should be between 0 and 1000000"),
        ),
        (integer().with(|v| v.gt = Some(0.0)), json!(1), None),
        (
            integer().with(|v| v.gt = Some(0.0)),
            json!(0),
            Some("value must be greater than 0"),
        ),
        (
            number().with(|v| v.gt = Some(0.5)),
            json!(0.5),
            Some("value must be greater than 0.5"),
        ),
        (
            number().with(|v| v.gt = Some(1e15)),
            json!(1),
            Some("value must be greater than 1e+15"),
        ),
        (
            integer().with(|v| v.timestamp = true),
            json!(1700000000),
            None,
        ),
        (
            integer().with(|v| v.timestamp = true),
            json!(0),
            Some("expected a valid timestamp"),
        ),
        (
            number().with(|v| v.timestamp = true),
            json!(-1.5),
            Some("expected a valid timestamp"),
        ),
    ]);
}

#[test]
fn lengths() {
    table(vec![
        (string().with(|v| v.len_eq = Some(3)), json!("abc"), None),
        (
            string().with(|v| v.len_eq = Some(2)),
            json!("abc"),
            Some("length must be 2"),
        ),
        (
            string().with(|v| v.len_min = Some(3)),
            json!("ab"),
            Some("length must be at least 3"),
        ),
        (
            string().with(|v| v.len_max = Some(2)),
            json!("abc"),
            Some("length must be at most 2"),
        ),
        // Byte length: "é" is two bytes.
        (
            string().with(|v| v.len_max = Some(1)),
            json!("é"),
            Some("length must be at most 1"),
        ),
        (
            array(integer()).with(|v| v.len_min = Some(1)),
            json!([]),
            Some("length must be at least 1"),
        ),
        (
            array(integer()).with(|v| v.len_max = Some(1)),
            json!([1, 2]),
            Some("length must be at most 1"),
        ),
        (
            set(integer()).with(|v| v.len_eq = Some(2)),
            json!([1, 2]),
            None,
        ),
        // Counted after de-duplication.
        (
            set(integer()).with(|v| v.len_eq = Some(2)),
            json!([1, 1]),
            Some("length must be 2"),
        ),
        (
            map(string(), integer()).with(|v| v.len_max = Some(1)),
            json!({"a": 1, "b": 2}),
            Some("length must be at most 1"),
        ),
        (
            map(string(), integer()).with(|v| v.len_eq = Some(2)),
            json!({"a": 1, "b": 2}),
            None,
        ),
        // No implied minimum on arrays.
        (array(integer()), json!([]), None),
    ]);
}

#[test]
fn string_shapes() {
    let uuid = "3a6f5c2e-1b2c-4d5e-8f90-0123456789ab";
    table(vec![
        (
            string().with(|v| v.starts_with = Some("/".into())),
            json!("/a"),
            None,
        ),
        (
            string().with(|v| v.starts_with = Some("/".into())),
            json!("a/"),
            Some("should start with: /"),
        ),
        (string().with(|v| v.uuid = true), json!(uuid), None),
        (
            string().with(|v| v.uuid = true),
            json!(uuid.to_uppercase()),
            None,
        ),
        (
            string().with(|v| v.uuid = true),
            json!("not-a-uuid"),
            Some("expected a valid UUID"),
        ),
        (
            string().with(|v| v.is_regex = true),
            json!("^/api/(v\\d+)$"),
            None,
        ),
        (
            string().with(|v| v.is_regex = true),
            json!("(unclosed"),
            Some("not a valid regex: (unclosed"),
        ),
        (
            string().with(|v| v.is_regex = true),
            json!("*a"),
            Some("not a valid regex: *a"),
        ),
        // Compiled with PCRE2, so what only the engine knows is refused too.
        (
            string().with(|v| v.is_regex = true),
            json!("(?<=a+)b"),
            Some("not a valid regex: (?<=a+)b"),
        ),
        (
            string().with(|v| v.is_regex = true),
            json!("(?P<n>a)(?P=m)"),
            Some("not a valid regex: (?P<n>a)(?P=m)"),
        ),
    ]);
}

#[test]
fn array_validators() {
    let subsets = vec![names(&["a", "b"]), names(&["c"])];
    table(vec![
        (
            array(string()).with(|v| v.contains = Some(json!("x"))),
            json!(["y", "x"]),
            None,
        ),
        (
            array(string()).with(|v| v.contains = Some(json!("x"))),
            json!(["y"]),
            Some("expected to contain: x"),
        ),
        (
            array(integer()).with(|v| v.contains = Some(json!(3))),
            json!([1]),
            Some("expected to contain: 3"),
        ),
        (
            set(string()).with(|v| v.mutually_exclusive_subsets = Some(subsets.clone())),
            json!(["a", "b", "z"]),
            None,
        ),
        (
            set(string()).with(|v| v.mutually_exclusive_subsets = Some(subsets.clone())),
            json!(["c", "a"]),
            Some("these sets are mutually exclusive: ('c'), ('a', 'b')"),
        ),
    ]);
}

#[test]
fn err_replaces_validator_messages_only() {
    table(vec![
        (
            string()
                .with(|v| v.one_of = Some(strings(&["a"])))
                .err("pick a"),
            json!("b"),
            Some("pick a"),
        ),
        (
            integer()
                .with(|v| v.between = Some((1.0, 2.0)))
                .err("1 or 2"),
            json!(3),
            Some("1 or 2"),
        ),
        (string().err("custom"), json!(""), Some("custom")),
        (string().err("custom"), json!(1), Some("expected a string")),
        (
            string().req().err("custom"),
            json!(null),
            Some("required field missing"),
        ),
    ]);
    // Element errors are the element's own.
    let s = schema(vec![("x", array(integer()).err("custom"))]);
    assert_eq!(
        errors(&s, json!({"x": ["x"]})),
        vec![("config.x.1".to_string(), "expected an integer".to_string())]
    );
}

#[test]
fn first_failing_validator_in_kong_order_wins() {
    table(vec![
        // eq before one_of
        (
            string().with(|v| {
                v.eq = Some(json!("a"));
                v.one_of = Some(strings(&["b"]));
            }),
            json!("c"),
            Some("value must be a"),
        ),
        // not_one_of before one_of
        (
            string().with(|v| {
                v.not_one_of = Some(strings(&["c"]));
                v.one_of = Some(strings(&["b"]));
            }),
            json!("c"),
            Some("must not be one of: c"),
        ),
        // one_of before the implied len_min
        (
            string().with(|v| v.one_of = Some(strings(&["b"]))),
            json!(""),
            Some("expected one of: b"),
        ),
        // gt before between
        (
            integer().with(|v| {
                v.gt = Some(5.0);
                v.between = Some((10.0, 20.0));
            }),
            json!(1),
            Some("value must be greater than 5"),
        ),
        // uuid before len_*
        (
            string().with(|v| {
                v.uuid = true;
                v.len_max = Some(3);
            }),
            json!("abcd"),
            Some("expected a valid UUID"),
        ),
        // len_eq, then len_min, then len_max
        (
            string().with(|v| {
                v.len_eq = Some(5);
                v.len_min = Some(3);
            }),
            json!("ab"),
            Some("length must be 5"),
        ),
        // len_min before starts_with
        (
            string().with(|v| {
                v.len_min = Some(3);
                v.starts_with = Some("/".into());
            }),
            json!("ab"),
            Some("length must be at least 3"),
        ),
        // len before contains
        (
            array(string()).with(|v| {
                v.len_min = Some(2);
                v.contains = Some(json!("z"));
            }),
            json!(["a"]),
            Some("length must be at least 2"),
        ),
    ]);
    // Element errors come before the array's own validators.
    let s = schema(vec![("x", array(integer()).with(|v| v.len_min = Some(3)))]);
    assert_eq!(
        errors(&s, json!({"x": ["x"]})),
        vec![("config.x.1".to_string(), "expected an integer".to_string())]
    );
}
