//! `json_schema` on `json` fields: Kong validates the value against the field's inline JSON
//! schema (draft 4) with lua-resty-ljsonschema and answers with that library's message. This
//! follows its checks, their order and their words for the keywords plugin schemas use: `type`,
//! `properties`, `required`, `dependencies` (lists), `additionalProperties`,
//! `minProperties`/`maxProperties`, `items` (a schema or a tuple, `additionalItems: false`),
//! `minItems`/`maxItems`, `uniqueItems`, `minLength`/`maxLength`, `minimum`/`maximum` (with the
//! draft-4 `exclusive*` flags), `enum`, `allOf`/`anyOf`/`oneOf`/`not`.
//!
//! Not checked (a value is never refused for them): `pattern`, `patternProperties` and `format`
//! (the library matches them with its own regex engine), `multipleOf`, and keywords draft 4 does
//! not have (`const`). Properties are checked in the order the schema declares them; the
//! library walks them in Lua's hash order, so with several bad properties it may name another.
//! As the library does (it is told to tell arrays from objects by their contents), an empty
//! array or object is both an array and an object.

use serde_json::{Map, Value};

use super::lua::{deep_eq, fmt_g};

/// The first violation of `schema` by `value`, in the library's words.
pub fn check(schema: &Value, value: &Value) -> Result<(), String> {
    walk(schema, value, 0)
}

fn is_empty_table(value: &Value) -> bool {
    match value {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn objectish(value: &Value) -> bool {
    value.is_object() || is_empty_table(value)
}

fn arrayish(value: &Value) -> bool {
    value.is_array() || is_empty_table(value)
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => objectish(value),
        "array" => arrayish(value),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        _ => true,
    }
}

/// The library's `valuekind`: what a value is called in `wrong type` messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Array(a) if !a.is_empty() => "array",
        Value::Array(_) | Value::Object(_) => "object",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::Null => "null",
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
    }
}

/// The library's `format_number`: the shortest `%.Pg` (P from 6) that reads back the same.
fn number(x: f64) -> String {
    (6..=17)
        .map(|p| fmt_g(x, p))
        .find(|s| s.parse::<f64>().ok() == Some(x))
        .unwrap_or_else(|| fmt_g(x, 17))
}

fn walk(schema: &Value, value: &Value, depth: usize) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return Ok(());
    };
    if depth > 64 {
        return Ok(());
    }
    match s.get("type") {
        Some(Value::String(t)) if !type_matches(t, value) => {
            return Err(format!("wrong type: expected {t}, got {}", kind(value)));
        }
        Some(Value::Array(types)) => {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            if !names.iter().any(|t| type_matches(t, value)) {
                return Err(format!(
                    "wrong type: expected one of {}, got {}",
                    names.join(", "),
                    kind(value)
                ));
            }
        }
        _ => {}
    }
    const OBJECT_KEYS: [&str; 7] = [
        "properties",
        "additionalProperties",
        "patternProperties",
        "minProperties",
        "maxProperties",
        "dependencies",
        "required",
    ];
    if OBJECT_KEYS.iter().any(|k| s.contains_key(*k)) && objectish(value) {
        object(s, value.as_object().unwrap_or(&Map::new()), depth)?;
    }
    const ARRAY_KEYS: [&str; 4] = ["items", "minItems", "maxItems", "uniqueItems"];
    if ARRAY_KEYS.iter().any(|k| s.contains_key(*k)) && arrayish(value) {
        array(s, value.as_array().map(Vec::as_slice).unwrap_or(&[]), depth)?;
    }
    if let Some(text) = value.as_str() {
        let length = text.chars().count();
        if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
            if (length as u64) < min {
                return Err(format!(
                    "string too short, expected at least {min}, got {length}"
                ));
            }
        }
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
            if (length as u64) > max {
                return Err(format!(
                    "string too long, expected at most {max}, got {length}"
                ));
            }
        }
    }
    if let Some(n) = value.as_f64() {
        // The library's words, its misspelling included.
        let bounds = [
            ("minimum", "exclusiveMinimum", "greater"),
            ("maximum", "exclusiveMaximum", "smaller"),
        ];
        for (key, exclusive, side) in bounds {
            let Some(limit) = s.get(key).and_then(Value::as_f64) else {
                continue;
            };
            let strict = s.get(exclusive).and_then(Value::as_bool).unwrap_or(false);
            let beyond = if side == "greater" {
                n < limit
            } else {
                n > limit
            };
            if beyond || (strict && n == limit) {
                let how = if strict { "sctrictly " } else { "" };
                return Err(format!(
                    "expected {} to be {how}{side} than {}",
                    number(n),
                    number(limit)
                ));
            }
        }
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.iter().any(|o| deep_eq(o, value)) {
            return Err("matches none of the enum values".to_string());
        }
    }
    combinators(s, value, depth)
}

