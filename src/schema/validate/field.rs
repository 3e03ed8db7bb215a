//! Field validation: Kong's `Schema:validate_field` (null handling, type checks, recursion into
//! elements, map entries and records) and `Schema:validate` for a record (per-field checks,
//! unknown fields, required fields, then the record's entity checks).
//!
//! Validators run in Kong's `validators_order` and the first failure is the field's error:
//! `eq, ne, not_one_of, one_of, gt, timestamp, uuid, is_regex, between, len_eq, len_min, len_max,
//! starts_with, not_match, match_none, match, match_all, match_any, contains, custom_validator
//! (the typedef builtins), mutually_exclusive_subsets`. A field's `err` replaces the message of a
//! failing validator (and of `eq = null` / `ne = null`), never a type or presence error.
//!
//! Where Kong would raise a Lua error (a validator on a value of the wrong kind, which Kong's
//! metaschema rules out), the validator is skipped. A malformed Lua pattern fails the field with
//! the pattern engine's message.

use serde_json::{Map, Value};

use super::custom::Verdict;
use super::defaults::{fill_record, kong_generates, required_at};
use super::lua::{
    as_number, as_record_map, as_sequence, concat, fmt_int, fmt_number, is_reference, is_table,
    is_uuid, length, lua_eq, quoted_list, tostring,
};
use super::{entity_checks, msg, ErrNode, ErrTable};
use crate::schema::model::{Field, FieldType, PatternErr};
use crate::schema::{builtins, lua_pattern};

pub(super) const REQUIRED: &str = "required field missing";
const UNKNOWN: &str = "unknown field";

/// Kong's `Schema:validate_field`: `Err` holds a message or, for aggregates, a table of
/// errors keyed by sub-field or 1-based element index. `required` is the field's effective
/// `required` (elements, map keys and values are always required); `rr` says whether unset
/// `required` on sub-records means `true` (see [`required_at`]).
pub(super) fn validate_field(
    field: &Field,
    value: &Value,
    required: bool,
    rr: bool,
) -> Result<(), ErrNode> {
    let v = &field.validators;
    if value.is_null() {
        if matches!(v.ne, Some(Value::Null)) {
            return Err(msg(overridden(field, "value must not be null".to_string())));
        }
        if let Some(eq) = v.eq.as_ref().filter(|eq| !eq.is_null()) {
            return Err(msg(format!("value must be {}", tostring(eq))));
        }
        if required {
            return Err(msg(REQUIRED.to_string()));
        }
        return Ok(());
    }
    if matches!(v.eq, Some(Value::Null)) {
        return Err(msg(overridden(field, "value must be null".to_string())));
    }

    match field.ty {
        FieldType::Array | FieldType::Set => {
            let Some(items) = as_sequence(value) else {
                return Err(msg(if field.ty == FieldType::Array {
                    "expected an array"
                } else {
                    "expected a set"
                }
                .to_string()));
            };
            if let Some(elements) = field.elements.as_deref() {
                let mut errs = ErrTable::default();
                for (i, item) in items.iter().enumerate() {
                    if let Err(e) = validate_field(elements, item, true, false) {
                        errs.fields.insert((i + 1).to_string(), e);
                    }
                }
                if !errs.is_empty() {
                    return Err(ErrNode::Table(errs));
                }
            } else {
                // Kong's validator indexes the missing declaration and raises, however few the
                // items (it marks the declaration required before looking at any).
                return Err(msg(
                    "attempt to index field 'elements' (a nil value) (the schema declares no 'elements' for this field)"
                        .to_string(),
                ));
            }
        }
        FieldType::Map => {
            if !is_table(value) {
                return Err(msg("expected a map".to_string()));
            }
            if let (Some(keys), Some(values)) = (field.keys.as_deref(), field.values.as_deref()) {
                // Kong stops at the first bad entry (in `pairs` order; here in key order).
                for (k, item) in map_entries(value) {
                    validate_field(keys, &k, true, false)?;
                    validate_field(values, item, true, false)?;
                }
            } else {
                // As for arrays: raised before any entry is looked at, even for `{}`.
                let missing = if field.keys.is_none() {
                    "keys"
                } else {
                    "values"
                };
                return Err(msg(format!(
                    "attempt to index field '{missing}' (a nil value) (the schema declares no '{missing}' for this field)"
                )));
            }
        }
        FieldType::Record => {
            let Some(map) = as_record_map(value) else {
                return Err(msg("expected a record".to_string()));
            };
            let filled = fill_record(&field.fields, map, rr);
            let errs = validate_record(&field.fields, &field.entity_checks, &filled, rr);
            if !errs.is_empty() {
                return Err(ErrNode::Table(errs));
            }
        }
        FieldType::Foreign => validate_foreign_key(value)?,
        FieldType::Integer => {
            let ok = as_number(value).is_some_and(|n| n.is_finite() && n == n.floor());
            if !ok {
                return Err(msg("expected an integer".to_string()));
            }
        }
        FieldType::Number => {
            if !value.is_number() {
                return Err(msg("expected a number".to_string()));
            }
        }
        FieldType::Boolean => {
            if !value.is_boolean() {
                return Err(msg("expected a boolean".to_string()));
            }
        }
        FieldType::String => {
            let Some(s) = value.as_str() else {
                return Err(msg("expected a string".to_string()));
            };
            if field.referenceable && is_reference(s) {
                return Ok(());
            }
        }
        FieldType::Function => return Err(msg("expected a function".to_string())),
        // Validated against an inline `json_schema` when the field has one.
        FieldType::Json => return json_field(field, value),
        FieldType::Any => {}
    }

    run_validators(field, value).map_err(msg)
}

