//! Defaults filling with insert semantics.

use serde_json::json;

use super::*;
use crate::schema::validate::fill_config;

fn redis() -> Field {
    record(vec![
        ("host", string().def(json!("localhost"))),
        ("port", integer().def(json!(6379))),
        ("password", string()),
    ])
}

#[test]
fn every_declared_field_is_present() {
    let s = schema(vec![
        ("name", string().def(json!("n"))),
        ("count", integer()),
        ("flags", array(string())),
        ("on", boolean().def(json!(false))),
        ("redis", redis()),
    ]);
    let want = json!({
        "name": "n",
        "count": null,
        "flags": null,
        "on": false,
        "redis": {"host": "localhost", "port": 6379, "password": null},
    });
    assert_eq!(filled(&s, None), want);
    assert_eq!(filled(&s, Some(json!({}))), want);
    // Given values win; nested records are filled around them.
    assert_eq!(
        filled(&s, Some(json!({"count": 3, "redis": {"port": 1}}))),
        json!({
            "name": "n",
            "count": 3,
            "flags": null,
            "on": false,
            "redis": {"host": "localhost", "port": 1, "password": null},
        })
    );
}

#[test]
fn explicit_null_is_kept() {
    let s = schema(vec![
        ("name", string().def(json!("n"))),
        ("redis", redis().optional()),
    ]);
    assert_eq!(
        filled(&s, Some(json!({"name": null, "redis": null}))),
        json!({"name": null, "redis": null})
    );
}

#[test]
fn records_deep_and_optional() {
    let s = schema(vec![
        (
            "outer",
            record(vec![(
                "inner",
                record(vec![("v", integer().def(json!(1)))]),
            )]),
        ),
        (
            "opt",
            record(vec![("v", integer().def(json!(1)))]).optional(),
        ),
        // An optional record with a default takes it as is (Kong does not fill it further)...
        (
            "optdef",
            record(vec![("v", integer().def(json!(1))), ("w", integer())])
                .optional()
                .def(json!({"w": 2})),
        ),
        // ...while a required record with a default is filled around it.
        (
            "reqdef",
            record(vec![("v", integer().def(json!(1))), ("w", integer())]).def(json!({"w": 2})),
        ),
    ]);
    assert_eq!(
        filled(&s, Some(json!({}))),
        json!({
            "outer": {"inner": {"v": 1}},
            "opt": null,
            "optdef": {"w": 2},
            "reqdef": {"v": 1, "w": 2},
        })
    );
    assert_eq!(filled(&s, Some(json!({"opt": {}})))["opt"], json!({"v": 1}));
    // An absent required record (here `config` itself) is expanded from `{}` and then processed
    // once more (Kong's `handle_missing_field` + `process_auto_fields`), so the optional
    // record's default gets filled on that second pass.
    assert_eq!(filled(&s, None)["optdef"], json!({"v": 1, "w": 2}));
}

#[test]
fn defaults_inside_elements_and_map_values() {
    let item = record(vec![
        ("name", string().req()),
        ("weight", integer().def(json!(1))),
        // Records inside elements are not made required: absent sub-records stay null.
        ("meta", record(vec![("x", integer().def(json!(0)))])),
    ]);
    let s = schema(vec![
        ("list", array(item.clone())),
        ("uniq", set(item.clone())),
        ("byname", map(string(), item)),
    ]);
    assert_eq!(
        filled(
            &s,
            Some(json!({
                "list": [{"name": "a"}, {"name": "b", "weight": 5, "meta": {}}],
                "uniq": [{"name": "c"}],
                "byname": {"k": {"name": "d"}},
            }))
        ),
        json!({
            "list": [
                {"name": "a", "weight": 1, "meta": null},
                {"name": "b", "weight": 5, "meta": {"x": 0}},
            ],
            "uniq": [{"name": "c", "weight": 1, "meta": null}],
            "byname": {"k": {"name": "d", "weight": 1, "meta": null}},
        })
    );
    // Element records are validated after filling.
    assert_eq!(
        errors(&s, json!({"list": [{"weight": 2}]})),
        vec![(
            "config.list.1.name".to_string(),
            "required field missing".to_string()
        )]
    );
}

#[test]
fn defaults_of_aggregates_are_copied_as_declared() {
    let s = schema(vec![
        ("tags", set(string()).def(json!(["a", "a"]))),
        (
            "list",
            array(record(vec![("w", integer().def(json!(1)))])).def(json!([{}])),
        ),
        ("m", map(string(), integer()).def(json!({"k": 1}))),
    ]);
    // Inside a given record, a default is inserted as declared.
    assert_eq!(
        fill_config(&s, Some(&json!({}))),
        json!({"tags": ["a", "a"], "list": [{}], "m": {"k": 1}})
    );
    // Inside an absent required record, Kong's second pass processes the defaults too.
    assert_eq!(
        fill_config(&s, None),
        json!({"tags": ["a"], "list": [{"w": 1}], "m": {"k": 1}})
    );
}

#[test]
fn required_without_default_stays_absent_and_fails() {
    let s = schema(vec![("must", string().req()), ("may", string())]);
    assert_eq!(fill_config(&s, None), json!({"may": null}));
    assert_eq!(
        errors(&s, json!({})),
        vec![(
            "config.must".to_string(),
            "required field missing".to_string()
        )]
    );
}

#[test]
fn fill_config_keeps_undeclared_and_invalid_values() {
    let s = schema(vec![("a", integer().def(json!(1))), ("r", redis())]);
    assert_eq!(
        fill_config(&s, Some(&json!({"zz": true, "r": "oops"}))),
        json!({"zz": true, "a": 1, "r": "oops"})
    );
    assert_eq!(fill_config(&s, Some(&json!(null))), json!(null));
}

#[test]
fn auto_fields_are_not_generated() {
    let mut id = string().req().with(|v| v.uuid = true);
    id.auto = true;
    let mut flag = boolean().def(json!(true));
    flag.auto = true;
    let s = schema(vec![("id", id), ("flag", flag)]);
    assert_eq!(filled(&s, None), json!({"flag": true}));
}

#[test]
fn integral_numbers_are_stored_as_integers() {
    let s = schema(vec![
        ("i", integer()),
        ("n", number()),
        ("f", number()),
        ("d", integer().def(json!(2.0))),
        ("s", string()),
    ]);
    let got = filled(&s, Some(json!({"i": 1.0, "n": 3.0, "f": 0.5})));
    assert_eq!(got, json!({"i": 1, "n": 3, "f": 0.5, "d": 2, "s": null}));
    assert_eq!(serde_json::to_string(&got["i"]).unwrap(), "1");
}
