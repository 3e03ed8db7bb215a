//! A plugin's `ordering` (Kong 3.x dynamic plugin ordering): `{before?: {access: [name]},
//! after?: {access: [name]}}`, checked as the control plane checks it. The local control plane
//! and the state loader share it, so `lint` refuses what the control plane would.

use serde_json::Value;

use super::validate::FieldError;

fn err(path: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        path: path.into(),
        message: message.into(),
    }
}

/// Whether `s` is a valid entity name (Kong's `utf8_name`): not empty; ASCII letters, digits and
/// `.-_~`, or any non-ASCII character.
fn valid_utf8_name(s: &str) -> bool {
    crate::schema::builtins::check(crate::schema::Builtin::Utf8Name, s).is_ok()
}

/// Checks a plugin's `ordering`, pushing one error per problem.
pub fn check_ordering(value: &Value, errors: &mut Vec<FieldError>) {
    let Some(map) = value.as_object() else {
        errors.push(err("ordering", "expected a record"));
        return;
    };
    for (key, phases) in map {
        if key != "before" && key != "after" {
            errors.push(err(format!("ordering.{key}"), "unknown field"));
            continue;
        }
        if phases.is_null() {
            continue;
        }
        let Some(phases) = phases.as_object() else {
            errors.push(err(format!("ordering.{key}"), "expected a map"));
            continue;
        };
        for (phase, names) in phases {
            if phase != "access" {
                errors.push(err(
                    format!("ordering.{key}"),
                    format!("invalid phase '{phase}'; expected one of: access"),
                ));
                continue;
            }
            match names.as_array() {
                Some(a) if a.iter().all(Value::is_string) => {
                    for (i, n) in a.iter().enumerate() {
                        if n.as_str().is_some_and(|n| !valid_utf8_name(n)) {
                            errors.push(err(
                                format!("ordering.{key}.{phase}.{}", i + 1),
                                "invalid value: expected a plugin name",
                            ));
                        }
                    }
                }
                _ => errors.push(err(
                    format!("ordering.{key}.{phase}"),
                    "expected an array of strings",
                )),
            }
        }
    }
}
