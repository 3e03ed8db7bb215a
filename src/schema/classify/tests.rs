//! Table-driven tests of schema-change classification: every cell of Kong's table (with
//! schemas built in Rust and evaluated from Lua), every extension rule, paths, top-level fields,
//! entity checks, ordering and JSON names.

use std::path::Path;

use serde_json::{json, Value};

use super::*;
use crate::lua::evaluate_schema;
use crate::schema::model::{
    Builtin, EntityCheck, Field, FieldType, MatchAny, PatternErr, PluginSchema, Validators,
};

use ChangeKind::*;

// ----- builders -----

/// Builder shorthands over [`Field`].
trait Build: Sized {
    fn req(self) -> Self;
    fn opt(self) -> Self;
    fn def(self, v: Value) -> Self;
    fn with(self, f: impl FnOnce(&mut Validators)) -> Self;
    fn tweak(self, f: impl FnOnce(&mut Field)) -> Self;
}

impl Build for Field {
    fn req(mut self) -> Self {
        self.required = Some(true);
        self
    }
    fn opt(mut self) -> Self {
        self.required = Some(false);
        self
    }
    fn def(mut self, v: Value) -> Self {
        self.default = Some(v);
        self
    }
    fn with(mut self, f: impl FnOnce(&mut Validators)) -> Self {
        f(&mut self.validators);
        self
    }
    fn tweak(mut self, f: impl FnOnce(&mut Field)) -> Self {
        f(&mut self);
        self
    }
}

fn string() -> Field {
    Field::new(FieldType::String)
}
fn integer() -> Field {
    Field::new(FieldType::Integer)
}
fn array(elements: Field) -> Field {
    Field::new(FieldType::Array).tweak(|f| f.elements = Some(Box::new(elements)))
}
fn set(elements: Field) -> Field {
    Field::new(FieldType::Set).tweak(|f| f.elements = Some(Box::new(elements)))
}
fn record(fields: Vec<(&str, Field)>) -> Field {
    Field::new(FieldType::Record).tweak(|f| {
        f.fields = fields
            .into_iter()
            .map(|(n, f)| (n.to_string(), f))
            .collect()
    })
}

/// A schema whose `config` record holds `fields`.
fn schema(fields: Vec<(&str, Field)>) -> PluginSchema {
    PluginSchema {
        name: "p".to_string(),
        fields: vec![("config".to_string(), record(fields))],
        entity_checks: Vec::new(),
        has_check_function: false,
        custom_source: None,
    }
}

/// A whole schema evaluated from Lua.
fn lua_schema(source: &str) -> PluginSchema {
    evaluate_schema(source).unwrap_or_else(|e| panic!("{e}\n{source}"))
}

/// A schema evaluated from Lua whose config record holds `fields` (Lua table entries).
fn lua(fields: &str) -> PluginSchema {
    lua_schema(&format!(
        "local typedefs = require \"kong.db.schema.typedefs\"\n\
         return {{ name = \"p\", fields = {{\n\
           {{ config = {{ type = \"record\", fields = {{ {fields} }} }} }},\n\
         }} }}"
    ))
}

/// A schema evaluated from Lua with extra top-level entries (`extra`, after the fields list)
/// and extra top-level fields (`top`, before `config`).
fn lua_top(top: &str, config: &str, extra: &str) -> PluginSchema {
    lua_schema(&format!(
        "local typedefs = require \"kong.db.schema.typedefs\"\n\
         return {{ name = \"p\", fields = {{\n\
           {top}\n\
           {{ config = {{ type = \"record\", fields = {{ {config} }} }} }},\n\
         }}, {extra} }}"
    ))
}

/// Expected changes: `field kind path` and, where given, the detail.
type Want = Vec<(&'static str, Option<&'static str>)>;

/// A named case over two built schemas.
type Case = (&'static str, PluginSchema, PluginSchema, Want);

/// A named case over two config field lists in Lua.
type LuaCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, Option<&'static str>)],
);

/// `field kind path` for each change, in order.
fn brief(changes: &[SchemaChange]) -> Vec<String> {
    changes
        .iter()
        .map(|c| format!("{} {} {}", c.field, c.change, c.update_path))
        .collect()
}

/// Asserts the changes and, where given, each change's detail.
fn expect(name: &str, old: &PluginSchema, new: &PluginSchema, want: &[(&str, Option<&str>)]) {
    let got = classify(old, new);
    let want_brief: Vec<&str> = want.iter().map(|(b, _)| *b).collect();
    assert_eq!(brief(&got), want_brief, "{name}: {got:#?}");
    for (change, (_, detail)) in got.iter().zip(want) {
        if let Some(detail) = detail {
            assert_eq!(
                change.detail.as_deref(),
                Some(*detail),
                "{name}: detail of {}",
                change.field
            );
        }
    }
    assert_sorted(&got);
}

fn assert_sorted(changes: &[SchemaChange]) {
    for pair in changes.windows(2) {
        let key = |c: &SchemaChange| (c.field.clone(), c.change);
        assert!(key(&pair[0]) < key(&pair[1]), "not sorted: {changes:#?}");
    }
}

// ----- Kong's table -----

/// One column of the table: the field's attributes and the expected paths.
struct Column {
    label: &'static str,
    required: bool,
    default: bool,
    added: UpdatePath,
    removed: UpdatePath,
    type_changed: UpdatePath,
}

const COLUMNS: [Column; 4] = [
    Column {
        label: "required, with default",
        required: true,
        default: true,
        added: UpdatePath::Short,
        removed: UpdatePath::Long,
        type_changed: UpdatePath::CpDpSync,
    },
    Column {
        label: "required, no default",
        required: true,
        default: false,
        added: UpdatePath::Long,
        removed: UpdatePath::CpDpSync,
        type_changed: UpdatePath::CpDpSync,
    },
    Column {
        label: "optional, with default",
        required: false,
        default: true,
        added: UpdatePath::Short,
        removed: UpdatePath::Long,
        type_changed: UpdatePath::CpDpSync,
    },
    Column {
        label: "optional, no default",
        required: false,
        default: false,
        added: UpdatePath::Short,
        removed: UpdatePath::Long,
        type_changed: UpdatePath::CpDpSync,
    },
];

