//! `json_schema` on `json` fields: Kong validates the value against the field's inline JSON
//! schema (draft 4). This covers the keywords plugin schemas use: `type`, `enum`, `const`,
//! `properties`, `required`, `additionalProperties`, `items`, `minItems`/`maxItems`,
//! `minLength`/`maxLength`, `pattern` (as a substring test is not enough, patterns are left
//! unchecked), `minimum`/`maximum`, `anyOf`/`oneOf`/`allOf`/`not`. Unknown keywords are ignored,
//! so the check is never stricter than the schema says.

use serde_json::{Map, Value};

/// The first violation of `schema` by `value`, with the JSON path it is at (`$` the root).
pub fn check(schema: &Value, value: &Value) -> Result<(), String> {
    walk(schema, value, "$", 0)
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        _ => true,
    }
}

fn walk(schema: &Value, value: &Value, at: &str, depth: usize) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return Ok(());
    };
    if depth > 64 {
        return Ok(());
    }
    if let Some(t) = s.get("type") {
        let names: Vec<&str> = match t {
            Value::String(n) => vec![n.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() && !names.iter().any(|n| type_matches(n, value)) {
            return Err(format!("{at}: wrong type: expected {}", names.join(" or ")));
        }
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.contains(value) {
            return Err(format!("{at}: matches none of the enum values"));
        }
    }
    if let Some(c) = s.get("const") {
        if c != value {
            return Err(format!("{at}: does not equal the constant"));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
            if n < min {
                return Err(format!("{at}: expected {n} to be at least {min}"));
            }
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
            if n > max {
                return Err(format!("{at}: expected {n} to be at most {max}"));
            }
        }
    }
    if let Some(text) = value.as_str() {
        let len = text.chars().count() as u64;
        if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
            if len < min {
                return Err(format!("{at}: string too short, expected at least {min}"));
            }
        }
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
            if len > max {
                return Err(format!("{at}: string too long, expected at most {max}"));
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < min {
                return Err(format!("{at}: expected at least {min} items"));
            }
        }
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
            if (items.len() as u64) > max {
                return Err(format!("{at}: expected at most {max} items"));
            }
        }
        if let Some(item_schema) = s.get("items").filter(|i| i.is_object()) {
            for (i, item) in items.iter().enumerate() {
                walk(item_schema, item, &format!("{at}[{i}]"), depth + 1)?;
            }
        }
    }
    if let Some(obj) = value.as_object() {
        object(s, obj, at, depth)?;
    }
    combinators(s, value, at, depth)
}

fn object(
    s: &Map<String, Value>,
    obj: &Map<String, Value>,
    at: &str,
    depth: usize,
) -> Result<(), String> {
    if let Some(Value::Array(required)) = s.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !obj.contains_key(name) {
                return Err(format!("{at}: property {name} is required"));
            }
        }
    }
    let props = s.get("properties").and_then(Value::as_object);
    for (k, v) in obj {
        match props.and_then(|p| p.get(k)) {
            Some(sub) => walk(sub, v, &format!("{at}.{k}"), depth + 1)?,
            None => match s.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    return Err(format!("{at}: additional property {k} is not allowed"))
                }
                Some(extra @ Value::Object(_)) => walk(extra, v, &format!("{at}.{k}"), depth + 1)?,
                _ => {}
            },
        }
    }
    Ok(())
}

fn combinators(
    s: &Map<String, Value>,
    value: &Value,
    at: &str,
    depth: usize,
) -> Result<(), String> {
    if let Some(Value::Array(all)) = s.get("allOf") {
        for sub in all {
            walk(sub, value, at, depth + 1)?;
        }
    }
    if let Some(Value::Array(any)) = s.get("anyOf") {
        if !any
            .iter()
            .any(|sub| walk(sub, value, at, depth + 1).is_ok())
        {
            return Err(format!("{at}: matches none of the anyOf schemas"));
        }
    }
    if let Some(Value::Array(one)) = s.get("oneOf") {
        let n = one
            .iter()
            .filter(|sub| walk(sub, value, at, depth + 1).is_ok())
            .count();
        if n != 1 {
            return Err(format!(
                "{at}: matches {n} of the oneOf schemas, expected exactly one"
            ));
        }
    }
    if let Some(not) = s.get("not") {
        if walk(not, value, at, depth + 1).is_ok() {
            return Err(format!("{at}: matches a schema it must not match"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn checks_what_plugin_schemas_use() {
        let schema = json!({
            "type": "object",
            "required": ["mode"],
            "properties": {
                "mode": { "type": "string", "enum": ["a", "b"] },
                "limits": { "type": "array", "items": { "type": "integer", "minimum": 1 } }
            },
            "additionalProperties": false
        });
        assert!(super::check(&schema, &json!({"mode": "a", "limits": [1, 2]})).is_ok());
        assert_eq!(
            super::check(&schema, &json!({"limits": []})).unwrap_err(),
            "$: property mode is required"
        );
        assert_eq!(
            super::check(&schema, &json!({"mode": "a", "limits": [0]})).unwrap_err(),
            "$.limits[0]: expected 0 to be at least 1"
        );
        assert!(super::check(&schema, &json!({"mode": "c"})).is_err());
        assert!(super::check(&schema, &json!({"mode": "a", "x": 1}))
            .unwrap_err()
            .contains("additional property x"));
        assert!(super::check(&json!({"unknownKeyword": 1}), &json!(5)).is_ok());
    }
}