fn object(s: &Map<String, Value>, value: &Map<String, Value>, depth: usize) -> Result<(), String> {
    let required: Vec<&str> = match s.get("required") {
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let empty = Map::new();
    let properties = s
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let dependencies = s
        .get("dependencies")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let dependency_list = |prop: &str| -> Result<(), String> {
        if let Some(Value::Array(needed)) = dependencies.get(prop) {
            for d in needed.iter().filter_map(Value::as_str) {
                if !value.contains_key(d) {
                    return Err(format!("property {d} is required when {prop} is set"));
                }
            }
        }
        Ok(())
    };
    for (prop, sub) in properties {
        match value.get(prop) {
            Some(v) => {
                walk(sub, v, depth + 1)
                    .map_err(|e| format!("property {prop} validation failed: {e}"))?;
                dependency_list(prop)?;
            }
            None if required.contains(&prop.as_str()) => {
                return Err(format!("property {prop} is required"));
            }
            None => {}
        }
    }
    for prop in required.iter().filter(|p| !properties.contains_key(**p)) {
        if !value.contains_key(*prop) {
            return Err(format!("property {prop} is required"));
        }
    }
    for prop in dependencies.keys().filter(|p| !properties.contains_key(*p)) {
        if value.contains_key(prop) {
            dependency_list(prop)?;
        }
    }
    // Keys matching a `patternProperties` pattern are left alone (patterns are not checked).
    if !s.contains_key("patternProperties") {
        match s.get("additionalProperties") {
            Some(Value::Bool(false)) => {
                if let Some(extra) = value.keys().find(|k| !properties.contains_key(*k)) {
                    return Err(format!("additional properties forbidden, found {extra}"));
                }
            }
            Some(extra @ Value::Object(_)) => {
                for (k, v) in value.iter().filter(|(k, _)| !properties.contains_key(*k)) {
                    walk(extra, v, depth + 1)
                        .map_err(|e| format!("failed to validate additional property {k}: {e}"))?;
                }
            }
            _ => {}
        }
    }
    let count = value.len() as u64;
    if let Some(min) = s.get("minProperties").and_then(Value::as_u64) {
        if count < min {
            return Err(format!("expect object to have at least {min} properties"));
        }
    }
    if let Some(max) = s.get("maxProperties").and_then(Value::as_u64) {
        if count > max {
            return Err(format!("expect object to have at most {max} properties"));
        }
    }
    Ok(())
}

fn array(s: &Map<String, Value>, items: &[Value], depth: usize) -> Result<(), String> {
    let count = items.len() as u64;
    if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
        if count < min {
            return Err(format!("expect array to have at least {min} items"));
        }
    }
    if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
        if count > max {
            return Err(format!("expect array to have at most {max} items"));
        }
    }
    match s.get("items") {
        Some(Value::Array(tuple)) if !tuple.is_empty() => {
            for (i, (schema, item)) in tuple.iter().zip(items).enumerate() {
                walk(schema, item, depth + 1)
                    .map_err(|e| format!("failed to validate item {}: {e}", i + 1))?;
            }
            if s.get("additionalItems") == Some(&Value::Bool(false)) && items.len() > tuple.len() {
                return Err("found unexpected extra items in array".to_string());
            }
        }
        Some(schema @ Value::Object(_)) => {
            for (i, item) in items.iter().enumerate() {
                walk(schema, item, depth + 1)
                    .map_err(|e| format!("failed to validate item {}: {e}", i + 1))?;
            }
        }
        _ => {}
    }
    if s.get("uniqueItems") == Some(&Value::Bool(true)) {
        for i in 0..items.len() {
            for j in i + 1..items.len() {
                if deep_eq(&items[i], &items[j]) {
                    return Err(format!(
                        "expected unique items but items {} and {} are equal",
                        i + 1,
                        j + 1
                    ));
                }
            }
        }
    }
    Ok(())
}