/// The field of a column, built in Rust: an integer (or string) `x`.
fn column_field(col: &Column, ty: FieldType) -> Field {
    let mut f = Field::new(ty);
    f.required = Some(col.required);
    if col.default {
        f.default = Some(match ty {
            FieldType::String => json!("60"),
            _ => json!(60),
        });
    }
    f
}

/// The same field as Lua source.
fn column_lua(col: &Column, ty: &str) -> String {
    let default = match (col.default, ty) {
        (false, _) => String::new(),
        (true, "string") => ", default = \"60\"".to_string(),
        (true, _) => ", default = 60".to_string(),
    };
    format!(
        "{{ x = {{ type = \"{ty}\", required = {}{default} }} }}",
        col.required
    )
}

/// Asserts a single change on `config.x` with the column's attributes.
fn assert_cell(
    label: &str,
    col: &Column,
    got: &[SchemaChange],
    change: ChangeKind,
    path: UpdatePath,
) {
    assert_eq!(got.len(), 1, "{label} / {}: {got:#?}", col.label);
    let c = &got[0];
    assert_eq!(c.field, "config.x", "{label} / {}", col.label);
    assert_eq!(c.change, change, "{label} / {}", col.label);
    assert_eq!(
        c.required, col.required,
        "{label} / {}: required",
        col.label
    );
    assert_eq!(
        c.has_default, col.default,
        "{label} / {}: has_default",
        col.label
    );
    assert_eq!(c.update_path, path, "{label} / {}: path", col.label);
    assert_eq!(update_path(got), path, "{label} / {}", col.label);
}

#[test]
fn table_cells_with_rust_schemas() {
    let empty = schema(vec![]);
    for col in &COLUMNS {
        let with = schema(vec![("x", column_field(col, FieldType::Integer))]);
        assert_cell("added", col, &classify(&empty, &with), Added, col.added);
        assert_cell(
            "removed",
            col,
            &classify(&with, &empty),
            Removed,
            col.removed,
        );

        let as_string = schema(vec![("x", column_field(col, FieldType::String))]);
        let got = classify(&with, &as_string);
        assert_cell("type_changed", col, &got, TypeChanged, col.type_changed);
        assert_eq!(got[0].detail.as_deref(), Some("type integer → string"));
    }
}

#[test]
fn table_cells_with_lua_schemas() {
    let empty = lua("");
    for col in &COLUMNS {
        let with = lua(&column_lua(col, "integer"));
        assert_cell("added", col, &classify(&empty, &with), Added, col.added);
        assert_cell(
            "removed",
            col,
            &classify(&with, &empty),
            Removed,
            col.removed,
        );
        let as_string = lua(&column_lua(col, "string"));
        assert_cell(
            "type_changed",
            col,
            &classify(&with, &as_string),
            TypeChanged,
            col.type_changed,
        );
    }
}

#[test]
fn type_changed_uses_the_new_fields_attributes() {
    let old = schema(vec![("x", integer())]);
    let new = schema(vec![("x", string().req().def(json!("a")))]);
    let got = classify(&old, &new);
    assert_eq!(brief(&got), ["config.x type_changed cp_dp_sync"]);
    assert!(got[0].required && got[0].has_default);
}

#[test]
fn added_and_removed_details_describe_the_field() {
    let old = lua("");
    let new = lua("{ x = { type = \"integer\", required = true, default = 60 } }");
    expect(
        "added",
        &old,
        &new,
        &[(
            "config.x added short",
            Some("integer, required, default 60"),
        )],
    );
    expect(
        "removed",
        &new,
        &old,
        &[(
            "config.x removed long",
            Some("integer, required, default 60"),
        )],
    );
}

// ----- required, defaults -----

