//! `shorthand_fields`: Kong maps a shorthand key of the input onto real fields on write, in
//! `process_auto_fields`, before anything else is validated. Per record, in declaration order,
//! for each shorthand key present (`null` included):
//!
//! 1. its value must pass the shorthand's own definition (type, validators);
//! 2. a deprecated shorthand (`deprecation` with `replaced_with` paths, else
//!    `translate_backwards`) must agree with a non-null value already at those paths:
//!    `both deprecated and new field are used but their values mismatch: …`;
//! 3. the key is removed and its `func` is called with the value; each key it returns is set,
//!    tables merged into what is there (a deprecated shorthand's output loses to real values
//!    that are set, a plain one wins).
//!
//! Errors stop the write with those errors alone, as Kong's insert does. `func` runs in the
//! sandbox through the Lua layer's runner ([`super::custom`]); without one, the move the
//! converter found by probing `func` is replayed instead, and a shorthand it could not
//! describe is left in place (then reported as an unknown field).

use serde_json::{Map, Value};

use super::custom;
use super::field::validate_field;
use super::lua::{deep_eq, tostring};
use super::{get_in, msg, set_in, ErrNode};
use crate::schema::{Field, Shorthand};

/// Applies the shorthand fields of `field` (a record) to `value` in place, at every nesting
/// level. Returns the errors, by path (`path` is the record's own), when there are any.
pub fn apply(field: &Field, value: &mut Value, path: &str) -> Vec<(String, ErrNode)> {
    let Value::Object(out) = value else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    for sh in &field.shorthands {
        let Some(v) = out.get(&sh.name).cloned() else {
            continue;
        };
        let at = join(path, &sh.name);
        if let Some(definition) = &sh.definition {
            let required = definition.required == Some(true);
            if let Err(e) = validate_field(definition, &v, required, true) {
                errors.push((at, e));
                continue;
            }
        }
        if let Some(message) = mismatch(sh, out, &v) {
            errors.push((at, msg(message)));
            continue;
        }
        out.remove(&sh.name);
        let produced = match sh.func.and_then(|id| custom::map(id, &v)) {
            Some(Ok(Some(Value::Object(produced)))) => produced,
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                errors.push((
                    at,
                    msg(format!(
                        "the schema's shorthand function raised an error: {e}"
                    )),
                ));
                continue;
            }
            None => {
                match &sh.target {
                    Some(target) if !v.is_null() => {
                        set_in(out, target.iter().map(String::as_str), v)
                    }
                    Some(_) => {}
                    None => {
                        out.insert(sh.name.clone(), v);
                    }
                }
                continue;
            }
        };
        merge(out, produced, sh.deprecated);
    }
    if !errors.is_empty() {
        return errors;
    }
    for (name, sub) in &field.fields {
        if let Some(inner) = out.get_mut(name) {
            if inner.is_object() && (!sub.fields.is_empty() || !sub.shorthands.is_empty()) {
                errors.extend(apply(sub, inner, &join(path, name)));
            }
        }
    }
    errors
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Kong's `validate_deprecation_exclusiveness`: the message when a deprecated shorthand's value
/// differs from a non-null value already at one of its replacement paths.
fn mismatch(sh: &Shorthand, out: &Map<String, Value>, v: &Value) -> Option<String> {
    if !sh.deprecated || v.is_null() {
        return None;
    }
    sh.replaced_with.iter().find_map(|path| {
        let current = get_in(out, path.iter().map(String::as_str))?;
        (!current.is_null() && !deep_eq(current, v)).then(|| {
            format!(
                "both deprecated and new field are used but their values mismatch: {} = {} vs {} = {}",
                sh.name,
                tostring(v),
                path.join("."),
                tostring(current)
            )
        })
    })
}

/// Sets what a shorthand's `func` returned: tables are merged with what is there (Kong's
/// `table_merge`, or for a deprecated shorthand `null_aware_table_merge`, where set values
/// win), other values set unless deprecated and a value is already set.
fn merge(out: &mut Map<String, Value>, produced: Map<String, Value>, deprecated: bool) {
    for (k, new) in produced {
        let current = out.get(&k).filter(|c| !c.is_null());
        let value = match (&new, current) {
            (Value::Object(new_map), Some(Value::Object(cur))) => {
                let mut merged;
                if deprecated {
                    merged = new_map.clone();
                    for (ck, cv) in cur {
                        if !merged.contains_key(ck) || !cv.is_null() {
                            merged.insert(ck.clone(), cv.clone());
                        }
                    }
                } else {
                    merged = cur.clone();
                    for (nk, nv) in new_map {
                        merged.insert(nk.clone(), nv.clone());
                    }
                }
                Value::Object(merged)
            }
            (Value::Object(_) | Value::Array(_), Some(cur)) if deprecated => cur.clone(),
            (Value::Object(_) | Value::Array(_), _) => new,
            (_, Some(_)) if deprecated => continue,
            _ => new,
        };
        out.insert(k, value);
    }
}