fn combinators(s: &Map<String, Value>, value: &Value, depth: usize) -> Result<(), String> {
    if let Some(Value::Array(all)) = s.get("allOf") {
        for (i, sub) in all.iter().enumerate() {
            walk(sub, value, depth + 1).map_err(|e| format!("allOf {} failed: {e}", i + 1))?;
        }
    }
    if let Some(Value::Array(any)) = s.get("anyOf") {
        let mut unmatched = Vec::new();
        for (i, sub) in any.iter().enumerate() {
            match walk(sub, value, depth + 1) {
                Ok(()) => {
                    unmatched.clear();
                    break;
                }
                Err(e) => unmatched.push(format!("{}) {e}", i + 1)),
            }
        }
        if !unmatched.is_empty() {
            return Err(format!(
                "object needs one of the following rectifications: {}",
                unmatched.join("; ")
            ));
        }
    }
    if let Some(Value::Array(one)) = s.get("oneOf") {
        let mut matched: Option<usize> = None;
        for (i, sub) in one.iter().enumerate() {
            if walk(sub, value, depth + 1).is_ok() {
                if let Some(first) = matched {
                    return Err(format!(
                        "value should match only one schema, but matches both schemas {} and {}",
                        first + 1,
                        i + 1
                    ));
                }
                matched = Some(i);
            }
        }
        if matched.is_none() {
            return Err("value should match only one schema, but matches none".to_string());
        }
    }
    if let Some(not) = s.get("not") {
        if walk(not, value, depth + 1).is_ok() {
            return Err("value wasn't supposed to match schema".to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check;

    #[test]
    fn messages_are_the_validator_libraries() {
        let schema = json!({
            "type": "object",
            "required": ["mode"],
            "properties": {
                "mode": { "type": "string", "enum": ["a", "b"] },
                "limits": { "type": "array", "items": { "type": "integer", "minimum": 1 } },
                "name": { "type": "string", "minLength": 2 }
            },
            "additionalProperties": false
        });
        assert!(check(&schema, &json!({"mode": "a", "limits": [1, 2]})).is_ok());
        let fails = |value| check(&schema, &value).unwrap_err();
        assert_eq!(fails(json!({"limits": []})), "property mode is required");
        assert_eq!(
            fails(json!({"mode": "a", "limits": [2, 0.5]})),
            "property limits validation failed: failed to validate item 2: wrong type: expected integer, got number"
        );
        assert_eq!(
            fails(json!({"mode": "a", "limits": [0]})),
            "property limits validation failed: failed to validate item 1: expected 0 to be greater than 1"
        );
        assert_eq!(
            fails(json!({"mode": "c"})),
            "property mode validation failed: matches none of the enum values"
        );
        assert_eq!(
            fails(json!({"mode": "a", "name": "é"})),
            "property name validation failed: string too short, expected at least 2, got 1"
        );
        assert_eq!(
            fails(json!({"mode": "a", "x": 1})),
            "additional properties forbidden, found x"
        );
        assert_eq!(fails(json!("x")), "wrong type: expected object, got string");
        // An empty array is an object too, as the library tells them apart by content.
        assert_eq!(fails(json!([])), "property mode is required");
        assert_eq!(
            check(&json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}), &json!(1.5))
                .unwrap_err(),
            "object needs one of the following rectifications: 1) wrong type: expected string, got number; 2) wrong type: expected integer, got number"
        );
        assert_eq!(
            check(
                &json!({"maximum": 2.5, "exclusiveMaximum": true}),
                &json!(2.5)
            )
            .unwrap_err(),
            "expected 2.5 to be sctrictly smaller than 2.5"
        );
        assert!(check(&json!({"unknownKeyword": 1, "const": 3}), &json!(5)).is_ok());
    }
}