#[test]
fn required_and_default_changes() {
    let cases: &[LuaCase] = &[
        (
            "became required, no default",
            r#"{ x = { type = "string" } }"#,
            r#"{ x = { type = "string", required = true } }"#,
            &[("config.x became_required long", Some("optional → required"))],
        ),
        (
            "became required, with default",
            r#"{ x = { type = "string", default = "a" } }"#,
            r#"{ x = { type = "string", default = "a", required = true } }"#,
            &[("config.x became_required short", None)],
        ),
        (
            "became required and gained a default",
            r#"{ x = { type = "string" } }"#,
            r#"{ x = { type = "string", required = true, default = "a" } }"#,
            &[
                ("config.x became_required short", None),
                (
                    "config.x default_changed short",
                    Some(r#"default unset → "a""#),
                ),
            ],
        ),
        (
            "became optional",
            r#"{ x = { type = "string", required = true } }"#,
            r#"{ x = { type = "string" } }"#,
            &[(
                "config.x became_optional short",
                Some("required → optional"),
            )],
        ),
        (
            "default changed",
            r#"{ x = { type = "integer", default = 60 } }"#,
            r#"{ x = { type = "integer", default = 30 } }"#,
            &[("config.x default_changed short", Some("default 60 → 30"))],
        ),
        (
            "default removed from a required field",
            r#"{ x = { type = "integer", required = true, default = 60 } }"#,
            r#"{ x = { type = "integer", required = true } }"#,
            &[("config.x default_changed short", Some("default 60 → unset"))],
        ),
        (
            "set default reordered",
            r#"{ s = { type = "set", elements = { type = "string" }, default = { "a", "b" } } }"#,
            r#"{ s = { type = "set", elements = { type = "string" }, default = { "b", "a" } } }"#,
            &[],
        ),
        (
            "array default reordered",
            r#"{ s = { type = "array", elements = { type = "string" }, default = { "a", "b" } } }"#,
            r#"{ s = { type = "array", elements = { type = "string" }, default = { "b", "a" } } }"#,
            &[(
                "config.s default_changed short",
                Some(r#"default ["a", "b"] → ["b", "a"]"#),
            )],
        ),
        (
            "record default added",
            r#"{ r = { type = "record", fields = { { a = { type = "string" } } } } }"#,
            r#"{ r = { type = "record", default = { a = "x" }, fields = { { a = { type = "string" } } } } }"#,
            &[(
                "config.r default_changed short",
                Some(r#"default unset → {"a": "x"}"#),
            )],
        ),
        (
            "unset required on a record means required",
            r#"{ r = { type = "record", fields = { { a = { type = "string" } } } } }"#,
            r#"{ r = { type = "record", required = true, fields = { { a = { type = "string" } } } } }"#,
            &[],
        ),
        (
            "unset required on a string means optional",
            r#"{ x = { type = "string" } }"#,
            r#"{ x = { type = "string", required = false } }"#,
            &[],
        ),
        (
            "record made optional",
            r#"{ r = { type = "record", fields = { { a = { type = "string" } } } } }"#,
            r#"{ r = { type = "record", required = false, fields = { { a = { type = "string" } } } } }"#,
            &[("config.r became_optional short", None)],
        ),
    ];
    for (name, old, new, want) in cases {
        expect(name, &lua(old), &lua(new), want);
    }
}

#[test]
fn defaults_compare_numbers_by_value() {
    let old = schema(vec![("x", Field::new(FieldType::Number).def(json!(60)))]);
    let new = schema(vec![("x", Field::new(FieldType::Number).def(json!(60.0)))]);
    assert_eq!(classify(&old, &new), vec![]);
}

#[test]
fn auto_counts_as_a_default() {
    let old = schema(vec![("x", string())]);
    let new = schema(vec![("x", string().tweak(|f| f.auto = true))]);
    expect(
        "auto",
        &old,
        &new,
        &[("config.x default_changed short", Some("auto added"))],
    );
}

// ----- constraints -----

#[test]
fn constraint_changes_from_lua() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "eq",
            r#"type = "string""#,
            r#"type = "string", eq = "a""#,
            r#"eq unset → "a""#,
        ),
        (
            "ne",
            r#"type = "string", ne = "a""#,
            r#"type = "string", ne = "b""#,
            r#"ne "a" → "b""#,
        ),
        (
            "one_of gained",
            r#"type = "string", one_of = { "a" }"#,
            r#"type = "string", one_of = { "a", "x" }"#,
            r#"one_of gained "x""#,
        ),
        (
            "one_of lost",
            r#"type = "string", one_of = { "a", "b" }"#,
            r#"type = "string", one_of = { "a" }"#,
            r#"one_of lost "b""#,
        ),
        (
            "one_of gained and lost",
            r#"type = "integer", one_of = { 1, 2 }"#,
            r#"type = "integer", one_of = { 2, 3 }"#,
            "one_of gained 3 and lost 1",
        ),
        (
            "one_of added",
            r#"type = "string""#,
            r#"type = "string", one_of = { "b", "a" }"#,
            r#"one_of unset → ["a", "b"]"#,
        ),
        (
            "one_of removed",
            r#"type = "string", one_of = { "a" }"#,
            r#"type = "string""#,
            r#"one_of ["a"] → unset"#,
        ),
        (
            "not_one_of",
            r#"type = "string", not_one_of = { "a" }"#,
            r#"type = "string", not_one_of = { "a", "b" }"#,
            r#"not_one_of gained "b""#,
        ),
        (
            "between",
            r#"type = "integer", between = { 0, 10 }"#,
            r#"type = "integer", between = { 0, 5 }"#,
            "between {0,10} → {0,5}",
        ),
        (
            "gt",
            r#"type = "number", gt = 0"#,
            r#"type = "number", gt = 0.5"#,
            "gt 0 → 0.5",
        ),
        (
            "len_eq",
            r#"type = "string""#,
            r#"type = "string", len_eq = 4"#,
            "len_eq unset → 4",
        ),
        (
            "len_min",
            r#"type = "string""#,
            r#"type = "string", len_min = 0"#,
            "len_min 1 → 0",
        ),
        (
            "len_max",
            r#"type = "string", len_max = 9"#,
            r#"type = "string""#,
            "len_max 9 → unset",
        ),
        (
            "match",
            r#"type = "string", match = "^%a+$""#,
            r#"type = "string", match = "^%w+$""#,
            r#"match "^%a+$" → "^%w+$""#,
        ),
        (
            "not_match",
            r#"type = "string""#,
            r#"type = "string", not_match = "%s""#,
            r#"not_match unset → "%s""#,
        ),
        (
            "match_all",
            r#"type = "string", match_all = { { pattern = "a", err = "e" } }"#,
            r#"type = "string", match_all = { { pattern = "a", err = "e" }, { pattern = "b", err = "e" } }"#,
            r#"match_all gained "b""#,
        ),
        (
            "match_none",
            r#"type = "string", match_none = { { pattern = "a", err = "e" } }"#,
            r#"type = "string", match_none = { { pattern = "c", err = "e" } }"#,
            r#"match_none gained "c" and lost "a""#,
        ),
        (
            "match_any",
            r#"type = "string", match_any = { patterns = { "a" }, err = "e" }"#,
            r#"type = "string", match_any = { patterns = { "a", "b" }, err = "e" }"#,
            r#"match_any gained "b""#,
        ),
        (
            "starts_with",
            r#"type = "string""#,
            r#"type = "string", starts_with = "/""#,
            r#"starts_with unset → "/""#,
        ),
        (
            "uuid",
            r#"type = "string""#,
            r#"type = "string", uuid = true"#,
            "uuid added",
        ),
        (
            "timestamp",
            r#"type = "integer", timestamp = true"#,
            r#"type = "integer""#,
            "timestamp removed",
        ),
        (
            "is_regex",
            r#"type = "string""#,
            r#"type = "string", is_regex = true"#,
            "is_regex added",
        ),
        (
            "contains",
            r#"type = "array", elements = { type = "string" }"#,
            r#"type = "array", elements = { type = "string" }, contains = "a""#,
            r#"contains unset → "a""#,
        ),
        (
            "several at once",
            r#"type = "integer", between = { 0, 10 }"#,
            r#"type = "integer", between = { 1, 10 }, one_of = { 1, 2 }"#,
            "one_of unset → [1, 2]; between {0,10} → {1,10}",
        ),
        (
            "custom_validator",
            r#"type = "string""#,
            r#"type = "string", custom_validator = function() return true end"#,
            "custom_validator added",
        ),
        (
            "referenceable",
            r#"type = "string", referenceable = true"#,
            r#"type = "string""#,
            "referenceable removed",
        ),
    ];
    for (name, old, new, detail) in cases {
        let old = lua(&format!("{{ x = {{ {old} }} }}"));
        let new = lua(&format!("{{ x = {{ {new} }} }}"));
        if detail.is_empty() {
            expect(name, &old, &new, &[]);
        } else {
            expect(
                name,
                &old,
                &new,
                &[("config.x constraint_changed long", Some(detail))],
            );
        }
    }
}