/// Kong's `Schema:validate` for one record level (full check): every key of `input` against its
/// declaration (`unknown field` otherwise), required fields present and not null, then the
/// record's entity checks.
pub(super) fn validate_record(
    fields: &[(String, Field)],
    checks: &[crate::schema::model::EntityCheck],
    input: &Map<String, Value>,
    rr: bool,
) -> ErrTable {
    let mut errors = ErrTable::default();
    for (key, value) in input {
        match lookup(fields, key) {
            Some(field) if field.ty == FieldType::Json => {
                if let Err(e) = json_field(field, value) {
                    errors.fields.insert(key.clone(), e);
                }
            }
            Some(field) => {
                if let Err(e) = validate_field(field, value, required_at(field, rr), rr) {
                    errors.fields.insert(key.clone(), e);
                }
            }
            None => {
                errors.fields.insert(key.clone(), msg(UNKNOWN.to_string()));
            }
        }
    }
    for (name, field) in fields {
        if !required_at(field, rr) {
            continue;
        }
        let missing = match input.get(name) {
            Some(Value::Null) => true,
            None => !kong_generates(name, field),
            Some(_) => false,
        };
        if missing {
            errors
                .fields
                .insert(name.clone(), msg(REQUIRED.to_string()));
        }
    }
    entity_checks::run(fields, checks, input, &mut errors, rr);
    errors
}

/// The declaration of `name` among `fields`.
pub(super) fn lookup<'a>(fields: &'a [(String, Field)], name: &str) -> Option<&'a Field> {
    fields.iter().find(|(n, _)| n == name).map(|(_, f)| f)
}

/// A field definition reached by a dotted path through record fields (`redis.host`).
pub(super) fn lookup_path<'a>(fields: &'a [(String, Field)], path: &str) -> Option<&'a Field> {
    let mut parts = path.split('.');
    let mut field = lookup(fields, parts.next()?)?;
    for part in parts {
        field = lookup(&field.fields, part)?;
    }
    Some(field)
}

/// A conditional's `if_match` / `then_match` as Kong evaluates it: the matcher's attributes,
/// falling back to the checked field's own definition (Kong sets the field as the matcher's
/// `__index`), so the field's type and its own validators apply too.
pub(super) fn merge_matcher(matcher: &Field, base: Option<&Field>) -> Field {
    let Some(base) = base else {
        return matcher.clone();
    };
    let m = &matcher.validators;
    let b = &base.validators;
    let mut out = base.clone();
    out.required = matcher.required.or(base.required);
    out.err = matcher.err.clone().or_else(|| base.err.clone());
    out.referenceable = matcher.referenceable || base.referenceable;
    if !matcher.builtins.is_empty() {
        out.builtins = matcher.builtins.clone();
    }
    if matcher.elements.is_some() {
        out.elements = matcher.elements.clone();
    }
    if matcher.keys.is_some() {
        out.keys = matcher.keys.clone();
    }
    if matcher.values.is_some() {
        out.values = matcher.values.clone();
    }
    let v = &mut out.validators;
    v.eq = m.eq.clone().or_else(|| b.eq.clone());
    v.ne = m.ne.clone().or_else(|| b.ne.clone());
    v.one_of = m.one_of.clone().or_else(|| b.one_of.clone());
    v.not_one_of = m.not_one_of.clone().or_else(|| b.not_one_of.clone());
    v.gt = m.gt.or(b.gt);
    v.between = m.between.or(b.between);
    v.len_eq = m.len_eq.or(b.len_eq);
    v.len_min = m.len_min.or(b.len_min);
    v.len_max = m.len_max.or(b.len_max);
    v.r#match = m.r#match.clone().or_else(|| b.r#match.clone());
    v.not_match = m.not_match.clone().or_else(|| b.not_match.clone());
    v.match_all = m.match_all.clone().or_else(|| b.match_all.clone());
    v.match_none = m.match_none.clone().or_else(|| b.match_none.clone());
    v.match_any = m.match_any.clone().or_else(|| b.match_any.clone());
    v.starts_with = m.starts_with.clone().or_else(|| b.starts_with.clone());
    v.uuid = m.uuid || b.uuid;
    v.timestamp = m.timestamp || b.timestamp;
    v.is_regex = m.is_regex || b.is_regex;
    v.contains = m.contains.clone().or_else(|| b.contains.clone());
    v.mutually_exclusive_subsets = m
        .mutually_exclusive_subsets
        .clone()
        .or_else(|| b.mutually_exclusive_subsets.clone());
    out
}

