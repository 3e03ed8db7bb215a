//! Kong's JSON form of a plugin schema, as `GET /schemas/plugins/{name}` shows it: the plugin's
//! own top-level fields as `[{name: {attributes}}, …]` in declaration order, records required
//! unless they say otherwise (Kong's `make_records_required`), and `entity_checks` when the
//! schema has any. Functions (`custom_validator`, `custom_entity_check`'s function, `check`)
//! are omitted, as Kong strips them.

use serde_json::{json, Map, Value};

use crate::schema::model::{EntityCheck, Field, FieldType, PluginSchema};

/// `{"fields": [...], "entity_checks": [...]?}` for `schema`.
pub(crate) fn schema_json(schema: &PluginSchema) -> Value {
    let mut out = Map::new();
    out.insert("fields".to_string(), fields_json(&schema.fields));
    if !schema.entity_checks.is_empty() {
        out.insert(
            "entity_checks".to_string(),
            Value::Array(schema.entity_checks.iter().map(check_json).collect()),
        );
    }
    Value::Object(out)
}

fn fields_json(fields: &[(String, Field)]) -> Value {
    Value::Array(
        fields
            .iter()
            .map(|(name, field)| {
                let mut entry = Map::new();
                entry.insert(name.clone(), field_json(field));
                Value::Object(entry)
            })
            .collect(),
    )
}