#[test]
fn typedef_validators_are_constraints() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "host → url",
            "typedefs.host",
            "typedefs.url",
            "typedef validators gained url and lost host",
        ),
        (
            "host dropped",
            "typedefs.host",
            r#"{ type = "string" }"#,
            "typedef validators lost host",
        ),
        (
            "header_name added",
            r#"{ type = "string" }"#,
            "typedefs.header_name",
            "typedef validators gained header_name",
        ),
        (
            "port range",
            "typedefs.port",
            r#"{ type = "integer" }"#,
            "between {0,65535} → unset",
        ),
    ];
    for (name, old, new, detail) in cases {
        let old = lua(&format!("{{ x = {old} }}"));
        let new = lua(&format!("{{ x = {new} }}"));
        expect(
            name,
            &old,
            &new,
            &[("config.x constraint_changed long", Some(detail))],
        );
    }
    // The same typedef with a different description or default adds nothing but the default.
    expect(
        "typedef override",
        &lua("{ x = typedefs.port }"),
        &lua("{ x = typedefs.port { default = 80 } }"),
        &[("config.x default_changed short", Some("default unset → 80"))],
    );
}

#[test]
fn constraint_changes_from_rust() {
    let base = || Field::new(FieldType::Set).tweak(|f| f.elements = Some(Box::new(string())));
    let cases: Vec<(&str, Field, Field, &str)> = vec![
        (
            "mutually_exclusive_subsets",
            base(),
            base().with(|v| {
                v.mutually_exclusive_subsets =
                    Some(vec![vec!["b".into(), "a".into()], vec!["c".into()]])
            }),
            r#"mutually_exclusive_subsets unset → [[a, b], [c]]"#,
        ),
        (
            "builtins",
            string(),
            string().tweak(|f| f.builtins = vec![Builtin::Sni, Builtin::Host]),
            "typedef validators gained host, sni",
        ),
        (
            "json_schema",
            Field::new(FieldType::Json).tweak(|f| f.json_schema = Some(json!({"type": "object"}))),
            Field::new(FieldType::Json).tweak(|f| f.json_schema = Some(json!({"type": "array"}))),
            "json_schema changed",
        ),
        (
            "elements definition removed",
            array(string()),
            Field::new(FieldType::Array),
            "elements definition removed",
        ),
        (
            "eq on a plain field",
            integer(),
            integer().with(|v| v.eq = Some(Value::Null)),
            "eq unset → null",
        ),
    ];
    for (name, old, new, detail) in cases {
        expect(
            name,
            &schema(vec![("x", old)]),
            &schema(vec![("x", new)]),
            &[("config.x constraint_changed long", Some(detail))],
        );
    }
}