/// The entries of a map value as Lua sees them: object keys are strings, array keys 1-based
/// integers.
fn map_entries(value: &Value) -> Vec<(Value, &Value)> {
    match value {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (Value::String(k.clone()), v))
            .collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (Value::from(i + 1), v))
            .collect(),
        _ => Vec::new(),
    }
}

/// A `foreign` value is the referenced entity's primary key, `{ "id": "<uuid>" }`.
fn validate_foreign_key(value: &Value) -> Result<(), ErrNode> {
    let problem = match value.as_object().and_then(|m| m.get("id")) {
        None | Some(Value::Bool(false)) => Some("missing primary key"),
        Some(Value::Null) => Some(REQUIRED),
        Some(Value::String(s)) if is_uuid(s) => None,
        Some(Value::String(_)) => Some("expected a valid UUID"),
        Some(_) => Some("expected a string"),
    };
    match problem {
        None => Ok(()),
        Some(p) => {
            let mut t = ErrTable::default();
            t.fields.insert("id".to_string(), msg(p.to_string()));
            Err(ErrNode::Table(t))
        }
    }
}

/// A validator failure: its message (replaced by the field's `err`) or a broken pattern, whose
/// message is kept as is.
enum Failure {
    Invalid(String),
    BrokenPattern(String),
    /// A custom function raised an error (or spent its budget): no `err` replaces it.
    Raised(String),
}

fn overridden(field: &Field, message: String) -> String {
    field.err.clone().unwrap_or(message)
}

/// Runs the attribute validators in Kong's order; the first failure is the field's message.
fn run_validators(field: &Field, value: &Value) -> Result<(), String> {
    match validators_in_order(field, value) {
        Ok(()) => Ok(()),
        Err(Failure::Invalid(m)) => Err(overridden(field, m)),
        Err(Failure::BrokenPattern(m) | Failure::Raised(m)) => Err(m),
    }
}

