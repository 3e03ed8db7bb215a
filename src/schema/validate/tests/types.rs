//! Type checks, `null` handling, required fields, unknown fields and the aggregate types.

use serde_json::json;

use super::*;

#[test]
fn scalar_types() {
    table(vec![
        (string(), json!("a"), None),
        (string(), json!(1), Some("expected a string")),
        (string(), json!(true), Some("expected a string")),
        (string(), json!(["a"]), Some("expected a string")),
        (string(), json!(""), Some("length must be at least 1")),
        (string().with(|v| v.len_min = Some(0)), json!(""), None),
        (integer(), json!(1), None),
        (integer(), json!(1.0), None),
        (integer(), json!(-7), None),
        (integer(), json!(1e300), None),
        (integer(), json!(1.5), Some("expected an integer")),
        (integer(), json!("1"), Some("expected an integer")),
        (number(), json!(1.5), None),
        (number(), json!(3), None),
        (number(), json!("1.5"), Some("expected a number")),
        (boolean(), json!(false), None),
        (boolean(), json!("true"), Some("expected a boolean")),
        (boolean(), json!(0), Some("expected a boolean")),
        (
            Field::new(FieldType::Function),
            json!("f"),
            Some("expected a function"),
        ),
        (
            Field::new(FieldType::Json),
            json!({"any": ["thing", 1]}),
            None,
        ),
        (Field::new(FieldType::Json), json!("text"), None),
        (Field::new(FieldType::Any), json!(["x"]), None),
    ]);
}

#[test]
fn null_and_required() {
    table(vec![
        (string(), json!(null), None),
        (string().req(), json!(null), Some("required field missing")),
        (
            integer().req().def(json!(5)),
            json!(null),
            Some("required field missing"),
        ),
        // A required field's null is reported as missing even when `ne = null` says otherwise.
        (
            string().req().with(|v| v.ne = Some(json!(null))),
            json!(null),
            Some("required field missing"),
        ),
        (
            string().with(|v| v.ne = Some(json!(null))),
            json!(null),
            Some("value must not be null"),
        ),
        (
            string().with(|v| v.ne = Some(json!(null))).err("give one"),
            json!(null),
            Some("give one"),
        ),
        (
            string().with(|v| v.eq = Some(json!("a"))),
            json!(null),
            Some("value must be a"),
        ),
        // `err` does not replace the message of a non-null `eq` on null.
        (
            string().with(|v| v.eq = Some(json!("a"))).err("custom"),
            json!(null),
            Some("value must be a"),
        ),
    ]);

    let s = schema(vec![("a", string().req()), ("b", string())]);
    assert_eq!(
        errors(&s, json!({})),
        vec![("config.a".to_string(), "required field missing".to_string())]
    );
    assert_eq!(errors(&s, json!({"a": "x"})), vec![]);
}

#[test]
fn unknown_fields() {
    let s = schema(vec![("a", string()), ("r", record(vec![("b", integer())]))]);
    assert_eq!(
        errors(&s, json!({"zz": 1, "r": {"b": 1, "c": 2}})),
        vec![
            ("config.r.c".to_string(), "unknown field".to_string()),
            ("config.zz".to_string(), "unknown field".to_string()),
        ]
    );
}

#[test]
fn arrays() {
    let a = array(string());
    table(vec![
        (a.clone(), json!(["a", "b"]), None),
        (a.clone(), json!([]), None),
        // An empty object is an empty Lua table, hence a valid (empty) array.
        (a.clone(), json!({}), None),
        (a.clone(), json!("a"), Some("expected an array")),
        (a.clone(), json!({"a": 1}), Some("expected an array")),
        (a.clone(), json!(3), Some("expected an array")),
    ]);
    let s = schema(vec![("x", a)]);
    assert_eq!(
        errors(&s, json!({"x": ["a", 1, null, ""]})),
        vec![
            ("config.x.2".to_string(), "expected a string".to_string()),
            (
                "config.x.3".to_string(),
                "required field missing".to_string()
            ),
            (
                "config.x.4".to_string(),
                "length must be at least 1".to_string()
            ),
        ]
    );
    // Element indexes sort numerically.
    let items: Vec<serde_json::Value> = (0..11)
        .map(|i| {
            if i == 1 || i == 9 {
                json!(1)
            } else {
                json!("a")
            }
        })
        .collect();
    assert_eq!(
        errors(&s, json!({ "x": items })),
        vec![
            ("config.x.2".to_string(), "expected a string".to_string()),
            ("config.x.10".to_string(), "expected a string".to_string()),
        ]
    );
    assert_eq!(filled(&s, Some(json!({"x": {}})))["x"], json!([]));
}

#[test]
fn sets() {
    let st = set(string());
    table(vec![
        (st.clone(), json!(["a"]), None),
        (st.clone(), json!("a"), Some("expected a set")),
        (st.clone(), json!({"a": true}), Some("expected a set")),
    ]);
    let s = schema(vec![("x", st)]);
    assert_eq!(
        errors(&s, json!({"x": ["a", 2]})),
        vec![("config.x.2".to_string(), "expected a string".to_string())]
    );
    // De-duplicated on write, first occurrence kept, before validation.
    assert_eq!(
        filled(&s, Some(json!({"x": ["b", "a", "b", "a"]})))["x"],
        json!(["b", "a"])
    );
    let n = schema(vec![("x", set(number()))]);
    assert_eq!(
        filled(&n, Some(json!({"x": [1, 1.0, 2]})))["x"],
        json!([1, 2])
    );
}