#[test]
fn changes_that_never_affect_validation_are_not_reported() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "description",
            r#"type = "string", description = "The first description.""#,
            r#"type = "string", description = "Another description, longer.""#,
        ),
        (
            "encrypted",
            r#"type = "string""#,
            r#"type = "string", encrypted = true"#,
        ),
        (
            "err text",
            r#"type = "string", match = "^a", err = "one""#,
            r#"type = "string", match = "^a", err = "two""#,
        ),
        (
            "match_all err",
            r#"type = "string", match_all = { { pattern = "a", err = "one" } }"#,
            r#"type = "string", match_all = { { pattern = "a", err = "two" } }"#,
        ),
        (
            "examples",
            r#"type = "string""#,
            r#"type = "string", examples = { "a" }"#,
        ),
        (
            "one_of reordered",
            r#"type = "string", one_of = { "a", "b" }"#,
            r#"type = "string", one_of = { "b", "a" }"#,
        ),
        (
            "implied len_min",
            r#"type = "string""#,
            r#"type = "string", len_min = 1"#,
        ),
        (
            "between as floats",
            r#"type = "number", between = { 0, 10 }"#,
            r#"type = "number", between = { 0.0, 10.0 }"#,
        ),
    ];
    for (name, old, new) in cases {
        let old = lua(&format!("{{ x = {{ {old} }} }}"));
        let new = lua(&format!("{{ x = {{ {new} }} }}"));
        expect(name, &old, &new, &[]);
    }
    // Field order inside a record.
    expect(
        "field order",
        &lua(r#"{ a = { type = "string" } }, { b = { type = "integer" } }"#),
        &lua(r#"{ b = { type = "integer" } }, { a = { type = "string" } }"#),
        &[],
    );
}

// ----- nested paths, records, containers -----

#[test]
fn nested_records() {
    let redis =
        |fields: &str| format!("{{ redis = {{ type = \"record\", fields = {{ {fields} }} }} }}");
    let cases: Vec<Case> = vec![
        (
            "sub-field added",
            lua(&redis(r#"{ port = { type = "integer", default = 6379 } }"#)),
            lua(&redis(
                r#"{ port = { type = "integer", default = 6379 } }, { host = { type = "string", required = true } }"#,
            )),
            vec![("config.redis.host added long", None)],
        ),
        (
            "deeper",
            lua(&redis(
                r#"{ tls = { type = "record", fields = { { verify = { type = "boolean" } } } } }"#,
            )),
            lua(&redis(
                r#"{ tls = { type = "record", fields = { { verify = { type = "boolean", default = true } } } } }"#,
            )),
            vec![(
                "config.redis.tls.verify default_changed short",
                Some("default unset → true"),
            )],
        ),
        (
            "record added, buildable from its sub-fields' defaults",
            lua(""),
            lua(&redis(
                r#"{ host = { type = "string" } }, { port = { type = "integer", required = true, default = 6379 } }"#,
            )),
            vec![(
                "config.redis added short",
                Some("record, required, filled from its sub-fields' defaults"),
            )],
        ),
        (
            "record added with a required sub-field and no default",
            lua(""),
            lua(&redis(r#"{ host = { type = "string", required = true } }"#)),
            vec![(
                "config.redis added long",
                Some("record, required, no default"),
            )],
        ),
        (
            "record removed with a required sub-field and no default",
            lua(&redis(r#"{ host = { type = "string", required = true } }"#)),
            lua(""),
            vec![("config.redis removed cp_dp_sync", None)],
        ),
        (
            "record added whose entity check fails on defaults",
            lua(""),
            lua(
                r#"{ redis = { type = "record", fields = { { host = { type = "string" } }, { port = { type = "integer" } } },
                     entity_checks = { { at_least_one_of = { "host", "port" } } } } }"#,
            ),
            vec![("config.redis added long", None)],
        ),
        (
            "optional record added",
            lua(""),
            lua(
                r#"{ redis = { type = "record", required = false, fields = { { host = { type = "string", required = true } } } } }"#,
            ),
            vec![(
                "config.redis added short",
                Some("record, optional, no default"),
            )],
        ),
        (
            "record became a string: the type change alone",
            lua(&redis(
                r#"{ host = { type = "string" } }, { port = { type = "integer" } }"#,
            )),
            lua(r#"{ redis = { type = "string" } }"#),
            vec![(
                "config.redis type_changed cp_dp_sync",
                Some("type record → string"),
            )],
        ),
        (
            "renamed: removed and added",
            lua(r#"{ ttl = { type = "integer", required = true } }"#),
            lua(r#"{ max_age = { type = "integer", required = true } }"#),
            vec![
                ("config.max_age added long", None),
                ("config.ttl removed cp_dp_sync", None),
            ],
        ),
    ];
    for (name, old, new, want) in &cases {
        expect(name, old, new, want);
    }
}

#[test]
fn containers() {
    let hosts = |fields: &str| {
        format!(
            "{{ hosts = {{ type = \"array\", elements = {{ type = \"record\", fields = {{ {fields} }} }} }} }}"
        )
    };
    let cases: Vec<Case> = vec![
        (
            "element type changed",
            lua(r#"{ tags = { type = "array", elements = { type = "string" } } }"#),
            lua(r#"{ tags = { type = "array", elements = { type = "integer" } } }"#),
            vec![(
                "config.tags.elements type_changed cp_dp_sync",
                Some("type string → integer"),
            )],
        ),
        (
            "set element constraint",
            lua(r#"{ methods = { type = "set", elements = { type = "string", one_of = { "GET" } } } }"#),
            lua(r#"{ methods = { type = "set", elements = { type = "string", one_of = { "GET", "POST" } } } }"#),
            vec![(
                "config.methods.elements constraint_changed long",
                Some(r#"one_of gained "POST""#),
            )],
        ),
        (
            "array constraint and element constraint",
            lua(r#"{ xs = { type = "array", elements = { type = "string" } } }"#),
            lua(r#"{ xs = { type = "array", len_max = 3, elements = { type = "string", len_max = 8 } } }"#),
            vec![
                ("config.xs constraint_changed long", Some("len_max unset → 3")),
                ("config.xs.elements constraint_changed long", Some("len_max unset → 8")),
            ],
        ),
        (
            "array became a set",
            lua(r#"{ xs = { type = "array", elements = { type = "string" } } }"#),
            lua(r#"{ xs = { type = "set", elements = { type = "integer" } } }"#),
            vec![("config.xs type_changed cp_dp_sync", Some("type array → set"))],
        ),
        (
            "required field added to records in an array",
            lua(&hosts(r#"{ name = { type = "string", required = true } }"#)),
            lua(&hosts(
                r#"{ name = { type = "string", required = true } }, { port = { type = "integer", required = true } }"#,
            )),
            vec![("config.hosts.elements.port added long", None)],
        ),
        (
            "optional field removed from records in an array",
            lua(&hosts(r#"{ name = { type = "string" } }, { weight = { type = "integer", default = 1 } }"#)),
            lua(&hosts(r#"{ name = { type = "string" } }"#)),
            vec![("config.hosts.elements.weight removed long", None)],
        ),
        (
            "records inside array elements are not made required",
            lua(&hosts(r#"{ name = { type = "string" } }"#)),
            lua(&hosts(
                r#"{ name = { type = "string" } }, { tls = { type = "record", fields = { { sni = { type = "string", required = true } } } } }"#,
            )),
            vec![("config.hosts.elements.tls added short", Some("record, optional, no default"))],
        ),
        (
            "a record inside elements made required",
            lua(&hosts(r#"{ tls = { type = "record", fields = { { sni = { type = "string" } } } } }"#)),
            lua(&hosts(
                r#"{ tls = { type = "record", required = true, fields = { { sni = { type = "string" } } } } }"#,
            )),
            vec![("config.hosts.elements.tls became_required short", None)],
        ),
        (
            "element record entity check",
            lua(&hosts(r#"{ a = { type = "string" } }, { b = { type = "string" } }"#)),
            lua(&format!(
                "{{ hosts = {{ type = \"array\", elements = {{ type = \"record\", fields = {{ {} }}, entity_checks = {{ {{ only_one_of = {{ \"a\", \"b\" }} }} }} }} }} }}",
                r#"{ a = { type = "string" } }, { b = { type = "string" } }"#
            )),
            vec![(
                "config.hosts.elements.@entity constraint_changed long",
                Some("entity check added: only_one_of(a, b)"),
            )],
        ),
        (
            "map value type",
            lua(r#"{ headers = { type = "map", keys = { type = "string" }, values = { type = "string" } } }"#),
            lua(r#"{ headers = { type = "map", keys = { type = "string" }, values = { type = "integer" } } }"#),
            vec![("config.headers.values type_changed cp_dp_sync", None)],
        ),
        (
            "map key constraint",
            lua(r#"{ headers = { type = "map", keys = { type = "string" }, values = { type = "string" } } }"#),
            lua(r#"{ headers = { type = "map", keys = typedefs.header_name, values = { type = "string" } } }"#),
            vec![(
                "config.headers.keys constraint_changed long",
                Some("typedef validators gained header_name"),
            )],
        ),
        (
            "array inside map values",
            lua(
                r#"{ headers = { type = "map", keys = { type = "string" }, values = { type = "array", elements = { type = "string" } } } }"#,
            ),
            lua(
                r#"{ headers = { type = "map", keys = { type = "string" }, values = { type = "array", elements = { type = "number" } } } }"#,
            ),
            vec![("config.headers.values.elements type_changed cp_dp_sync", None)],
        ),
    ];
    for (name, old, new, want) in &cases {
        expect(name, old, new, want);
    }
}

#[test]
fn element_definitions_report_required() {
    let old = schema(vec![("xs", set(string()))]);
    let new = schema(vec![("xs", set(integer()))]);
    let got = classify(&old, &new);
    assert_eq!(got.len(), 1);
    assert!(got[0].required, "elements are always required");
    assert!(!got[0].has_default);
}

#[test]
fn foreign_reference_change_is_a_type_change() {
    let foreign =
        |r: &str| Field::new(FieldType::Foreign).tweak(|f| f.reference = Some(r.to_string()));
    expect(
        "reference",
        &schema(vec![("x", foreign("routes"))]),
        &schema(vec![("x", foreign("services"))]),
        &[(
            "config.x type_changed cp_dp_sync",
            Some("reference routes → services"),
        )],
    );
}

// ----- entity checks -----

#[test]
fn entity_checks() {
    let two = r#"{ a = { type = "string" } }, { b = { type = "string" } }"#;
    let config_checks = |checks: &str| {
        lua_schema(&format!(
            "return {{ name = \"p\", fields = {{ {{ config = {{ type = \"record\", fields = {{ {two} }}, entity_checks = {{ {checks} }} }} }} }} }}"
        ))
    };
    let top_checks = |checks: &str| lua_top("", two, &format!("entity_checks = {{ {checks} }}"));
    let cond = |value: &str, err: &str| {
        format!(
            r#"{{ conditional = {{ if_field = "a", if_match = {{ eq = "x" }}, then_field = "b", then_match = {{ {value} }}, then_err = "{err}" }} }}"#
        )
    };
    let cases: Vec<Case> = vec![
        (
            "record check added",
            config_checks(""),
            config_checks(r#"{ at_least_one_of = { "a", "b" } }"#),
            vec![(
                "config.@entity constraint_changed long",
                Some("entity check added: at_least_one_of(a, b)"),
            )],
        ),
        (
            "record check removed",
            config_checks(r#"{ mutually_exclusive = { "a", "b" } }"#),
            config_checks(""),
            vec![(
                "config.@entity constraint_changed long",
                Some("entity check removed: mutually_exclusive(a, b)"),
            )],
        ),
        (
            "record check replaced",
            config_checks(r#"{ distinct = { "a", "b" } }"#),
            config_checks(r#"{ mutually_required = { "a", "b" } }"#),
            vec![(
                "config.@entity constraint_changed long",
                Some("entity check added: mutually_required(a, b); entity check removed: distinct(a, b)"),
            )],
        ),
        (
            "field list reordered",
            config_checks(r#"{ only_one_of = { "a", "b" } }"#),
            config_checks(r#"{ only_one_of = { "b", "a" } }"#),
            vec![],
        ),
        (
            "checks reordered",
            config_checks(r#"{ only_one_of = { "a", "b" } }, { distinct = { "a", "b" } }"#),
            config_checks(r#"{ distinct = { "a", "b" } }, { only_one_of = { "a", "b" } }"#),
            vec![],
        ),
        (
            "conditional error text",
            config_checks(&cond("required = true", "one")),
            config_checks(&cond("required = true", "two")),
            vec![],
        ),
        (
            "conditional match changed",
            config_checks(&cond("required = true", "e")),
            config_checks(&cond(r#"one_of = { "y" }"#, "e")),
            vec![("config.@entity constraint_changed long", None)],
        ),
        (
            "mutually_exclusive_sets swapped",
            config_checks(r#"{ mutually_exclusive_sets = { set1 = { "a" }, set2 = { "b" } } }"#),
            config_checks(r#"{ mutually_exclusive_sets = { set1 = { "b" }, set2 = { "a" } } }"#),
            vec![],
        ),
        (
            "top-level check added",
            top_checks(""),
            top_checks(r#"{ at_least_one_of = { "config.a", "config.b" } }"#),
            vec![(
                "@entity constraint_changed long",
                Some("entity check added: at_least_one_of(config.a, config.b)"),
            )],
        ),
    ];
    for (name, old, new, want) in &cases {
        expect(name, old, new, want);
    }

    let got = classify(
        &config_checks(""),
        &config_checks(r#"{ distinct = { "a", "b" } }"#),
    );
    assert!(
        !got[0].required && !got[0].has_default,
        "@entity is not a field"
    );
}

#[test]
fn conditional_at_least_one_of_and_custom_checks_are_compared() {
    let cond = |then: Vec<&str>| EntityCheck::ConditionalAtLeastOneOf {
        if_field: "a".into(),
        if_match: Box::new(string().with(|v| v.eq = Some(json!("x")))),
        then_at_least_one_of: then.into_iter().map(String::from).collect(),
        then_err: None,
        else_match: None,
        else_then_at_least_one_of: None,
        else_then_err: None,
    };
    let with = |checks: Vec<EntityCheck>| {
        let mut s = schema(vec![("a", string()), ("b", string()), ("c", string())]);
        s.fields[0].1.entity_checks = checks;
        s
    };
    expect(
        "conditional_at_least_one_of",
        &with(vec![cond(vec!["b"])]),
        &with(vec![cond(vec!["c", "b"])]),
        &[(
            "config.@entity constraint_changed long",
            Some(
                "entity check added: conditional_at_least_one_of(if a {eq \"x\"} then at least one of b, c); \
                 entity check removed: conditional_at_least_one_of(if a {eq \"x\"} then at least one of b)",
            ),
        )],
    );
    let custom = |sources: &[&str]| EntityCheck::CustomEntityCheck {
        field_sources: sources.iter().map(|s| s.to_string()).collect(),
        custom_fn: None,
        run_with_missing: false,
        run_with_invalid: false,
    };
    expect(
        "custom_entity_check",
        &with(vec![custom(&["a"])]),
        &with(vec![custom(&["a", "b"])]),
        &[("config.@entity constraint_changed long", None)],
    );
    expect(
        "match patterns by value",
        &with(vec![]),
        &with(vec![]).tweak_config(|c| {
            c.validators.match_any = Some(MatchAny {
                patterns: vec!["x".into()],
                err: "e".into(),
            });
            c.validators.match_all = Some(vec![PatternErr {
                pattern: "y".into(),
                err: "e".into(),
            }]);
        }),
        &[(
            "config constraint_changed long",
            Some(r#"match_all unset → ["y"]; match_any unset → ["x"]"#),
        )],
    );
}

/// Mutates the config record of a built schema.
trait TweakConfig {
    fn tweak_config(self, f: impl FnOnce(&mut Field)) -> Self;
}

impl TweakConfig for PluginSchema {
    fn tweak_config(mut self, f: impl FnOnce(&mut Field)) -> Self {
        if let Some((_, config)) = self.fields.iter_mut().find(|(n, _)| n == "config") {
            f(config);
        }
        self
    }
}

// ----- top-level fields -----

#[test]
fn top_level_fields() {
    let top = |top: &str| lua_top(top, r#"{ a = { type = "string" } }"#, "");
    let cases: Vec<Case> = vec![
        (
            "protocols restricted by an override",
            top(""),
            top("{ protocols = typedefs.protocols_http },"),
            vec![(
                "protocols constraint_changed long",
                Some(
                    r#"elements: one_of lost "tcp", "tls", "tls_passthrough", "udp", "ws", "wss""#,
                ),
            )],
        ),
        (
            "override equal to Kong's own definition",
            top(""),
            top("{ protocols = typedefs.protocols },"),
            vec![],
        ),
        (
            "protocols gained ws and wss",
            top("{ protocols = typedefs.protocols_http },"),
            top("{ protocols = typedefs.protocols_http_and_ws },"),
            vec![(
                "protocols constraint_changed long",
                Some(r#"elements: one_of gained "ws", "wss""#),
            )],
        ),
        (
            "protocols default changed",
            top("{ protocols = typedefs.protocols_http },"),
            top(r#"{ protocols = typedefs.protocols_http { default = { "https", "http" } } },"#),
            vec![(
                "protocols constraint_changed long",
                Some(r#"default ["grpc", "grpcs", "http", "https"] → ["http", "https"]"#),
            )],
        ),
        (
            "consumer restriction added",
            top(""),
            top("{ consumer = typedefs.no_consumer },"),
            vec![(
                "consumer constraint_changed long",
                Some("scope restriction added: instances can no longer be bound here (eq = null)"),
            )],
        ),
        (
            "consumer restriction removed",
            top("{ consumer = typedefs.no_consumer },"),
            top(""),
            vec![(
                "consumer constraint_changed long",
                Some("scope restriction removed: instances may be bound here again"),
            )],
        ),
        (
            "every scope",
            top(""),
            top(
                "{ route = typedefs.no_route }, { service = typedefs.no_service }, \
                 { consumer_group = typedefs.no_consumer_group },",
            ),
            vec![
                ("consumer_group constraint_changed long", None),
                ("route constraint_changed long", None),
                ("service constraint_changed long", None),
            ],
        ),
        (
            "unchanged restriction",
            top("{ consumer = typedefs.no_consumer },"),
            top("{ consumer = typedefs.no_consumer },"),
            vec![],
        ),
        (
            "override of a field with no modelled base",
            top(""),
            top("{ tags = typedefs.tags },"),
            vec![(
                "tags constraint_changed long",
                Some("override declared (no Kong definition modelled to compare with)"),
            )],
        ),
        (
            "override of a field with no modelled base dropped",
            top(r#"{ enabled = { type = "boolean", default = true } },"#),
            top(""),
            vec![("enabled constraint_changed long", None)],
        ),
        (
            "default of another top-level field",
            top(r#"{ enabled = { type = "boolean", default = true } },"#),
            top(r#"{ enabled = { type = "boolean", default = false } },"#),
            vec![(
                "enabled constraint_changed long",
                Some("default true → false"),
            )],
        ),
    ];
    for (name, old, new, want) in &cases {
        expect(name, old, new, want);
    }
}

#[test]
fn top_level_type_change_stays_a_type_change() {
    let mut old = schema(vec![]);
    let mut protocols = array(string());
    old.fields.push(("protocols".into(), protocols.clone()));
    let mut new = schema(vec![]);
    protocols.ty = FieldType::Set;
    new.fields.push(("protocols".into(), protocols));
    expect(
        "protocols array → set",
        &old,
        &new,
        &[(
            "protocols type_changed cp_dp_sync",
            Some("type array → set"),
        )],
    );
}

#[test]
fn config_itself() {
    let mut without = schema(vec![]);
    without.fields.clear();
    let with = schema(vec![("a", string().req())]);
    expect(
        "config added",
        &without,
        &with,
        &[("config added long", Some("record, required, no default"))],
    );
    expect(
        "config removed",
        &with,
        &without,
        &[("config removed cp_dp_sync", None)],
    );
    assert_eq!(classify(&without, &without), vec![]);
}

// ----- whole schemas -----

fn testdata_schema(plugin: &str) -> PluginSchema {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/lua/valid")
        .join(plugin)
        .join("schema.lua");
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lua_schema(&source)
}

#[test]
fn identical_schemas_have_no_changes() {
    for plugin in [
        "cors-lite",
        "header-stamp",
        "http-audit",
        "ip-gate",
        "rate-guard",
        "set-header",
        "statsd-mini",
    ] {
        let a = testdata_schema(plugin);
        let b = testdata_schema(plugin);
        let got = classify(&a, &b);
        assert_eq!(got, vec![], "{plugin}");
        assert_eq!(update_path(&got), UpdatePath::None);
        assert!(most_severe(&got).is_empty());
    }
    let rust = schema(vec![
        ("a", string().req().def(json!("x"))),
        ("z", string().opt()),
        ("b", set(integer().with(|v| v.between = Some((0.0, 9.0))))),
        (
            "c",
            record(vec![("d", array(record(vec![("e", string())])))]),
        ),
    ]);
    assert_eq!(classify(&rust, &rust.clone()), vec![]);
}

#[test]
fn a_realistic_new_version() {
    // rate-guard → rate-guard-v2: a new required window, a renamed-away option, a tighter
    // limit and an extra top-level check.
    let old = testdata_schema("rate-guard");
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/lua/valid/rate-guard/schema.lua"),
    )
    .unwrap_or_default()
    .replace(
        "{ hide_client_headers = { type = \"boolean\", required = true, default = false } },",
        "{ window = { type = \"integer\", required = true } },",
    )
    .replace(
        "default = 429, gt = 0",
        "default = 429, between = { 400, 599 }",
    )
    .replace("name = \"rate-guard\"", "name = \"rate-guard-v2\"");
    let new = lua_schema(&source);
    let got = classify(&old, &new);
    assert_eq!(
        brief(&got),
        [
            "config.error_code constraint_changed long",
            "config.hide_client_headers removed long",
            "config.window added long",
        ]
    );
    assert_eq!(
        got[0].detail.as_deref(),
        Some("gt 0 → unset; between unset → {400,599}")
    );
    assert_eq!(
        got[1].detail.as_deref(),
        Some("boolean, required, default false")
    );
    assert_eq!(
        got[2].detail.as_deref(),
        Some("integer, required, no default")
    );
    assert_eq!(update_path(&got), UpdatePath::Long);
}

#[test]
fn multiple_changes_take_the_most_severe() {
    let old = lua(
        r#"{ a = { type = "string" } }, { b = { type = "string", one_of = { "x" } } }, { c = { type = "integer", required = true } }"#,
    );
    let short_only = lua(
        r#"{ a = { type = "string", default = "z" } }, { b = { type = "string", one_of = { "x" } } }, { c = { type = "integer", required = true } }"#,
    );
    let long = lua(
        r#"{ a = { type = "string", default = "z" } }, { b = { type = "string", one_of = { "x", "y" } } }, { c = { type = "integer", required = true } }"#,
    );
    let worst = lua(
        r#"{ a = { type = "string", default = "z" } }, { b = { type = "string", one_of = { "x", "y" } } }"#,
    );
    let cases = [
        (&short_only, UpdatePath::Short, 1),
        (&long, UpdatePath::Long, 2),
        (&worst, UpdatePath::CpDpSync, 3),
    ];
    for (new, path, count) in cases {
        let got = classify(&old, new);
        assert_eq!(got.len(), count, "{got:#?}");
        assert_eq!(update_path(&got), path);
        let severe = most_severe(&got);
        assert_eq!(severe.len(), 1);
        assert_eq!(severe[0].update_path, path);
    }
    let got = classify(&old, &worst);
    assert_eq!(
        brief(&got),
        [
            "config.a default_changed short",
            "config.b constraint_changed long",
            "config.c removed cp_dp_sync",
        ]
    );
    assert_eq!(classify(&old, &worst), got, "deterministic");
}

#[test]
fn one_field_several_kinds_sorted_by_kind() {
    let old = schema(vec![("x", integer().with(|v| v.gt = Some(0.0)))]);
    let new = schema(vec![("x", integer().req().def(json!(5)))]);
    expect(
        "several kinds",
        &old,
        &new,
        &[
            ("config.x became_required short", None),
            ("config.x default_changed short", Some("default unset → 5")),
            ("config.x constraint_changed long", Some("gt 0 → unset")),
        ],
    );
}

// ----- the public types -----

#[test]
fn update_path_order_and_names() {
    use UpdatePath as P;
    assert!(P::None < P::Short && P::Short < P::Long && P::Long < P::CpDpSync);
    assert_eq!(update_path(&[]), P::None);
    for (path, name) in [
        (P::None, "none"),
        (P::Short, "short"),
        (P::Long, "long"),
        (P::CpDpSync, "cp_dp_sync"),
    ] {
        assert_eq!(path.as_str(), name);
        assert_eq!(path.to_string(), name);
        assert_eq!(serde_json::to_value(path).ok(), Some(json!(name)));
    }
}

#[test]
fn change_kind_names_and_paths() {
    let kinds = [
        (Added, "added"),
        (Removed, "removed"),
        (TypeChanged, "type_changed"),
        (BecameRequired, "became_required"),
        (BecameOptional, "became_optional"),
        (DefaultChanged, "default_changed"),
        (ConstraintChanged, "constraint_changed"),
    ];
    for (kind, name) in kinds {
        assert_eq!(kind.as_str(), name);
        assert_eq!(serde_json::to_value(kind).ok(), Some(json!(name)));
    }
    use UpdatePath as P;
    // (kind, required, has_default) → path, beyond the table tests above.
    let rules = [
        (BecameRequired, true, true, P::Short),
        (BecameRequired, true, false, P::Long),
        (BecameOptional, false, false, P::Short),
        (BecameOptional, false, true, P::Short),
        (DefaultChanged, true, false, P::Short),
        (ConstraintChanged, false, false, P::Long),
        (ConstraintChanged, true, true, P::Long),
    ];
    for (kind, required, has_default, path) in rules {
        assert_eq!(kind.update_path(required, has_default), path, "{kind}");
    }
}

#[test]
fn json_shape() {
    let mut change = SchemaChange {
        field: "config.window".into(),
        change: Added,
        required: true,
        has_default: false,
        update_path: UpdatePath::Long,
        detail: None,
    };
    assert_eq!(
        serde_json::to_value(&change).ok(),
        Some(
            json!({"field": "config.window", "change": "added", "required": true,
                    "has_default": false, "update_path": "long"})
        )
    );
    change.detail = Some("integer, required, no default".into());
    assert_eq!(
        serde_json::to_value(&change)
            .ok()
            .and_then(|v| v.get("detail").cloned()),
        Some(json!("integer, required, no default"))
    );
}
