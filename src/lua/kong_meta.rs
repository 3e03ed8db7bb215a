//! Kong's restricted metaschema for streamed schemas (`reference/kong-sandbox.md` §4.4): what a
//! create (`POST /custom-plugins`) checks of the table `schema.lua` returns, with Kong's error
//! tree and its rendering (`schema violation (…)`, one level flattened as `key.sub: msg`, deeper
//! levels pretty-printed the way Kong's Penlight does).
//!
//! It is deliberately no stricter than Kong: types without their companion attributes, or
//! attributes a type does not use, pass here (the load-time checks in `convert` report what would
//! break later).

use std::collections::BTreeMap;

use mlua::{Table, Value};

use crate::schema::validate;
use crate::schema::{Field, FieldType, PluginSchema};

/// The keys of an error tree: array positions or names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Index(usize),
    Name(String),
}

/// Kong's error tree: a message or a table of errors.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Msg(String),
    Tree(BTreeMap<Key, Node>),
}

const FIELD_TYPES: [&str; 11] = [
    "array", "set", "string", "number", "boolean", "integer", "foreign", "map", "record",
    "function", "json",
];

const FLAGS: &[&str] = &[
    "required",
    "auto",
    "unique",
    "unique_across_ws",
    "abstract",
    "generate_admin_api",
    "immutable",
    "encrypted",
    "referenceable",
    "prefix_ws",
    "db_export",
    "indexed",
    "transient",
];
const STRINGS: &[&str] = &[
    "description",
    "match",
    "not_match",
    "starts_with",
    "err",
    "reference",
    "on_delete",
];
const OTHER_ATTRIBUTES: &[&str] = &[
    "type",
    "examples",
    "default",
    "json_schema",
    "deprecation",
    "between",
    "eq",
    "ne",
    "gt",
    "len_eq",
    "len_min",
    "len_max",
    "match_all",
    "match_none",
    "match_any",
    "one_of",
    "not_one_of",
    "contains",
    "is_regex",
    "timestamp",
    "uuid",
    "custom_validator",
    "mutually_exclusive_subsets",
    "elements",
    "keys",
    "values",
    "fields",
    "entity_checks",
    "shorthand_fields",
];

/// The entity checkers an `entity_checks` entry may use (exactly one each).
const CHECKERS: &[&str] = &[
    "at_least_one_of",
    "conditional_at_least_one_of",
    "only_one_of",
    "distinct",
    "conditional",
    "custom_entity_check",
    "mutually_required",
    "mutually_exclusive",
    "mutually_exclusive_sets",
];