#[test]
fn maps() {
    let m = map(string(), integer());
    table(vec![
        (m.clone(), json!({"a": 1, "b": 2}), None),
        (m.clone(), json!({}), None),
        (m.clone(), json!([]), None),
        (m.clone(), json!("a"), Some("expected a map")),
        (m.clone(), json!(1), Some("expected a map")),
        // Kong reports the first bad entry on the map itself, without its key.
        (
            m.clone(),
            json!({"a": 1, "b": "x"}),
            Some("expected an integer"),
        ),
        (m.clone(), json!({"": 1}), Some("length must be at least 1")),
        (
            m.clone(),
            json!({"a": null}),
            Some("required field missing"),
        ),
        // An array's keys are integers.
        (m.clone(), json!([1]), Some("expected a string")),
        (
            map(
                string().with(|v| v.one_of = Some(strings(&["k"]))),
                string(),
            ),
            json!({"z": "v"}),
            Some("expected one of: k"),
        ),
    ]);
    // A record value's errors nest under the map's path.
    let s = schema(vec![(
        "x",
        map(string(), record(vec![("n", integer().req())])),
    )]);
    assert_eq!(
        errors(&s, json!({"x": {"k": {}}})),
        vec![(
            "config.x.n".to_string(),
            "required field missing".to_string()
        )]
    );
}

#[test]
fn records() {
    let r = record(vec![("a", integer())]);
    table(vec![
        (r.clone(), json!({"a": 1}), None),
        (r.clone(), json!({}), None),
        (r.clone(), json!("x"), Some("expected a record")),
        (r.clone(), json!(1), Some("expected a record")),
    ]);
    let s = schema(vec![(
        "r",
        record(vec![("inner", record(vec![("n", integer().req())]))]),
    )]);
    assert_eq!(
        errors(&s, json!({"r": {"inner": {"n": "x"}}})),
        vec![(
            "config.r.inner.n".to_string(),
            "expected an integer".to_string()
        )]
    );
    // Nested records are required: an explicit null is reported.
    assert_eq!(
        errors(&s, json!({"r": null})),
        vec![("config.r".to_string(), "required field missing".to_string())]
    );
    // Unless declared optional.
    let o = schema(vec![("r", record(vec![("n", integer())]).optional())]);
    assert_eq!(errors(&o, json!({"r": null})), vec![]);
    // A non-empty array handed to a record: its indexes are unknown fields.
    assert_eq!(
        errors(&o, json!({"r": [1]})),
        vec![("config.r.1".to_string(), "unknown field".to_string())]
    );
}

#[test]
fn foreign_keys() {
    let f = Field::new(FieldType::Foreign);
    let s = schema(vec![("x", f)]);
    assert_eq!(
        errors(
            &s,
            json!({"x": {"id": "3a6f5c2e-1b2c-4d5e-8f90-0123456789ab"}})
        ),
        vec![]
    );
    assert_eq!(errors(&s, json!({"x": null})), vec![]);
    let cases = [
        (json!({}), "missing primary key"),
        (
            json!("3a6f5c2e-1b2c-4d5e-8f90-0123456789ab"),
            "missing primary key",
        ),
        (json!({"id": "nope"}), "expected a valid UUID"),
        (json!({"id": 1}), "expected a string"),
        (json!({"id": null}), "required field missing"),
    ];
    for (value, want) in cases {
        assert_eq!(
            errors(&s, json!({ "x": value })),
            vec![("config.x.id".to_string(), want.to_string())],
            "{value}"
        );
    }
}

#[test]
fn config_itself() {
    let s = schema(vec![("a", string())]);
    assert_eq!(
        process_config(&s, Some(&json!(null))).map_err(|e| pairs(&e)),
        Err(vec![(
            "config".to_string(),
            "required field missing".to_string()
        )])
    );
    assert_eq!(
        process_config(&s, Some(&json!("x"))).map_err(|e| pairs(&e)),
        Err(vec![(
            "config".to_string(),
            "expected a record".to_string()
        )])
    );
    let no_config = PluginSchema {
        name: "x".to_string(),
        fields: Vec::new(),
        entity_checks: Vec::new(),
        has_check_function: false,
        custom_source: None,
    };
    // Kong's `plugins.config` is abstract and not required: no config is valid, a value is not.
    assert_eq!(process_config(&no_config, None), Ok(Value::Null));
    assert_eq!(
        process_config(&no_config, Some(&json!(null))),
        Ok(Value::Null)
    );
    assert_eq!(
        process_config(&no_config, Some(&json!({}))).map_err(|e| pairs(&e)),
        Err(vec![(
            "config".to_string(),
            "error in schema definition: abstract field was not specialized".to_string()
        )])
    );
}

#[test]
fn vault_references_skip_validators() {
    let mut f = string().with(|v| v.one_of = Some(strings(&["a"])));
    table(vec![(
        f.clone(),
        json!("{vault://env/x}"),
        Some("expected one of: a"),
    )]);
    f.referenceable = true;
    table(vec![
        (f.clone(), json!("{vault://env/x}"), None),
        (f.clone(), json!("b"), Some("expected one of: a")),
        // Still a string first.
        (f, json!(1), Some("expected a string")),
    ]);
}
