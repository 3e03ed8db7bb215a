//! The canonical form of entities and their content hashes (CONTRACT §4.1), defined once.
//!
//! * A custom plugin is unchanged when `sha256(handler)` and `sha256(schema)` of the exact
//!   bytes are equal on both sides, and its tags are equal.
//! * An instance is unchanged when the sha256 of its canonical JSON is equal on both sides.
//!   Canonical form: the instance object with `name`, `instance_name`, `config`, `enabled`,
//!   `protocols`, `service`, `route`, `consumer`, `consumer_group` (each `{"id": …}` or null),
//!   `condition`, `ordering` and `tags`; config with schema defaults filled and unset optional
//!   fields as null; object keys sorted; tags, protocols and set-typed config fields sorted;
//!   integral numbers written as integers; server-only fields (`id`, `created_at`,
//!   `updated_at`) left out.
//!
//! A snapshot test pins the hash of a known entity, so an accidental change fails loudly.

use std::io::Write as _;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::live::{LiveCustomPlugin, LivePlugin, LiveState, ScopeKind};
use super::Scope;
use crate::schema::{Field, FieldType, PluginSchema};

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Writes `v` as compact JSON with object keys sorted and integral numbers as integers.
pub fn canonical_json(v: &Value) -> String {
    let mut out = Vec::new();
    write_canonical(v, &mut out);
    into_string(out)
}

/// The writer only ever writes UTF-8 (JSON text of `str`s).
fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `[a,b,…]`, each item written by `write`.
fn write_seq<T>(
    items: impl IntoIterator<Item = T>,
    out: &mut Vec<u8>,
    write: impl Fn(T, &mut Vec<u8>),
) {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(item, out);
    }
    out.push(b']');
}

/// A string as serde_json writes it (its escaping, byte for byte).
fn write_str(s: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            out.push(b'{');
            // serde_json's map keeps its keys sorted bytewise unless some dependency turns on
            // its `preserve_order` feature; sort only when they are not.
            let sorted = map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b);
            let mut write_entry = |i: usize, k: &str, v: &Value| {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_canonical(v, out);
            };
            if sorted {
                for (i, (k, v)) in map.iter().enumerate() {
                    write_entry(i, k, v);
                }
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    write_entry(i, k, v);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => write_seq(items, out, write_canonical),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                let _ = write!(out, "{}", f as i64);
            }
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        Value::String(s) => write_str(s, out),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Null => out.extend_from_slice(b"null"),
    }
}

/// Sorts set-typed fields of a config in place, following the schema.
pub fn sort_sets(field: &Field, value: &mut Value) {
    match (field.ty, value) {
        (FieldType::Record, Value::Object(map)) => {
            for (name, sub) in &field.fields {
                if let Some(v) = map.get_mut(name) {
                    sort_sets(sub, v);
                }
            }
        }
        (FieldType::Set, Value::Array(items)) => {
            if let Some(el) = &field.elements {
                for item in items.iter_mut() {
                    sort_sets(el, item);
                }
            }
            items.sort_by_cached_key(canonical_json);
            items.dedup();
        }
        (FieldType::Array, Value::Array(items)) => {
            if let Some(el) = &field.elements {
                for item in items.iter_mut() {
                    sort_sets(el, item);
                }
            }
        }
        (FieldType::Map, Value::Object(map)) => {
            if let Some(values) = &field.values {
                for v in map.values_mut() {
                    sort_sets(values, v);
                }
            }
        }
        _ => {}
    }
}

/// The fields of an instance that its content hash covers.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceContent {
    pub name: String,
    pub instance_name: Option<String>,
    /// Filled with defaults (unset optional fields null).
    pub config: Value,
    pub enabled: bool,
    pub protocols: Vec<String>,
    /// Ids.
    pub scope: Scope,
    pub condition: Option<String>,
    pub ordering: Option<Value>,
    pub tags: Vec<String>,
}

impl InstanceContent {
    /// The content of a live instance, sets sorted by `schema` when it is known.
    pub fn of_live(p: &LivePlugin, schema: Option<&PluginSchema>) -> InstanceContent {
        let mut config = p.config.value();
        if let Some(f) = schema.and_then(PluginSchema::config) {
            sort_sets(f, &mut config);
        }
        InstanceContent {
            name: p.name.clone(),
            instance_name: p.instance_name.clone(),
            config,
            enabled: p.enabled,
            protocols: p.protocols.clone(),
            scope: p.scope.clone(),
            condition: p.condition.clone(),
            ordering: p.ordering.clone(),
            tags: p.tags.clone(),
        }
    }

    /// The canonical JSON object.
    pub fn canonical(&self) -> Value {
        let mut protocols = self.protocols.clone();
        protocols.sort();
        protocols.dedup();
        let mut tags = self.tags.clone();
        tags.sort();
        tags.dedup();
        let mut obj = json!({
            "name": self.name,
            "instance_name": self.instance_name,
            "config": self.config,
            "enabled": self.enabled,
            "protocols": protocols,
            "condition": self.condition,
            "ordering": self.ordering,
            "tags": tags,
        });
        for kind in ScopeKind::ALL {
            obj[kind.key()] = match self.scope.get(kind) {
                Some(id) => json!({ "id": id }),
                None => Value::Null,
            };
        }
        obj
    }

