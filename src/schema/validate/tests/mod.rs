//! Table-driven tests of config validation, defaults filling and messages, each case asserting
//! Kong's text. Cases that need the Lua pattern engine or the typedef builtins (implemented in
//! sibling modules) live in `needs_engines.rs`.

mod defaults;
mod entity;
mod instance;
mod needs_engines;
mod summary;
mod types;
mod validators;

use serde_json::{json, Value};

use super::{process_config, FieldError};
use crate::schema::model::{EntityCheck, Field, FieldType, PluginSchema, Validators};

/// Builder shorthands over [`Field`].
pub(super) trait FieldExt: Sized {
    fn req(self) -> Self;
    fn optional(self) -> Self;
    fn def(self, v: Value) -> Self;
    fn with(self, f: impl FnOnce(&mut Validators)) -> Self;
    fn err(self, e: &str) -> Self;
    fn checks(self, checks: Vec<EntityCheck>) -> Self;
}

impl FieldExt for Field {
    fn req(mut self) -> Self {
        self.required = Some(true);
        self
    }
    fn optional(mut self) -> Self {
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
    fn err(mut self, e: &str) -> Self {
        self.err = Some(e.to_string());
        self
    }
    fn checks(mut self, checks: Vec<EntityCheck>) -> Self {
        self.entity_checks = checks;
        self
    }
}

pub(super) fn string() -> Field {
    Field::new(FieldType::String)
}
pub(super) fn integer() -> Field {
    Field::new(FieldType::Integer)
}
pub(super) fn number() -> Field {
    Field::new(FieldType::Number)
}
pub(super) fn boolean() -> Field {
    Field::new(FieldType::Boolean)
}
pub(super) fn array(elements: Field) -> Field {
    let mut f = Field::new(FieldType::Array);
    f.elements = Some(Box::new(elements));
    f
}
pub(super) fn set(elements: Field) -> Field {
    let mut f = Field::new(FieldType::Set);
    f.elements = Some(Box::new(elements));
    f
}
pub(super) fn map(keys: Field, values: Field) -> Field {
    let mut f = Field::new(FieldType::Map);
    f.keys = Some(Box::new(keys));
    f.values = Some(Box::new(values));
    f
}
pub(super) fn record(fields: Vec<(&str, Field)>) -> Field {
    let mut f = Field::new(FieldType::Record);
    f.fields = fields
        .into_iter()
        .map(|(n, f)| (n.to_string(), f))
        .collect();
    f
}
pub(super) fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}
pub(super) fn strings(list: &[&str]) -> Vec<Value> {
    list.iter().map(|s| json!(s)).collect()
}

/// A plugin schema whose `config` is `config`, with top-level `entity_checks`.
pub(super) fn plugin(config: Field, checks: Vec<EntityCheck>) -> PluginSchema {
    PluginSchema {
        name: "test".to_string(),
        fields: vec![("config".to_string(), config)],
        entity_checks: checks,
        has_check_function: false,
        custom_source: None,
    }
}

/// A plugin schema whose config record has `fields`.
pub(super) fn schema(fields: Vec<(&str, Field)>) -> PluginSchema {
    plugin(record(fields), Vec::new())
}

/// The errors of `config` as `(path, message)` pairs (empty when valid).
pub(super) fn errors(schema: &PluginSchema, config: Value) -> Vec<(String, String)> {
    match process_config(schema, Some(&config)) {
        Ok(_) => Vec::new(),
        Err(errs) => pairs(&errs),
    }
}

pub(super) fn pairs(errs: &[FieldError]) -> Vec<(String, String)> {
    errs.iter()
        .map(|e| (e.path.clone(), e.message.clone()))
        .collect()
}

/// The filled config, failing the test with the errors when invalid.
pub(super) fn filled(schema: &PluginSchema, config: Option<Value>) -> Value {
    match process_config(schema, config.as_ref()) {
        Ok(v) => v,
        Err(e) => panic!("unexpected errors: {e:?}"),
    }
}

/// Validates `value` as config field `x` of type `field`: `None` when valid, else the single
/// message at `config.x` (any other error fails the test).
pub(super) fn one(field: &Field, value: Value) -> Option<String> {
    let s = schema(vec![("x", field.clone())]);
    let errs = errors(&s, json!({ "x": value }));
    match errs.as_slice() {
        [] => None,
        [(path, message)] if path == "config.x" => Some(message.clone()),
        other => panic!("expected one error at config.x, got {other:?}"),
    }
}

/// Runs `(field, value, expected)` cases through [`one`].
pub(super) fn table(cases: Vec<(Field, Value, Option<&str>)>) {
    for (i, (field, value, want)) in cases.into_iter().enumerate() {
        let got = one(&field, value.clone());
        assert_eq!(
            got.as_deref(),
            want,
            "case {i}: value {value} against {field:?}"
        );
    }
}
