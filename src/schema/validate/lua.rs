//! The Lua value semantics Kong's validators rely on, reproduced over JSON values: equality
//! (`==`), `tostring`, `string.format("%d")` and `"%s"`, the `#` length operator, Kong's
//! `is_nonempty`, its quoted field lists, and Vault reference detection.
//!
//! Kong decodes JSON with cjson, so every number is a Lua double, arrays and objects are both
//! tables, and `null` is `ngx.null`. Tables compare by identity in Lua, so two tables are never
//! equal here.

use serde_json::{Map, Value};

/// Lua's `a == b` for decoded JSON values: numbers compare as doubles, strings by bytes,
/// `null == null`, and tables never (Lua compares tables by identity).
pub(super) fn lua_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        (Value::String(x), Value::String(y)) => x == y,
        _ => false,
    }
}

/// Kong's `deepcompare` on decoded JSON: numbers by value, tables key by key.
pub(super) fn deep_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| deep_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A JSON number as the Lua double cjson would decode it.
pub(super) fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// LuaJIT's `tostring(number)`: C's `%.14g` (`5`, `0.1`, `1e+15`, `inf`).
pub(super) fn fmt_number(x: f64) -> String {
    fmt_g(x, 14)
}

/// C's `%.Pg` (as LuaJIT's `string.format` renders it), for a precision of 1 to 17.
pub(super) fn fmt_g(x: f64, precision: usize) -> String {
    let precision = precision.clamp(1, 17);
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // `%g` picks the style from the exponent of the `%e` rendering at precision P - 1.
    let digits = precision - 1;
    let sci = format!("{x:.digits$e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return sci;
    };
    if !(-4..precision as i32).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!(
            "{}e{}{:02}",
            trim_fraction(mantissa),
            sign,
            exp.unsigned_abs()
        )
    } else {
        let decimals = usize::try_from(precision as i32 - 1 - exp).unwrap_or(0);
        trim_fraction(&format!("{x:.decimals$}"))
    }
}

/// Drops trailing zeros of a fraction, and the point if nothing is left after it.
fn trim_fraction(s: &str) -> String {
    if !s.contains('.') {
        return s.to_string();
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// LuaJIT's `string.format("%d", x)`: the number truncated toward zero.
pub(super) fn fmt_int(x: f64) -> String {
    // `as` saturates (and maps NaN to 0): never panics.
    (x.trunc() as i64).to_string()
}

/// Lua's `tostring(v)` for a decoded JSON value. `null` renders as `null` (Kong special-cases
/// `ngx.null` wherever it prints one); tables render as compact JSON where Lua would print an
/// address (`table: 0x…`), which is useless in a message.
pub(super) fn tostring(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.as_f64().map(fmt_number).unwrap_or_else(|| n.to_string()),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => v.to_string(),
    }
}

/// `table.concat(values, ", ")` as Kong uses it for `one_of` / `not_one_of` messages.
pub(super) fn concat(values: &[Value]) -> String {
    values.iter().map(tostring).collect::<Vec<_>>().join(", ")
}

/// Kong's `quoted_list`: `'a', 'b', 'c'`.
pub(super) fn quoted_list<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| format!("'{}'", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lua's `fmt:format(arg)` for a user-supplied message template with one string argument:
/// `%%` becomes `%`, the first `%s` becomes `arg`; anything else is kept as written (Lua would
/// raise an error for a malformed directive or a missing argument).
pub(super) fn format_s(template: &str, arg: &str) -> String {
    let mut out = String::with_capacity(template.len() + arg.len());
    let mut used = false;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('%') => {
                chars.next();
                out.push('%');
            }
            Some('s') if !used => {
                chars.next();
                out.push_str(arg);
                used = true;
            }
            _ => out.push('%'),
        }
    }
    out
}

/// Kong's length validators: `#value` (bytes of a string, elements of an array), plus the key
/// count for `map` fields. `None` where Lua's `#` does not apply (numbers, booleans, `null`).
pub(super) fn length(v: &Value, is_map: bool) -> Option<i64> {
    let n = match v {
        Value::String(s) => s.len(),
        // `#t` of a JSON array is its element count; a map adds its pair count on top.
        Value::Array(a) if is_map => a.len().saturating_mul(2),
        Value::Array(a) => a.len(),
        // The border of a table without an array part is 0.
        Value::Object(m) if is_map => m.len(),
        Value::Object(_) => 0,
        _ => return None,
    };
    Some(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Kong's `is_nonempty`: not nil, not null, not an empty table, not an empty string.
pub(super) fn is_nonempty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    }
}

