//! `shorthand_fields`: Kong maps a shorthand key of the input onto real fields on write (by
//! running its `func`). The converter found where each `func` puts its value; this replays that
//! move on an instance config before it is validated and filled, so configs written with the
//! shorthand validate and plan as Kong stores them.

use serde_json::{Map, Value};

use crate::schema::Field;

/// Moves the shorthand keys of `value` (a record of `field`) onto the real fields, at every
/// nesting level, in place. A shorthand whose `func` cannot be replayed is left where it is
/// (and reported as an unknown field by validation).
pub fn apply_in_place(field: &Field, value: &mut Value) {
    let Value::Object(out) = value else {
        return;
    };
    for sh in &field.shorthands {
        let Some(target) = &sh.target else { continue };
        let Some(v) = out.remove(&sh.name) else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        set_path(out, target, v);
    }
    for (name, sub) in &field.fields {
        if let Some(inner) = out.get_mut(name) {
            if inner.is_object() && (!sub.fields.is_empty() || !sub.shorthands.is_empty()) {
                apply_in_place(sub, inner);
            }
        }
    }
}

fn set_path(map: &mut Map<String, Value>, path: &[String], v: Value) {
    match path {
        [] => {}
        [last] => {
            map.insert(last.clone(), v);
        }
        [first, rest @ ..] => {
            let entry = map
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(inner) = entry {
                set_path(inner, rest, v);
            }
        }
    }
}
