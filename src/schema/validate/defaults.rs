//! Defaults filling: Kong's `Schema:process_auto_fields(data, "insert")` over the schema model.
//!
//! For every declared field of a record (`adjust_field_for_context` + `handle_missing_field`):
//! * a record that is present, or absent but required, is filled recursively; an absent
//!   required record without a `default` is expanded from `{}`, so nested defaults appear; an
//!   explicit `null` is kept;
//! * arrays and sets recurse into their elements and maps into their values (records inside get
//!   their defaults); sets are de-duplicated (first occurrence kept, Lua equality);
//! * an absent field takes a deep copy of its `default`, else `null` unless it is required;
//!   a required non-record field stays absent (validation then reports it missing).
//!
//! Numbers of `integer` and `number` fields are written back as cjson stores them: an integral
//! float such as `1.0` becomes `1`.
//!
//! Deliberate deviation: the `auto` fields Kong generates a value for (`auto` uuid or string
//! fields, `created_at`, `updated_at`) are left absent when absent, so output stays deterministic;
//! validation does not report them missing.

use serde_json::{Map, Value};

use super::lua::{into_record_map, lua_eq};
use crate::schema::model::{Field, FieldType};

/// Whether a field is required at a position where unset `required` on records means `true`
/// (`rr`, Kong's `make_records_required`, which covers record fields reached through record
/// fields from the plugin schema's top level, not records inside arrays, sets or maps).
pub(super) fn required_at(field: &Field, rr: bool) -> bool {
    field
        .required
        .unwrap_or(rr && field.ty == FieldType::Record)
}

/// Whether Kong generates a value for this absent field on insert.
pub(super) fn kong_generates(name: &str, field: &Field) -> bool {
    field.auto
        && (field.ty == FieldType::String
            || (matches!(name, "created_at" | "updated_at")
                && matches!(field.ty, FieldType::Number | FieldType::Integer)))
}

/// Fills the declared `fields` of a record value, keeping undeclared keys as they are.
pub(super) fn fill_record(
    fields: &[(String, Field)],
    mut data: Map<String, Value>,
    rr: bool,
) -> Map<String, Value> {
    for (name, field) in fields {
        let current = data.remove(name);
        if current.is_none() && kong_generates(name, field) {
            continue;
        }
        if let Some(v) = adjust(field, current, required_at(field, rr), rr) {
            data.insert(name.clone(), v);
        }
    }
    data
}

/// Kong's `adjust_field_for_context` in the insert context. `value` is `None` when absent;
/// the result is `None` when the field stays absent. `rr` applies to sub-records of a record.
pub(super) fn adjust(
    field: &Field,
    value: Option<Value>,
    required: bool,
    rr: bool,
) -> Option<Value> {
    let mut value = value;
    match field.ty {
        FieldType::Record => {
            let recurse = !matches!(value, Some(Value::Null)) && (value.is_some() || required);
            if recurse {
                let v = match value {
                    Some(v) => Some(v),
                    None => handle_missing(field, required, rr),
                };
                match v.map(into_record_map) {
                    Some(Ok(map)) => {
                        return Some(Value::Object(fill_record(&field.fields, map, rr)))
                    }
                    Some(Err(other)) => value = Some(other),
                    None => value = None,
                }
            }
        }
        FieldType::Array | FieldType::Set | FieldType::Map => {
            if let Some(v) = value.take() {
                value = Some(adjust_container(field, v));
            }
        }
        _ => {}
    }
    let value = match value {
        None => handle_missing(field, required, rr),
        some => some,
    };
    match (field.ty, value) {
        (FieldType::Integer | FieldType::Number, Some(Value::Number(n))) => {
            Some(Value::Number(integral(n)))
        }
        (_, value) => value,
    }
}

/// A number as cjson writes it back: an integral float (`1.0`) is stored as `1`.
fn integral(n: serde_json::Number) -> serde_json::Number {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match n.as_f64() {
        Some(x) if !n.is_i64() && !n.is_u64() && x.fract() == 0.0 && x.abs() <= EXACT => {
            serde_json::Number::from(x as i64)
        }
        _ => n,
    }
}

/// Kong's `handle_missing_field`: the default, else `null` unless required, else (records) the
/// record expanded from `{}`, else absent.
fn handle_missing(field: &Field, required: bool, rr: bool) -> Option<Value> {
    if let Some(default) = &field.default {
        return Some(default.clone());
    }
    if !required {
        return Some(Value::Null);
    }
    if field.ty == FieldType::Record {
        return Some(Value::Object(fill_record(&field.fields, Map::new(), rr)));
    }
    None
}

/// Recursion into the elements of an array or set and the values of a map.
fn adjust_container(field: &Field, value: Value) -> Value {
    let sub = match field.ty {
        FieldType::Map => field.values.as_deref(),
        _ => field.elements.as_deref(),
    };
    // Every element is present, so its own `required` does not matter here; records inside
    // containers are outside `make_records_required` (rr = false).
    let each = |v: Value| match sub {
        Some(sub) => adjust(sub, Some(v), true, false).unwrap_or(Value::Null),
        None => v,
    };
    match (field.ty, value) {
        (FieldType::Array, Value::Array(items)) => {
            Value::Array(items.into_iter().map(each).collect())
        }
        (FieldType::Set, Value::Array(items)) => {
            Value::Array(dedup(items).into_iter().map(each).collect())
        }
        // An empty table is a sequence: arrays and sets store it as `[]`.
        (FieldType::Array | FieldType::Set, Value::Object(m)) if m.is_empty() => {
            Value::Array(Vec::new())
        }
        // An empty table is stored as `{}` when it is not an array.
        (FieldType::Map, Value::Array(items)) if items.is_empty() => Value::Object(Map::new()),
        (_, Value::Array(items)) => Value::Array(items.into_iter().map(each).collect()),
        (_, Value::Object(m)) => Value::Object(m.into_iter().map(|(k, v)| (k, each(v))).collect()),
        (_, other) => other,
    }
}

/// Kong's `make_set`: drops later duplicates (Lua equality: tables are never duplicates).
fn dedup(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if !out.iter().any(|seen| lua_eq(seen, &item)) {
            out.push(item);
        }
    }
    out
}