/// Whether a JSON value is a Lua table (array or object).
pub(super) fn is_table(v: &Value) -> bool {
    matches!(v, Value::Array(_) | Value::Object(_))
}

/// Kong's `is_sequence` over a decoded value: every JSON array, and the empty object (an empty
/// table is both). `None` for anything else.
pub(super) fn as_sequence(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(a) => Some(a.as_slice()),
        Value::Object(m) if m.is_empty() => Some(&[]),
        _ => None,
    }
}

/// [`as_record_map`] of a value the caller owns, moving instead of copying; anything else is
/// handed back.
pub(super) fn into_record_map(v: Value) -> Result<Map<String, Value>, Value> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Array(a) => Ok(a
            .into_iter()
            .enumerate()
            .map(|(i, e)| ((i + 1).to_string(), e))
            .collect()),
        other => Err(other),
    }
}

/// A table handed to a `record` as the keyed table Lua sees: objects as they are, arrays keyed
/// by their 1-based index (such keys are then unknown fields).
pub(super) fn as_record_map(v: &Value) -> Option<Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m.clone()),
        Value::Array(a) => Some(
            a.iter()
                .enumerate()
                .map(|(i, e)| ((i + 1).to_string(), e.clone()))
                .collect(),
        ),
        _ => None,
    }
}

/// Kong's `kong.vault.is_reference`: starts with `{vault://` and ends with `}`.
pub(super) fn is_reference(s: &str) -> bool {
    s.len() >= 10 && s.starts_with("{vault://") && s.ends_with('}')
}

/// Kong's `uuid` validator: 36 characters matching
/// `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, case-insensitively.
pub(super) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_render_like_luajit_tostring() {
        let cases: &[(f64, &str)] = &[
            (5.0, "5"),
            (-3.0, "-3"),
            (0.1, "0.1"),
            (0.5, "0.5"),
            (65535.0, "65535"),
            (2147483646.0, "2147483646"),
            (1e15, "1e+15"),
            (1e14, "1e+14"),
            (99999999999999.0, "99999999999999"),
            (123456789012345678.0, "1.2345678901235e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (0.0, "0"),
            (1.0 / 3.0, "0.33333333333333"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (x, want) in cases {
            assert_eq!(fmt_number(*x), *want, "{x}");
        }
    }

    #[test]
    fn percent_d_truncates() {
        assert_eq!(fmt_int(0.0), "0");
        assert_eq!(fmt_int(65535.0), "65535");
        assert_eq!(fmt_int(1.9), "1");
        assert_eq!(fmt_int(-1.5), "-1");
        assert_eq!(fmt_int(f64::NAN), "0");
    }

    #[test]
    fn equality_follows_lua() {
        assert!(lua_eq(&json!(1), &json!(1.0)));
        assert!(!lua_eq(&json!(1), &json!("1")));
        assert!(lua_eq(&json!(null), &json!(null)));
        assert!(!lua_eq(&json!([1]), &json!([1])));
        assert!(!lua_eq(&json!({}), &json!({})));
    }

    #[test]
    fn format_s_substitutes_once() {
        assert_eq!(format_s("bad %s here", "x"), "bad x here");
        assert_eq!(format_s("100%% of %s", "x"), "100% of x");
        assert_eq!(format_s("no directive", "x"), "no directive");
        assert_eq!(format_s("%s and %s", "x"), "x and %s");
        assert_eq!(format_s("trailing %", "x"), "trailing %");
    }

    #[test]
    fn lengths_and_emptiness() {
        assert_eq!(length(&json!("héllo"), false), Some(6));
        assert_eq!(length(&json!([1, 2]), false), Some(2));
        assert_eq!(length(&json!({"a": 1, "b": 2}), true), Some(2));
        assert_eq!(length(&json!(3), false), None);
        assert!(!is_nonempty(Some(&json!(""))));
        assert!(!is_nonempty(Some(&json!([]))));
        assert!(!is_nonempty(Some(&json!({}))));
        assert!(!is_nonempty(Some(&json!(null))));
        assert!(!is_nonempty(None));
        assert!(is_nonempty(Some(&json!(0))));
        assert!(is_nonempty(Some(&json!(false))));
    }

    #[test]
    fn references_and_uuids() {
        assert!(is_reference("{vault://env/x}"));
        assert!(!is_reference("{vault://"));
        assert!(!is_reference("vault://env/x"));
        assert!(is_uuid("3A6F5C2E-1B2C-4D5E-8F90-0123456789ab"));
        assert!(!is_uuid("3a6f5c2e1b2c4d5e8f900123456789ab0000"));
        assert!(!is_uuid("3a6f5c2e-1b2c-4d5e-8f90-0123456789a"));
    }
}