fn validators_in_order(field: &Field, value: &Value) -> Result<(), Failure> {
    let v = &field.validators;
    let fail = |m: String| Err(Failure::Invalid(m));
    let num = as_number(value);
    let text = value.as_str();

    if let Some(eq) = v.eq.as_ref().filter(|eq| !eq.is_null()) {
        if !lua_eq(value, eq) {
            return fail(format!("value must be {}", tostring(eq)));
        }
    }
    if let Some(ne) = v.ne.as_ref().filter(|ne| !ne.is_null()) {
        if lua_eq(value, ne) {
            return fail(format!("value must not be {}", tostring(value)));
        }
    }
    if let Some(options) = &v.not_one_of {
        if options.iter().any(|o| lua_eq(value, o)) {
            return fail(format!("must not be one of: {}", concat(options)));
        }
    }
    if let Some(options) = &v.one_of {
        if !options.iter().any(|o| lua_eq(value, o)) {
            return fail(format!("expected one of: {}", concat(options)));
        }
    }
    if let (Some(limit), Some(n)) = (v.gt, num) {
        if n <= limit {
            return fail(format!("value must be greater than {}", fmt_number(limit)));
        }
    }
    if let (true, Some(n)) = (v.timestamp, num) {
        if n <= 0.0 {
            return fail("expected a valid timestamp".to_string());
        }
    }
    if let (true, Some(s)) = (v.uuid, text) {
        if !is_uuid(s) {
            return fail("expected a valid UUID".to_string());
        }
    }
    if let (true, Some(s)) = (v.is_regex, text) {
        if crate::schema::regex::compile_check(s).is_err() {
            return fail(format!("not a valid regex: {s}"));
        }
    }
    if let (Some((lo, hi)), Some(n)) = (v.between, num) {
        if n < lo || n > hi {
            return fail(format!(
                "value should be between {} and {}",
                fmt_int(lo),
                fmt_int(hi)
            ));
        }
    }

    // Kong implies `len_min = 1` on strings: empty strings are rejected by default.
    let len_min = v.len_min.or((field.ty == FieldType::String).then_some(1));
    if v.len_eq.is_some() || len_min.is_some() || v.len_max.is_some() {
        if let Some(len) = length(value, field.ty == FieldType::Map) {
            if let Some(n) = v.len_eq.filter(|n| len != *n) {
                return fail(format!("length must be {n}"));
            }
            if let Some(n) = len_min.filter(|n| len < *n) {
                return fail(format!("length must be at least {n}"));
            }
            if let Some(n) = v.len_max.filter(|n| len > *n) {
                return fail(format!("length must be at most {n}"));
            }
        }
    }

    if let Some(s) = text {
        if let Some(prefix) = &v.starts_with {
            if !s.starts_with(prefix.as_str()) {
                return fail(format!("should start with: {prefix}"));
            }
        }
        let invalid = || format!("invalid value: {s}");
        if let Some(p) = &v.not_match {
            if matches(s, p)? {
                return fail(invalid());
            }
        }
        if let Some(list) = &v.match_none {
            for PatternErr { pattern, err } in list {
                if matches(s, pattern)? {
                    return fail(or_default(err, invalid));
                }
            }
        }
        if let Some(p) = &v.r#match {
            if !matches(s, p)? {
                return fail(invalid());
            }
        }
        if let Some(list) = &v.match_all {
            for PatternErr { pattern, err } in list {
                if !matches(s, pattern)? {
                    return fail(or_default(err, invalid));
                }
            }
        }
        if let Some(any) = &v.match_any {
            let mut found = false;
            for pattern in &any.patterns {
                if matches(s, pattern)? {
                    found = true;
                    break;
                }
            }
            if !found {
                return fail(or_default(&any.err, invalid));
            }
        }
    }

    if let (Some(wanted), Value::Array(items)) = (&v.contains, value) {
        if !items.iter().any(|i| lua_eq(i, wanted)) {
            return fail(format!("expected to contain: {}", tostring(wanted)));
        }
    }

    // Typedef `custom_validator`s, done natively.
    if let Some(s) = text {
        for builtin in &field.builtins {
            if let Err(e) = builtins::check(*builtin, s) {
                let e = if e.is_empty() {
                    format!("failed validating: {s}")
                } else {
                    e
                };
                return fail(e);
            }
        }
    }

    // The schema's own `custom_validator`, run in the sandbox (`custom`).
    if let Some(id) = field.custom_fn {
        match super::custom::run(id, value) {
            None | Some(Ok(Verdict::Pass)) => {}
            Some(Ok(Verdict::Fail(message))) => {
                return fail(
                    message.unwrap_or_else(|| format!("failed validating: {}", tostring(value))),
                )
            }
            Some(Err(e)) => {
                return Err(Failure::Raised(format!(
                    "the schema's custom_validator raised an error: {e}"
                )))
            }
        }
    }

    if let (Some(subsets), Value::Array(items)) = (&v.mutually_exclusive_subsets, value) {
        let mut member_of: Vec<&Vec<String>> = Vec::new();
        for item in items {
            let Some(item) = item.as_str() else { continue };
            // An element listed in several subsets belongs to the last one (Kong's union map).
            if let Some(subset) = subsets.iter().rev().find(|s| s.iter().any(|e| e == item)) {
                if !member_of.iter().any(|m| std::ptr::eq(*m, subset)) {
                    member_of.push(subset);
                }
            }
        }
        if member_of.len() > 1 {
            let list = member_of
                .iter()
                .map(|s| format!("({})", quoted_list(s)))
                .collect::<Vec<_>>()
                .join(", ");
            return fail(format!("these sets are mutually exclusive: {list}"));
        }
    }
    Ok(())
}

/// `value:match(pattern)` through the Lua pattern engine.
fn matches(subject: &str, pattern: &str) -> Result<bool, Failure> {
    lua_pattern::is_match(subject, pattern).map_err(Failure::BrokenPattern)
}

/// A `match_*` entry's `err`, or Kong's fallback when it has none.
fn or_default(err: &str, fallback: impl Fn() -> String) -> String {
    if err.is_empty() {
        fallback()
    } else {
        err.to_string()
    }
}

/// A `json` field: any JSON, checked against the inline schema of its `json_schema`.
fn json_field(field: &Field, value: &Value) -> Result<(), ErrNode> {
    let inline = field.json_schema.as_ref().and_then(|j| j.get("inline"));
    match inline {
        Some(schema) if !value.is_null() => super::json_schema::check(schema, value).map_err(msg),
        _ => Ok(()),
    }
}
