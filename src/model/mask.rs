//! What is secret and how it is shown, decided once. Every place that prints, stores or sends
//! a value that may hold a secret goes through here: the plan's field changes (`diff`, `plan`),
//! the plan file (`plan::prepare`), apply's and lint's messages, the target's address and
//! errors (`backend`, `cli`).
//!
//! What is secret:
//! * a value substituted from the environment (`${{ env "NAME" }}`), wherever it appears;
//! * the value of a config field its schema marks `encrypted` (passwords, tokens), even when
//!   it is written in the state file;
//! * the target's credentials: the token flags, the value of the authentication header and the
//!   token inside it (`Bearer …`), and the password of the target's URL.
//!
//! How it is shown: a secret inside text becomes [`MASKED`]; an `encrypted` field's old and new
//! values become [`MASKED`] and [`MASKED_CHANGED`]; the live side of a field whose declared
//! value holds a substituted secret becomes [`MASKED_LIVE`] (the value being rotated out, which
//! masking by today's values cannot recognise).

use serde_json::Value;

use crate::schema::{Field, PluginSchema};

/// What a secret is replaced with.
pub const MASKED: &str = "[masked]";

/// The new side of a changed `encrypted` field, distinct from the old side so a change still
/// reads as one.
pub const MASKED_CHANGED: &str = "[masked, changed]";

/// The live side of a changed field whose declared value holds a substituted secret.
pub const MASKED_LIVE: &str = "[masked: live value]";

/// Replaces each of `secrets` inside `text` with [`MASKED`] (longest first, so a secret that
/// contains another is masked whole; empty ones are ignored).
pub fn mask_secrets(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in sorted {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASKED);
        }
    }
    out
}