/// Checks the schema table against the restricted metaschema. `Err` holds Kong's message
/// inside `schema validation error (…)`, e.g. `schema violation (check: unknown field)`.
pub(crate) fn check(schema: &Table) -> Result<(), String> {
    let mut errors = BTreeMap::new();
    for (key, value) in pairs(schema) {
        let Value::String(name) = &key else {
            continue;
        };
        let name = name.to_string_lossy();
        match name.as_str() {
            "name" => {}
            "fields" => {
                if let Some(n) = fields_array(&value, 0, false) {
                    errors.insert(Key::Name(name), n);
                }
            }
            "entity_checks" => {
                if let Some(n) = entity_checks(&value) {
                    errors.insert(Key::Name(name), n);
                }
            }
            _ => {
                errors.insert(Key::Name(name), Node::Msg("unknown field".into()));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(render(&errors))
    }
}

/// The pairs of a table, at most [`super::convert::MAX_TABLE_ENTRIES`] of them (the converter
/// refuses larger tables with a clear message).
fn pairs(t: &Table) -> Vec<(Value, Value)> {
    t.clone()
        .pairs::<Value, Value>()
        .take(super::convert::MAX_TABLE_ENTRIES)
        .filter_map(Result::ok)
        .collect()
}

fn msg(text: &str) -> Option<Node> {
    Some(Node::Msg(text.to_string()))
}

/// A `fields` array (or, with `shorthand`, a `shorthand_fields` array): single-key maps of
/// definitions, each definition's errors at its position.
fn fields_array(value: &Value, depth: usize, shorthand: bool) -> Option<Node> {
    let Value::Table(t) = value else {
        return msg("expected an array");
    };
    let mut errors = BTreeMap::new();
    for (k, entry) in pairs(t) {
        let Some(index) = index_of(&k) else {
            return msg("expected an array");
        };
        let node = match &entry {
            Value::Table(e) => {
                let items = pairs(e);
                if items.len() != 1 {
                    msg("length must be 1")
                } else {
                    field(&items[0].1, depth + 1, shorthand)
                }
            }
            _ => msg("expected a map"),
        };
        if let Some(n) = node {
            errors.insert(Key::Index(index), n);
        }
    }
    (!errors.is_empty()).then_some(Node::Tree(errors))
}

fn index_of(k: &Value) -> Option<usize> {
    match k {
        Value::Integer(i) if *i >= 1 => Some(*i as usize),
        Value::Number(n) if *n >= 1.0 && n.fract() == 0.0 => Some(*n as usize),
        _ => None,
    }
}

fn is_number(v: &Value) -> bool {
    matches!(v, Value::Integer(_) | Value::Number(_))
}

fn is_integer(v: &Value) -> bool {
    match v {
        Value::Integer(_) => true,
        Value::Number(n) => n.fract() == 0.0 && n.is_finite(),
        _ => false,
    }
}

/// Whether `default` fits a field of type `ty`; Kong's message when it does not.
fn default_error(ty: &str, value: &Value) -> Option<&'static str> {
    if matches!(value, Value::LightUserData(p) if p.0.is_null()) {
        return None;
    }
    match ty {
        "string" if !matches!(value, Value::String(_)) => Some("expected a string"),
        "number" if !is_number(value) => Some("expected a number"),
        "integer" if !is_integer(value) => Some("expected an integer"),
        "boolean" if !matches!(value, Value::Boolean(_)) => Some("expected a boolean"),
        "array" | "set" if !matches!(value, Value::Table(_)) => Some(if ty == "set" {
            "expected a set"
        } else {
            "expected an array"
        }),
        "map" if !matches!(value, Value::Table(_)) => Some("expected a map"),
        "record" if !matches!(value, Value::Table(_)) => Some("expected a record"),
        _ => None,
    }
}

/// The attribute errors of one field definition.
/// The types a shorthand field may have (Kong's `make_shorthand_field_schema`: not `record`,
/// `foreign` or `function`).
const SHORTHAND_TYPES: [&str; 8] = [
    "array", "set", "string", "number", "boolean", "integer", "map", "json",
];

/// The attribute errors of one field definition; with `shorthand`, of a `shorthand_fields`
/// definition (its own `func`, required, and `translate_backwards`; fewer types).
fn field(value: &Value, depth: usize, shorthand: bool) -> Option<Node> {
    let Value::Table(t) = value else {
        return msg("expected a record");
    };
    if depth > 32 {
        return None;
    }
    let attrs = pairs(t);
    let get = |name: &str| {
        attrs
            .iter()
            .find(|(k, _)| matches!(k, Value::String(s) if s.to_string_lossy() == name))
            .map(|(_, v)| v.clone())
    };
    let ty = match get("type") {
        Some(Value::String(s)) => Some(s.to_string_lossy()),
        _ => None,
    };
    let mut errors = BTreeMap::new();
    let mut put = |k: &str, n: Option<Node>| {
        if let Some(n) = n {
            errors.insert(Key::Name(k.to_string()), n);
        }
    };
    let types: &[&str] = if shorthand {
        &SHORTHAND_TYPES
    } else {
        &FIELD_TYPES
    };
    match (&ty, get("type")) {
        (_, None) => put("type", msg("required field missing")),
        (Some(t), _) if types.contains(&t.as_str()) => {}
        _ => put(
            "type",
            Some(Node::Msg(format!("expected one of: {}", types.join(", ")))),
        ),
    }
    if shorthand {
        match get("func") {
            None => put("func", msg("required field missing")),
            Some(Value::Function(_)) => {}
            Some(_) => put("func", msg("expected a function")),
        }
    }
    for (k, v) in &attrs {
        let Value::String(name) = k else {
            continue;
        };
        let name = name.to_string_lossy();
        let name = name.as_str();
        let node = if shorthand && name == "func" {
            continue;
        } else if shorthand && name == "translate_backwards" {
            (!matches!(v, Value::Table(_))).then(|| Node::Msg("expected an array".into()))
        } else if FLAGS.contains(&name) {
            (!matches!(v, Value::Boolean(_))).then(|| Node::Msg("expected a boolean".into()))
        } else if STRINGS.contains(&name) {
            match v {
                Value::String(s) if name == "description" => {
                    let len = s.as_bytes().len();
                    if len < 10 {
                        msg("length must be at least 10")
                    } else if len > 500 {
                        msg("length must be at most 500")
                    } else {
                        None
                    }
                }
                Value::String(s) if name == "on_delete" => {
                    let s = s.to_string_lossy();
                    (!["restrict", "cascade", "null"].contains(&s.as_str()))
                        .then(|| Node::Msg("expected one of: restrict, cascade, null".into()))
                }
                Value::String(_) => None,
                _ => msg("expected a string"),
            }
        } else if OTHER_ATTRIBUTES.contains(&name) {
            match name {
                "gt" => (!is_number(v)).then(|| Node::Msg("expected a number".into())),
                "len_eq" | "len_min" | "len_max" => {
                    (!is_integer(v)).then(|| Node::Msg("expected an integer".into()))
                }
                "between" => match v {
                    Value::Table(b) => {
                        let items = pairs(b);
                        if items.len() != 2 {
                            msg("length must be 2")
                        } else if !items.iter().all(|(_, x)| is_number(x)) {
                            msg("expected a number")
                        } else {
                            None
                        }
                    }
                    _ => msg("expected an array"),
                },
                "one_of" | "not_one_of" | "examples" => {
                    (!is_sequence(v)).then(|| Node::Msg("expected an array".into()))
                }
                "is_regex" | "timestamp" | "uuid" => (!matches!(v, Value::Boolean(_)))
                    .then(|| Node::Msg("expected a boolean".into())),
                "match_all" | "match_none" => each_item(v, |item| {
                    record(
                        item,
                        &[
                            ("pattern", Expect::String, true),
                            ("err", Expect::String, false),
                        ],
                    )
                }),
                "match_any" => record(
                    v,
                    &[
                        ("patterns", Expect::Strings, true),
                        ("err", Expect::String, false),
                    ],
                ),
                "mutually_exclusive_subsets" => each_item(v, strings),
                "default" => ty
                    .as_deref()
                    .and_then(|t| default_error(t, v))
                    .map(|m| Node::Msg(m.into())),
                "elements" | "keys" | "values" => field(v, depth + 1, false),
                "fields" => fields_array(v, depth + 1, false),
                "shorthand_fields" => fields_array(v, depth + 1, true),
                "entity_checks" => entity_checks(v),
                "custom_validator" => (!matches!(v, Value::Function(_)))
                    .then(|| Node::Msg("expected a function".into())),
                "deprecation" => deprecation(v),
                _ => None,
            }
        } else {
            msg("unknown field")
        };
        put(name, node);
    }
    // Kong's field entity check: `unique_across_ws = true` needs `unique = true`.
    if let (Some(Value::Boolean(true)), unique) = (get("unique_across_ws"), get("unique")) {
        if !matches!(unique, Some(Value::Boolean(true))) {
            errors.insert(
                Key::Name("@entity".into()),
                Node::Tree(BTreeMap::from([(
                    Key::Index(1),
                    Node::Msg(
                        "failed conditional validation given value of field 'unique_across_ws'"
                            .into(),
                    ),
                )])),
            );
            errors
                .entry(Key::Name("unique".into()))
                .or_insert(Node::Msg(match unique {
                    None => "required field missing".into(),
                    Some(_) => "value must be true".into(),
                }));
        }
    }
    (!errors.is_empty()).then_some(Node::Tree(errors))
}

/// Whether `v` is a Lua sequence (a table whose keys are 1..n).
fn is_sequence(v: &Value) -> bool {
    match v {
        Value::Table(t) => {
            let items = pairs(t);
            let n = items.len();
            items
                .iter()
                .all(|(k, _)| index_of(k).is_some_and(|i| i >= 1 && i <= n))
        }
        _ => false,
    }
}

/// The errors of an array's items, by position (`expected an array` for a non-sequence).
fn each_item(v: &Value, check: impl Fn(&Value) -> Option<Node>) -> Option<Node> {
    let Value::Table(t) = v else {
        return msg("expected an array");
    };
    if !is_sequence(v) {
        return msg("expected an array");
    }
    let tree: BTreeMap<Key, Node> = pairs(t)
        .into_iter()
        .filter_map(|(k, item)| Some((Key::Index(index_of(&k)?), check(&item)?)))
        .collect();
    (!tree.is_empty()).then_some(Node::Tree(tree))
}

/// An array of strings.
fn strings(v: &Value) -> Option<Node> {
    each_item(v, |item| {
        (!matches!(item, Value::String(_))).then(|| Node::Msg("expected a string".into()))
    })
}

/// What a record's attribute must be.
#[derive(Clone, Copy)]
enum Expect {
    String,
    Strings,
    Array,
    Any,
}

/// A record of the given attributes (name, kind, required); others are unknown fields.
fn record(v: &Value, attributes: &[(&str, Expect, bool)]) -> Option<Node> {
    let Value::Table(t) = v else {
        return msg("expected a record");
    };
    let items = pairs(t);
    let mut errors = BTreeMap::new();
    for (name, kind, required) in attributes {
        let found = items
            .iter()
            .find(|(k, _)| matches!(k, Value::String(s) if s.to_string_lossy() == *name));
        let node = match (found, kind) {
            (None, _) if *required => Some(Node::Msg("required field missing".into())),
            (None, _) => None,
            (Some((_, Value::String(_))), Expect::String) => None,
            (Some(_), Expect::String) => Some(Node::Msg("expected a string".into())),
            (Some((_, value)), Expect::Strings) => strings(value),
            (Some((_, Value::Table(_))), Expect::Array) | (Some(_), Expect::Any) => None,
            (Some(_), Expect::Array) => Some(Node::Msg("expected an array".into())),
        };
        if let Some(node) = node {
            errors.insert(Key::Name((*name).into()), node);
        }
    }
    for (k, _) in &items {
        let Value::String(s) = k else { continue };
        let name = s.to_string_lossy();
        if !attributes.iter().any(|(a, _, _)| *a == name) {
            errors.insert(Key::Name(name), Node::Msg("unknown field".into()));
        }
    }
    (!errors.is_empty()).then_some(Node::Tree(errors))
}

/// A field's `deprecation` record: `message` and `removal_in_version` required strings,
/// `old_default` anything, `replaced_with` an array.
fn deprecation(value: &Value) -> Option<Node> {
    record(
        value,
        &[
            ("message", Expect::String, true),
            ("removal_in_version", Expect::String, true),
            ("old_default", Expect::Any, false),
            ("replaced_with", Expect::Array, false),
        ],
    )
}

/// Kong's metaschema types a field's `default` as the field itself (`type = "self"`): the
/// default must pass the field's validators (`len_min = 1` implied on strings, `one_of`,
/// typedef checks, …), not only its type ([`check`] sees the type). Run on the converted schema;
/// a record's default is left to its type check. `Err` as [`check`]'s.
pub(crate) fn check_defaults(schema: &PluginSchema) -> Result<(), String> {
    match defaults_of(&schema.fields) {
        None => Ok(()),
        Some(node) => Err(render(&BTreeMap::from([(
            Key::Name("fields".into()),
            node,
        )]))),
    }
}

/// The default errors of a `fields` array, by 1-based position.
fn defaults_of(fields: &[(String, Field)]) -> Option<Node> {
    let tree: BTreeMap<Key, Node> = fields
        .iter()
        .enumerate()
        .filter_map(|(i, (_, f))| default_node(f).map(|n| (Key::Index(i + 1), n)))
        .collect();
    (!tree.is_empty()).then_some(Node::Tree(tree))
}

fn default_node(field: &Field) -> Option<Node> {
    let mut errors = BTreeMap::new();
    if let Some(default) = field.default.as_ref().filter(|d| !d.is_null()) {
        if field.ty != FieldType::Record {
            let found = validate::validate_value(field, default, "default");
            if !found.is_empty() {
                let mut tree = BTreeMap::new();
                for e in found {
                    let segments: Vec<&str> = e.path.split('.').skip(1).collect();
                    // Kong validates the default in a pcall: a validator that raises (an array
                    // without `elements`, …) is reported as this.
                    let message = if e.message.starts_with("attempt to index field '") {
                        "error in schema prevents from validating this field".to_string()
                    } else {
                        e.message
                    };
                    insert_at(&mut tree, "default", &segments, message);
                }
                errors.extend(tree);
            }
        }
    }
    if let Some(node) = defaults_of(&field.fields) {
        errors.insert(Key::Name("fields".into()), node);
    }
    for (name, sub) in [
        ("elements", &field.elements),
        ("keys", &field.keys),
        ("values", &field.values),
    ] {
        if let Some(node) = sub.as_deref().and_then(default_node) {
            errors.insert(Key::Name(name.into()), node);
        }
    }
    (!errors.is_empty()).then_some(Node::Tree(errors))
}

/// Puts `message` at `name` then `segments` (numbers as positions) in `tree`; the first
/// message at a place wins.
fn insert_at(tree: &mut BTreeMap<Key, Node>, name: &str, segments: &[&str], message: String) {
    let key = match name.parse::<usize>() {
        Ok(i) => Key::Index(i),
        Err(_) => Key::Name(name.to_string()),
    };
    match segments.split_first() {
        None => {
            tree.entry(key).or_insert(Node::Msg(message));
        }
        Some((next, rest)) => {
            let slot = tree
                .entry(key)
                .or_insert_with(|| Node::Tree(BTreeMap::new()));
            if let Node::Tree(sub) = slot {
                insert_at(sub, next, rest, message);
            }
        }
    }
}

fn entity_checks(value: &Value) -> Option<Node> {
    let Value::Table(t) = value else {
        return msg("expected an array");
    };
    let mut errors = BTreeMap::new();
    for (k, entry) in pairs(t) {
        let Some(index) = index_of(&k) else {
            return msg("expected an array");
        };
        let node = match &entry {
            Value::Table(e) => {
                let keys: Vec<String> = pairs(e)
                    .into_iter()
                    .filter_map(|(k, _)| match k {
                        Value::String(s) => Some(s.to_string_lossy()),
                        _ => None,
                    })
                    .collect();
                let known = keys
                    .iter()
                    .filter(|k| CHECKERS.contains(&k.as_str()))
                    .count();
                let mut tree = BTreeMap::new();
                for k in keys.iter().filter(|k| !CHECKERS.contains(&k.as_str())) {
                    tree.insert(Key::Name(k.clone()), Node::Msg("unknown field".into()));
                }
                if known != 1 {
                    let list = CHECKERS
                        .iter()
                        .map(|c| format!("'{c}'"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    tree.insert(
                        Key::Name("@entity".into()),
                        Node::Tree(BTreeMap::from([(
                            Key::Index(1),
                            Node::Msg(format!(
                                "exactly one of these fields must be non-empty: {list}"
                            )),
                        )])),
                    );
                }
                (!tree.is_empty()).then_some(Node::Tree(tree))
            }
            _ => msg("expected a record"),
        };
        if let Some(n) = node {
            errors.insert(Key::Index(index), n);
        }
    }
    (!errors.is_empty()).then_some(Node::Tree(errors))
}

fn key_text(k: &Key) -> String {
    match k {
        Key::Index(i) => i.to_string(),
        Key::Name(n) => n.clone(),
    }
}

/// `schema violation (a)` or `N schema violations (a; b)`: entity errors first, then
/// `key: msg` sorted by key, one level flattened, deeper tables pretty-printed.
fn render(errors: &BTreeMap<Key, Node>) -> String {
    let mut parts = Vec::new();
    if let Some(Node::Tree(entity)) = errors.get(&Key::Name("@entity".into())) {
        for n in entity.values() {
            if let Node::Msg(m) = n {
                parts.push(m.clone());
            }
        }
    }
    for (k, node) in errors {
        if *k == Key::Name("@entity".into()) {
            continue;
        }
        match node {
            Node::Msg(m) => parts.push(format!("{}: {m}", key_text(k))),
            Node::Tree(sub) => {
                for (sk, sn) in sub {
                    let value = match sn {
                        Node::Msg(m) => m.clone(),
                        Node::Tree(_) => pretty(sn, 0),
                    };
                    parts.push(format!("{}.{}: {value}", key_text(k), key_text(sk)));
                }
            }
        }
    }
    if parts.len() == 1 {
        format!("schema violation ({})", parts[0])
    } else {
        format!("{} schema violations ({})", parts.len(), parts.join("; "))
    }
}

/// A Lua-table rendering in the manner of Penlight's `pretty.write`: sequence items first
/// without keys, then named keys sorted, two-space indent.
fn pretty(node: &Node, level: usize) -> String {
    match node {
        Node::Msg(m) => format!("{m:?}"),
        Node::Tree(tree) => {
            let pad = "  ".repeat(level + 1);
            let mut items = Vec::new();
            let mut next = 1;
            for (k, v) in tree {
                let rendered = pretty(v, level + 1);
                match k {
                    Key::Index(i) if *i == next => {
                        items.push(format!("{pad}{rendered}"));
                        next += 1;
                    }
                    Key::Index(i) => items.push(format!("{pad}[{i}] = {rendered}")),
                    Key::Name(n) if is_identifier(n) => {
                        items.push(format!("{pad}{n} = {rendered}"))
                    }
                    Key::Name(n) => items.push(format!("{pad}[{n:?}] = {rendered}")),
                }
            }
            format!("{{\n{}\n{}}}", items.join(",\n"), "  ".repeat(level))
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> Result<(), String> {
        let lua = mlua::Lua::new();
        let t: Table = lua.load(src).eval().unwrap();
        check(&t)
    }

    #[test]
    fn kong_messages() {
        assert_eq!(
            run("return { name = 'x', check = 1 }").unwrap_err(),
            "schema violation (check: unknown field)"
        );
        assert_eq!(
            run("return { name = 'x', check = 1, dao = 2 }").unwrap_err(),
            "2 schema violations (check: unknown field; dao: unknown field)"
        );
        assert_eq!(
            run("return { name = 'x', fields = { { a = {type='string'}, b = {type='string'} } } }")
                .unwrap_err(),
            "schema violation (fields.1: length must be 1)"
        );
        assert_eq!(
            run("return { name = 'x', fields = { { config = { type = 'record', fields = { { f = { type = 'string', foo = 1 } } } } } } }")
                .unwrap_err(),
            "schema violation (fields.1: {\n  fields = {\n    {\n      foo = \"unknown field\"\n    }\n  }\n})"
        );
        assert_eq!(
            run("return { name = 'x', fields = { { config = { type = 'record', fields = { { n = { type = 'number', elements = { type = 'string' } } } } } } } }"),
            Ok(())
        );
        assert!(run("return { name = 'x', fields = { { d = { type = 'string', description = 'short' } } } }")
            .unwrap_err()
            .contains("length must be at least 10"));
        // Shorthand definitions: fewer types, a `func` required.
        let shorthands = run("return { name = 'x', fields = { { config = { type = 'record', fields = {}, shorthand_fields = { { r = { type = 'record', func = function() end } }, { s = { type = 'string' } } } } } } }")
            .unwrap_err();
        assert!(
            shorthands.contains("type = \"expected one of: array, set, string, number, boolean, integer, map, json\"")
                && shorthands.contains("func = \"required field missing\""),
            "{shorthands}"
        );
        assert_eq!(
            run("return { name = 'x', fields = { { config = { type = 'record', fields = { { a = { type = 'string' } } }, shorthand_fields = { { b = { type = 'string', func = function(v) return { a = v } end, translate_backwards = { 'a' } } } } } } } }"),
            Ok(())
        );
    }
}