/// A number as Kong's JSON encoder writes it: integral values without a fraction.
fn number(n: f64) -> Value {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

/// The attributes of one field.
fn field_json(field: &Field) -> Value {
    let mut out = attributes(field);
    out.insert("type".to_string(), Value::from(field.ty.as_str()));
    if field.ty == FieldType::Record || field.required.is_some() {
        out.insert("required".to_string(), Value::Bool(field.is_required()));
    }
    if let Some(default) = &field.default {
        out.insert("default".to_string(), default.clone());
    }
    if let Some(elements) = &field.elements {
        out.insert("elements".to_string(), field_json(elements));
    }
    if let Some(keys) = &field.keys {
        out.insert("keys".to_string(), field_json(keys));
    }
    if let Some(values) = &field.values {
        out.insert("values".to_string(), field_json(values));
    }
    if field.ty == FieldType::Record {
        out.insert("fields".to_string(), fields_json(&field.fields));
    }
    if !field.entity_checks.is_empty() {
        out.insert(
            "entity_checks".to_string(),
            Value::Array(field.entity_checks.iter().map(check_json).collect()),
        );
    }
    if let Some(reference) = &field.reference {
        out.insert("reference".to_string(), Value::from(reference.clone()));
    }
    if let Some(err) = &field.err {
        out.insert("err".to_string(), Value::from(err.clone()));
    }
    for (name, on) in [
        ("auto", field.auto),
        ("encrypted", field.encrypted),
        ("referenceable", field.referenceable),
    ] {
        if on {
            out.insert(name.to_string(), Value::Bool(true));
        }
    }
    if let Some(description) = &field.description {
        out.insert("description".to_string(), Value::from(description.clone()));
    }
    if let Some(js) = &field.json_schema {
        out.insert("json_schema".to_string(), js.clone());
    }
    Value::Object(out)
}

/// The validator attributes of a field (also the whole of an `if_match` / `then_match`).
fn attributes(field: &Field) -> Map<String, Value> {
    let v = &field.validators;
    let mut out = Map::new();
    if let Some(eq) = &v.eq {
        out.insert("eq".to_string(), eq.clone());
    }
    if let Some(ne) = &v.ne {
        out.insert("ne".to_string(), ne.clone());
    }
    if let Some(one_of) = &v.one_of {
        out.insert("one_of".to_string(), Value::Array(one_of.clone()));
    }
    if let Some(not_one_of) = &v.not_one_of {
        out.insert("not_one_of".to_string(), Value::Array(not_one_of.clone()));
    }
    if let Some(gt) = v.gt {
        out.insert("gt".to_string(), number(gt));
    }
    if let Some((lo, hi)) = v.between {
        out.insert("between".to_string(), json!([number(lo), number(hi)]));
    }
    for (name, n) in [
        ("len_eq", v.len_eq),
        ("len_min", v.len_min),
        ("len_max", v.len_max),
    ] {
        if let Some(n) = n {
            out.insert(name.to_string(), Value::from(n));
        }
    }
    for (name, s) in [
        ("match", &v.r#match),
        ("not_match", &v.not_match),
        ("starts_with", &v.starts_with),
    ] {
        if let Some(s) = s {
            out.insert(name.to_string(), Value::from(s.clone()));
        }
    }
    for (name, list) in [("match_all", &v.match_all), ("match_none", &v.match_none)] {
        if let Some(list) = list {
            let items = list
                .iter()
                .map(|p| json!({"pattern": p.pattern, "err": p.err}))
                .collect();
            out.insert(name.to_string(), Value::Array(items));
        }
    }
    if let Some(any) = &v.match_any {
        out.insert(
            "match_any".to_string(),
            json!({"patterns": any.patterns, "err": any.err}),
        );
    }
    for (name, on) in [
        ("uuid", v.uuid),
        ("timestamp", v.timestamp),
        ("is_regex", v.is_regex),
    ] {
        if on {
            out.insert(name.to_string(), Value::Bool(true));
        }
    }
    if let Some(contains) = &v.contains {
        out.insert("contains".to_string(), contains.clone());
    }
    if let Some(subsets) = &v.mutually_exclusive_subsets {
        let items = subsets.iter().map(|s| strings(s)).collect();
        out.insert(
            "mutually_exclusive_subsets".to_string(),
            Value::Array(items),
        );
    }
    out
}

/// An `if_match` / `then_match` / `else_match` table: its attributes without a type.
fn match_json(field: &Field) -> Value {
    let mut out = attributes(field);
    if let Some(required) = field.required {
        out.insert("required".to_string(), Value::Bool(required));
    }
    Value::Object(out)
}

fn check_json(check: &EntityCheck) -> Value {
    match check {
        EntityCheck::AtLeastOneOf(f) => json!({"at_least_one_of": strings(f)}),
        EntityCheck::OnlyOneOf(f) => json!({"only_one_of": strings(f)}),
        EntityCheck::Distinct(f) => json!({"distinct": strings(f)}),
        EntityCheck::MutuallyRequired(f) => json!({"mutually_required": strings(f)}),
        EntityCheck::MutuallyExclusive(f) => json!({"mutually_exclusive": strings(f)}),
        EntityCheck::MutuallyExclusiveSets { set1, set2 } => {
            json!({"mutually_exclusive_sets": {"set1": strings(set1), "set2": strings(set2)}})
        }
        EntityCheck::Conditional {
            if_field,
            if_match,
            then_field,
            then_match,
            then_err,
        } => {
            let mut c = Map::new();
            c.insert("if_field".to_string(), Value::from(if_field.clone()));
            c.insert("if_match".to_string(), match_json(if_match));
            c.insert("then_field".to_string(), Value::from(then_field.clone()));
            c.insert("then_match".to_string(), match_json(then_match));
            if let Some(err) = then_err {
                c.insert("then_err".to_string(), Value::from(err.clone()));
            }
            json!({ "conditional": c })
        }
        EntityCheck::ConditionalAtLeastOneOf {
            if_field,
            if_match,
            then_at_least_one_of,
            then_err,
            else_match,
            else_then_at_least_one_of,
            else_then_err,
        } => {
            let mut c = Map::new();
            c.insert("if_field".to_string(), Value::from(if_field.clone()));
            c.insert("if_match".to_string(), match_json(if_match));
            c.insert(
                "then_at_least_one_of".to_string(),
                strings(then_at_least_one_of),
            );
            if let Some(err) = then_err {
                c.insert("then_err".to_string(), Value::from(err.clone()));
            }
            if let Some(m) = else_match {
                c.insert("else_match".to_string(), match_json(m));
            }
            if let Some(f) = else_then_at_least_one_of {
                c.insert("else_then_at_least_one_of".to_string(), strings(f));
            }
            if let Some(err) = else_then_err {
                c.insert("else_then_err".to_string(), Value::from(err.clone()));
            }
            json!({ "conditional_at_least_one_of": c })
        }
        EntityCheck::CustomEntityCheck { field_sources, .. } => {
            json!({"custom_entity_check": {"field_sources": strings(field_sources)}})
        }
    }
}