/// `v` with [`mask_secrets`] applied to every string inside it (object keys are names, not
/// values, and stay).
pub fn mask_value(v: &Value, secrets: &[String]) -> Value {
    match v {
        Value::String(s) => Value::String(mask_secrets(s, secrets)),
        Value::Array(a) => Value::Array(a.iter().map(|x| mask_value(x, secrets)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), mask_value(x, secrets)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Masks both sides of a change by the substituted `secrets`. A field whose declared value
/// holds a secret holds a secret on the live side too, so the live value of such a field is
/// hidden whole as [`MASKED_LIVE`] (field by field in objects).
pub fn mask_change(
    old: Option<&Value>,
    new: Option<&Value>,
    secrets: &[String],
) -> (Option<Value>, Option<Value>) {
    if let (Some(Value::Object(a)), Some(Value::Object(b))) = (old, new) {
        let mut masked_old = serde_json::Map::new();
        let mut masked_new = serde_json::Map::new();
        for (k, bv) in b {
            let (o, n) = mask_change(a.get(k), Some(bv), secrets);
            if let Some(o) = o {
                masked_old.insert(k.clone(), o);
            }
            if let Some(n) = n {
                masked_new.insert(k.clone(), n);
            }
        }
        for (k, av) in a {
            if !b.contains_key(k) {
                masked_old.insert(k.clone(), mask_value(av, secrets));
            }
        }
        return (
            Some(Value::Object(masked_old)),
            Some(Value::Object(masked_new)),
        );
    }
    let masked_new = new.map(|v| mask_value(v, secrets));
    let secret = masked_new.as_ref() != new;
    let masked_old = match old {
        Some(o) if secret && Some(o) == new => masked_new.clone(),
        Some(o) if secret && !o.is_null() => Some(Value::String(MASKED_LIVE.to_string())),
        other => other.map(|v| mask_value(v, secrets)),
    };
    (masked_old, masked_new)
}

/// Whether the field at a dotted instance path (`config.redis.password`, list items numbered)
/// is one `schema` marks `encrypted`.
pub fn is_encrypted(schema: &PluginSchema, path: &str) -> bool {
    field_at(schema, path).is_some_and(|f| f.encrypted)
}

/// The schema field at a dotted instance path.
fn field_at<'s>(schema: &'s PluginSchema, path: &str) -> Option<&'s Field> {
    let mut parts = path.split('.');
    let mut field = schema.field(parts.next()?)?;
    for part in parts {
        field = match field.field(part) {
            Some(f) => f,
            None => field.elements.as_deref().or(field.values.as_deref())?,
        };
    }
    Some(field)
}

/// Hides both sides of a change of an `encrypted` field: a set side (not absent, not null)
/// becomes [`MASKED`], the new side [`MASKED_CHANGED`] when there is an old side.
pub fn mask_encrypted(old: &mut Option<Value>, new: &mut Option<Value>) {
    if old.as_ref().is_some_and(|v| !v.is_null()) {
        *old = Some(Value::String(MASKED.to_string()));
    }
    if new.as_ref().is_some_and(|v| !v.is_null()) {
        *new = Some(Value::String(
            if old.is_some() {
                MASKED_CHANGED
            } else {
                MASKED
            }
            .to_string(),
        ));
    }
}

/// The secrets an authentication header value carries: the value itself and, for a bearer
/// token, the bare token.
pub fn credential_secrets(header_value: &str) -> Vec<String> {
    let bare = header_value.strip_prefix("Bearer ").unwrap_or(header_value);
    [header_value, bare]
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `address` with the password of its URL, if it has one, replaced with [`MASKED`]
/// (percent-encoded, as a URL's userinfo holds it) and no trailing `/`; other addresses as
/// they are.
pub fn mask_url_password(address: &str) -> String {
    if let Ok(mut url) = reqwest::Url::parse(address) {
        if url.password().is_some() && url.set_password(Some(MASKED)).is_ok() {
            return url.as_str().trim_end_matches('/').to_string();
        }
    }
    address.to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::FieldType;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn masking_replaces_longest_secret_first() {
        let secrets = s(&["abc", "abcdef", ""]);
        assert_eq!(
            mask_secrets("key=abcdef and abc", &secrets),
            "key=[masked] and [masked]"
        );
        assert_eq!(mask_secrets("nothing here", &secrets), "nothing here");
    }

    #[test]
    fn values_are_masked_inside_strings_not_keys() {
        let v = json!({"tok-1": ["x tok-1 y", 3, null], "k": {"n": "tok-1"}});
        assert_eq!(
            mask_value(&v, &s(&["tok-1"])),
            json!({"tok-1": ["x [masked] y", 3, null], "k": {"n": "[masked]"}})
        );
    }

    #[test]
    fn a_changed_secret_hides_the_live_value_whole() {
        let secrets = s(&["new-secret"]);
        let (old, new) = mask_change(
            Some(&json!({"password": "old-secret", "host": "a", "gone": "new-secret"})),
            Some(&json!({"password": "new-secret", "host": "b"})),
            &secrets,
        );
        assert_eq!(
            old,
            Some(json!({"password": MASKED_LIVE, "host": "a", "gone": MASKED}))
        );
        assert_eq!(new, Some(json!({"password": MASKED, "host": "b"})));
        // Unchanged secret: both sides show the masked value; a null live side stays null.
        let same = mask_change(
            Some(&json!("new-secret")),
            Some(&json!("new-secret")),
            &secrets,
        );
        assert_eq!(same, (Some(json!(MASKED)), Some(json!(MASKED))));
        let unset = mask_change(Some(&Value::Null), Some(&json!("new-secret")), &secrets);
        assert_eq!(unset, (Some(Value::Null), Some(json!(MASKED))));
    }

    #[test]
    fn encrypted_fields_by_path_and_how_they_show() {
        let mut password = Field::new(FieldType::String);
        password.encrypted = true;
        let mut redis = Field::new(FieldType::Record);
        redis.fields = vec![("password".into(), password)];
        let mut config = Field::new(FieldType::Record);
        config.fields = vec![("redis".into(), redis)];
        let schema = PluginSchema {
            name: "p".into(),
            fields: vec![("config".into(), config)],
            entity_checks: Vec::new(),
            has_check_function: false,
            custom_source: None,
        };
        assert!(is_encrypted(&schema, "config.redis.password"));
        assert!(!is_encrypted(&schema, "config.redis"));
        assert!(!is_encrypted(&schema, "config.other"));

        let (mut old, mut new) = (Some(json!("a")), Some(json!("b")));
        mask_encrypted(&mut old, &mut new);
        assert_eq!(
            (old, new),
            (Some(json!(MASKED)), Some(json!(MASKED_CHANGED)))
        );
        let (mut old, mut new) = (None, Some(json!("b")));
        mask_encrypted(&mut old, &mut new);
        assert_eq!((old, new), (None, Some(json!(MASKED))));
        let (mut old, mut new) = (Some(Value::Null), Some(json!("b")));
        mask_encrypted(&mut old, &mut new);
        assert_eq!((old, new), (Some(Value::Null), Some(json!(MASKED_CHANGED))));
    }

    #[test]
    fn credentials_and_url_passwords() {
        assert_eq!(
            credential_secrets("Bearer kpat_1"),
            s(&["Bearer kpat_1", "kpat_1"])
        );
        assert_eq!(credential_secrets("tok"), s(&["tok", "tok"]));
        assert_eq!(
            mask_url_password("https://user:pw@kong.example:8444/"),
            // The URL keeps its form: the mask is percent-encoded in the userinfo.
            "https://user:%5Bmasked%5D@kong.example:8444"
        );
        assert_eq!(
            mask_url_password("http://localhost:8001/"),
            "http://localhost:8001/"
        );
    }
}