    /// sha256 of the canonical JSON. Written straight from the fields, without building
    /// [`Self::canonical`] (the same bytes; a test holds them equal).
    pub fn hash(&self) -> String {
        let mut out = Vec::with_capacity(512);
        self.write_canonical(&mut out);
        hex(&Sha256::digest(&out))
    }

    /// Writes `canonical_json(&self.canonical())`: the keys in sorted order.
    fn write_canonical(&self, out: &mut Vec<u8>) {
        fn opt_str(v: Option<&str>, out: &mut Vec<u8>) {
            match v {
                Some(s) => write_str(s, out),
                None => out.extend_from_slice(b"null"),
            }
        }
        fn sorted_set(items: &[String], out: &mut Vec<u8>) {
            let mut items: Vec<&str> = items.iter().map(String::as_str).collect();
            items.sort_unstable();
            items.dedup();
            write_seq(items, out, write_str);
        }
        let scope = |kind: ScopeKind, out: &mut Vec<u8>| match self.scope.get(kind) {
            Some(id) => {
                out.extend_from_slice(b"{\"id\":");
                write_str(id, out);
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        };
        out.extend_from_slice(b"{\"condition\":");
        opt_str(self.condition.as_deref(), out);
        out.extend_from_slice(b",\"config\":");
        write_canonical(&self.config, out);
        out.extend_from_slice(b",\"consumer\":");
        scope(ScopeKind::Consumer, out);
        out.extend_from_slice(b",\"consumer_group\":");
        scope(ScopeKind::ConsumerGroup, out);
        out.extend_from_slice(if self.enabled {
            b",\"enabled\":true"
        } else {
            b",\"enabled\":false"
        });
        out.extend_from_slice(b",\"instance_name\":");
        opt_str(self.instance_name.as_deref(), out);
        out.extend_from_slice(b",\"name\":");
        write_str(&self.name, out);
        out.extend_from_slice(b",\"ordering\":");
        match &self.ordering {
            Some(v) => write_canonical(v, out),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"protocols\":");
        sorted_set(&self.protocols, out);
        out.extend_from_slice(b",\"route\":");
        scope(ScopeKind::Route, out);
        out.extend_from_slice(b",\"service\":");
        scope(ScopeKind::Service, out);
        out.extend_from_slice(b",\"tags\":");
        sorted_set(&self.tags, out);
        out.push(b'}');
    }
}

/// The hashes of a custom plugin: handler, schema (exact bytes), and a combined content hash
/// that includes the sorted tags.
pub fn custom_plugin_hashes(
    handler: &str,
    schema: &str,
    tags: &[String],
) -> (String, String, String) {
    let h = sha256_hex(handler.as_bytes());
    let s = sha256_hex(schema.as_bytes());
    let mut t = tags.to_vec();
    t.sort();
    t.dedup();
    let all = sha256_hex(format!("{h}\n{s}\n{}", t.join(",")).as_bytes());
    (h, s, all)
}

/// The content hash of a live custom plugin.
pub fn live_custom_plugin_hash(c: &LiveCustomPlugin) -> String {
    custom_plugin_hashes(&c.handler, &c.schema, &c.tags).2
}

/// A hash of every live entity in scope (ids and content hashes): a plan made against one
/// live state applies only to the same live state.
pub fn fingerprint(live: &LiveState) -> String {
    let mut lines: Vec<String> = Vec::new();
    for c in &live.custom_plugins {
        lines.push(format!(
            "custom_plugin {} {} {}",
            c.id,
            c.name,
            live_custom_plugin_hash(c)
        ));
    }
    // Each instance hashed on every core (a large control plane has tens of thousands).
    lines.extend(crate::par::map(&live.plugins, |p| {
        format!(
            "plugin {} {}",
            p.id,
            InstanceContent::of_live(p, None).hash()
        )
    }));
    lines.sort();
    format!("sha256:{}", sha256_hex(lines.join("\n").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> InstanceContent {
        InstanceContent {
            name: "rate-guard".into(),
            instance_name: Some("payments-guard".into()),
            config: json!({"window": 60, "redis": {"host": null, "port": 6379.0}, "tags": ["b", "a"]}),
            enabled: true,
            protocols: vec!["https".into(), "http".into()],
            scope: Scope {
                service: Some("7f1c2b9e-0000-4000-8000-000000000001".into()),
                ..Scope::default()
            },
            condition: None,
            ordering: None,
            tags: vec!["payments".into(), "a".into()],
        }
    }

    #[test]
    fn canonical_json_sorts_keys_and_normalises_numbers() {
        assert_eq!(
            canonical_json(&json!({"b": 1.0, "a": [2.5, {"d": null, "c": true}]})),
            r#"{"a":[2.5,{"c":true,"d":null}],"b":1}"#
        );
    }

    /// The one canonical JSON writer (content hashes here, the control plane's payload digests
    /// too): every kind of value pinned, so a change of output — which would change every
    /// stored hash — fails here first.
    #[test]
    fn canonical_json_output_is_pinned() {
        let cases: &[(Value, &str)] = &[
            (json!(null), "null"),
            (json!(true), "true"),
            (json!({}), "{}"),
            (json!([]), "[]"),
            (json!([{}, [], [null]]), "[{},[],[null]]"),
            // Keys sorted bytewise: upper case, `_`, lower case, then non-ASCII.
            (
                json!({"é": 1, "a": 2, "_": 3, "B": 4}),
                r#"{"B":4,"_":3,"a":2,"é":1}"#,
            ),
            // Strings as serde_json writes them: quotes, backslashes and control characters
            // escaped, everything else (U+2028 included) raw.
            (
                json!("a\"b\\c\u{1}\té\u{2028}/"),
                "\"a\\\"b\\\\c\\u0001\\té\u{2028}/\"",
            ),
            // Integers as they are, at both ends of their ranges.
            (json!(u64::MAX), "18446744073709551615"),
            (json!(i64::MIN), "-9223372036854775808"),
            (json!(-7), "-7"),
            // Integral floats below 9e15 as integers (`-0.0` too); others as serde_json writes.
            (json!(60.0), "60"),
            (json!(-0.0), "0"),
            (json!(8.9e15), "8900000000000000"),
            (json!(9.0e15), "9000000000000000.0"),
            (json!(1e300), "1e+300"),
            (json!(0.1), "0.1"),
            (json!(-2.5), "-2.5"),
        ];
        for (value, expected) in cases {
            assert_eq!(canonical_json(value), *expected, "{value:?}");
        }
    }

    #[test]
    fn known_instance_hash_is_pinned() {
        let c = known();
        assert_eq!(
            canonical_json(&c.canonical()),
            r#"{"condition":null,"config":{"redis":{"host":null,"port":6379},"tags":["b","a"],"window":60},"consumer":null,"consumer_group":null,"enabled":true,"instance_name":"payments-guard","name":"rate-guard","ordering":null,"protocols":["http","https"],"route":null,"service":{"id":"7f1c2b9e-0000-4000-8000-000000000001"},"tags":["a","payments"]}"#
        );
        assert_eq!(
            c.hash(),
            "1fc99c7c507f1521f394adccd779b0ec9de557adae06776a71ce5753cedd1a85"
        );
    }

    /// `hash` writes the canonical bytes from the fields: the same bytes as the canonical
    /// object written out, for every shape of content.
    #[test]
    fn hash_is_the_sha256_of_the_canonical_object() {
        let mut contents = vec![known()];
        let mut c = known();
        c.instance_name = None;
        c.condition = Some("http.path == \"/a\"".into());
        c.ordering = Some(json!({"before": {"access": ["x", "y"]}}));
        c.enabled = false;
        c.scope = Scope {
            route: Some("r\u{e9}".into()),
            consumer: Some("c".into()),
            consumer_group: Some("g".into()),
            service: None,
        };
        c.protocols = vec!["https".into(), "https".into(), "grpc".into()];
        c.tags = Vec::new();
        c.config = json!({"Z": [1.0, 2.5, {"b": null, "a": "\u{1}\"q"}], "_": {}, "a": -0.0});
        contents.push(c);
        let mut empty = known();
        empty.config = Value::Null;
        empty.scope = Scope::default();
        contents.push(empty);
        for c in contents {
            assert_eq!(
                c.hash(),
                sha256_hex(canonical_json(&c.canonical()).as_bytes()),
                "{c:?}"
            );
        }
    }

    #[test]
    fn hash_ignores_order_of_tags_and_protocols() {
        let mut a = known();
        let mut b = known();
        a.tags.reverse();
        b.protocols.reverse();
        assert_eq!(a.hash(), b.hash());
        b.enabled = false;
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn sets_sort_by_schema() {
        let mut rec = Field::new(FieldType::Record);
        let mut set = Field::new(FieldType::Set);
        set.elements = Some(Box::new(Field::new(FieldType::String)));
        let mut arr = Field::new(FieldType::Array);
        arr.elements = Some(Box::new(Field::new(FieldType::String)));
        rec.fields = vec![("s".into(), set), ("a".into(), arr)];
        let mut v = json!({"s": ["b", "a", "b"], "a": ["b", "a"]});
        sort_sets(&rec, &mut v);
        assert_eq!(v, json!({"s": ["a", "b"], "a": ["b", "a"]}));
    }

    #[test]
    fn sha256_of_exact_bytes() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (h1, _, _) = custom_plugin_hashes("x\n", "y", &[]);
        let (h2, _, _) = custom_plugin_hashes("x", "y", &[]);
        assert_ne!(h1, h2);
    }
}
