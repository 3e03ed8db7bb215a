//! Kong's plugin-config validation over the schema model: defaults filling (Kong's
//! `process_auto_fields` on insert), field validation with every validator attribute, record-
//! and schema-level entity checks, and Kong's error texts and one-line summary.
//!
//! This is where lint (`instance-config`, `instance-scope`), the local control plane and the
//! plan validate plugin instances; the filled config is also what content hashes are taken of.
//! It reproduces `kong/db/schema/init.lua` (validators, `validators_order`, `entity_checkers`,
//! `run_entity_check`, `adjust_field_for_context`) and `kong/db/errors.lua` (`schema_violation`).
//!
//! # Error paths
//!
//! Each [`FieldError`] carries the dotted path of Kong's error table entry, from the entity root:
//! `config.redis.host`; array and set elements by their 1-based index (`config.hosts.2`, as Kong
//! keys them); a map's error sits on the map itself (Kong reports the first bad entry without
//! its key). Entity-check failures of a record sit on that record's path plus `.@entity`
//! (`config.@entity`, `config.redis.@entity`); failures of the schema's top-level
//! `entity_checks` on `@entity` alone. Errors are sorted by path, segment by segment: `@entity`
//! first, numeric segments numerically, others bytewise; errors on one path keep Kong's order.
//!
//! # Deliberate deviations from Kong
//!
//! * [`summary`] renders every error as `path: message`; Kong renders errors nested deeper than
//!   `field.sub` as a pretty-printed Lua table.
//! * `is_regex` compiles the value with PCRE2, as Kong does (`schema::regex`).
//! * `auto` fields Kong would generate (uuids, random strings, timestamps) are not generated.
//! * A map's first bad entry is looked for in key order (Kong: `pairs` order).
//! * Tables in messages (an `eq` with a table) render as JSON, not `table: 0x…`.
//! * A validator on a value of a kind it cannot handle is skipped where Kong would raise a Lua
//!   error; a malformed Lua pattern fails the field with the pattern engine's message.
//! * `json` fields are checked against an inline `json_schema` ([`json_schema`]); `foreign` fields are checked
//!   as `{ "id": "<uuid>" }`; a schema's `check` function is never run (Kong refuses it for
//!   streamed schemas); `custom_validator` / `custom_entity_check` functions run through the
//!   Lua layer's runner ([`custom`]); shorthand fields are not in the model.

pub mod custom;
mod defaults;
mod entity_checks;
mod field;
mod json_schema;
mod lua;
mod shorthand;

#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use self::defaults::{adjust, required_at};
use self::field::{validate_field, REQUIRED};
use crate::schema::model::{Field, PluginSchema};
use crate::schema::protocols;

/// One validation error: `path` is the dotted field path from the entity root
/// (`config.redis.host`, `config.hosts.2`, `protocols`; `config.@entity` for a record's
/// entity-check failures, `@entity` for the schema's top-level ones), `message` is Kong's text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct FieldError {
    /// Dotted path from the entity root (see the module notes on error paths).
    pub path: String,
    /// Kong's message for it.
    pub message: String,
}

impl fmt::Display for FieldError {
    /// `path: message`, or the bare message for a top-level entity-check error (as Kong prints it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path == ENTITY || self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Kong's one-line summary of a schema violation: `schema violation (config.foo: required field
/// missing)` for one error, `2 schema violations (…; …)` for more (`kong/db/errors.lua`).
/// Top-level entity-check errors come first as bare messages, then the others by path as
/// `path: message`. No errors give Kong's degenerate `0 schema violations ()`.
pub fn summary(errors: &[FieldError]) -> String {
    let mut sorted = errors.to_vec();
    sort_errors(&mut sorted);
    let parts: Vec<String> = sorted.iter().map(ToString::to_string).collect();
    if parts.len() == 1 {
        format!("schema violation ({})", parts[0])
    } else {
        format!("{} schema violations ({})", parts.len(), parts.join("; "))
    }
}

/// Fills defaults (insert semantics: every declared field present, unset optional ones `null`,
/// nested records materialised, defaults inside array/set elements and map values that are
/// records, sets de-duplicated) and validates `config` (`None` = not given, treated like `{}`)
/// against `schema.config()`, then runs the schema's top-level entity checks with the default
/// `protocols` and no scope bound. Returns the filled config.
///
/// Error paths start with `config` (`config.foo`, `config.@entity`), except top-level
/// entity-check errors (`@entity`). A schema without a `config` field fails with Kong's
/// "abstract field was not specialized".
pub fn process_config(
    schema: &PluginSchema,
    config: Option<&Value>,
) -> Result<Value, Vec<FieldError>> {
    let (filled, errors) = validate_entity(schema, config.cloned(), None, &[]);
    let errors = config_errors(errors);
    if errors.is_empty() {
        Ok(filled)
    } else {
        Err(errors)
    }
}

/// The errors of `errors` about the config and the entity checks (those about `protocols` and
/// the scope fields left out).
pub fn config_errors(errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .filter(|e| e.path == ENTITY || e.path == "config" || e.path.starts_with("config."))
        .collect()
}

/// Validates a whole plugin instance as Kong does on insert: `config` (as [`process_config`]),
/// `protocols` (`None` = the schema default) and the scope bindings in `bound` (as
/// [`validate_instance_fields`]), then the schema's top-level entity checks over all of them
/// (a bound scope counts as a non-empty value there). Returns the filled config.
pub fn validate_plugin(
    schema: &PluginSchema,
    config: Option<&Value>,
    protocols: Option<&Value>,
    bound: &[&str],
) -> Result<Value, Vec<FieldError>> {
    let (filled, errors) = validate_entity(schema, config.cloned(), protocols, bound);
    if errors.is_empty() {
        Ok(filled)
    } else {
        Err(errors)
    }
}

/// Fills defaults into `config` as Kong stores it on insert, without validating (see
/// [`process_config`] for the rules). Invalid parts are kept as they are.
pub fn fill_config(schema: &PluginSchema, config: Option<&Value>) -> Value {
    let config = with_shorthands(schema, config);
    let config = config.as_ref();
    match schema.config() {
        Some(field) => {
            adjust(field, config.cloned(), required_at(field, true), true).unwrap_or(Value::Null)
        }
        None => config.cloned().unwrap_or(Value::Null),
    }
}

/// `config` with the `shorthand_fields` of the config record applied, as Kong does on write
/// (a copy of it: the caller's value is not changed); shorthand errors are ignored here.
fn with_shorthands(schema: &PluginSchema, config: Option<&Value>) -> Option<Value> {
    let mut config = config?.clone();
    if let Some(field) = schema.config() {
        let _custom = custom::Scope::enter(schema.custom_source.as_ref());
        shorthand::apply(field, &mut config, "config");
    }
    Some(config)
}

/// The schema's default for `protocols`: its top-level `protocols` field's default, else Kong's
/// plugin default `["grpc", "grpcs", "http", "https"]`.
pub fn default_protocols(schema: &PluginSchema) -> Value {
    match schema.field("protocols").and_then(|f| f.default.as_ref()) {
        Some(default) if !default.is_null() => default.clone(),
        _ => Value::from(protocols::PLUGIN_DEFAULT.to_vec()),
    }
}

/// Validates the instance-level fields against the schema's top-level fields: `protocols`
/// (`None` = the default; checked against the schema's `protocols` field, else Kong's plugin
/// `protocols`: a set of known protocols) and the scope bindings in `bound` (`service`, `route`,
/// `consumer`, `consumer_group`): binding one whose schema field has `eq = null`
/// (`typedefs.no_service` …) gives that field's `err` or "value must be null".
pub fn validate_instance_fields(
    schema: &PluginSchema,
    protocols: Option<&Value>,
    bound: &[&str],
) -> Vec<FieldError> {
    let mut table = ErrTable::default();
    let _ = check_protocols(schema, protocols, &mut table);
    check_scopes(schema, bound, &mut table);
    flatten_sorted(&table)
}

/// Validates `value` against a single field definition as Kong's `validate_field` does: `null`
/// passes unless the field is required (records are, unless `required = false`) or constrained
/// by `eq` / `ne`; records are filled with defaults and validated recursively, entity checks
/// included. Error paths are prefixed with `path` (the value itself has path `path`).
///
/// A schema's own custom functions are not run here (no schema source is in scope).
pub fn validate_value(field: &Field, value: &Value, path: &str) -> Vec<FieldError> {
    let _custom = custom::Scope::enter(None);
    match validate_field(field, value, field.is_required(), true) {
        Ok(()) => Vec::new(),
        Err(node) => {
            let mut out = Vec::new();
            flatten_node(path, &node, &mut out);
            sort_errors(&mut out);
            out
        }
    }
}

/// Sorts errors by path the way this module reports them: segment by segment, `@entity` first,
/// numeric segments numerically, other segments bytewise; stable for equal paths.
pub fn sort_errors(errors: &mut [FieldError]) {
    errors.sort_by(|a, b| compare_paths(&a.path, &b.path));
}

/// The path of top-level entity-check errors.
const ENTITY: &str = "@entity";

/// The scope fields a plugin can be bound through.
const SCOPES: [&str; 4] = ["service", "route", "consumer", "consumer_group"];

/// One entry of Kong's error table: a message, or a nested table.
#[derive(Debug, Clone)]
enum ErrNode {
    Msg(String),
    Table(ErrTable),
}

/// Kong's error table for one record level: errors by field name (or 1-based element index)
/// and the `@entity` list.
#[derive(Debug, Clone, Default)]
struct ErrTable {
    fields: BTreeMap<String, ErrNode>,
    entity: Vec<String>,
}

impl ErrTable {
    fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.entity.is_empty()
    }
}

fn msg(message: String) -> ErrNode {
    ErrNode::Msg(message)
}

/// The value at a path of record keys (Kong's `get_field`): absent when a step is missing or
/// not an object.
fn get_in<'v, 'p>(
    map: &'v Map<String, Value>,
    path: impl IntoIterator<Item = &'p str>,
) -> Option<&'v Value> {
    let mut parts = path.into_iter();
    let mut current = map.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// Sets the value at a path of record keys (Kong's `set_field`): missing steps, and steps that
/// are not objects, become objects.
fn set_in<'p>(map: &mut Map<String, Value>, path: impl IntoIterator<Item = &'p str>, value: Value) {
    let mut parts = path.into_iter().peekable();
    let mut current = map;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current.insert(part.to_string(), value);
            return;
        }
        let slot = current
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(inner) = slot else { return };
        current = inner;
    }
}

/// Fills and validates `protocols` into `table`; returns the filled value (absent = `None`).
fn check_protocols(
    schema: &PluginSchema,
    protocols: Option<&Value>,
    table: &mut ErrTable,
) -> Option<Value> {
    let parent;
    let field = match schema.field("protocols") {
        Some(f) => f,
        None => {
            parent = protocols::plugin_field();
            &parent
        }
    };
    fill_and_check("protocols", field, protocols.cloned(), table)
}

/// Fills a top-level field's value with its defaults and validates it into `table` under
/// `name`; returns the filled value (absent = `None`).
fn fill_and_check(
    name: &str,
    field: &Field,
    value: Option<Value>,
    table: &mut ErrTable,
) -> Option<Value> {
    let required = required_at(field, true);
    let filled = adjust(field, value, required, true);
    match &filled {
        Some(value) => {
            if let Err(e) = validate_field(field, value, required, true) {
                table.fields.insert(name.to_string(), e);
            }
        }
        None if required => {
            table
                .fields
                .insert(name.to_string(), msg(REQUIRED.to_string()));
        }
        None => {}
    }
    filled
}

/// Scope bindings the schema forbids (`eq = null`).
fn check_scopes(schema: &PluginSchema, bound: &[&str], table: &mut ErrTable) {
    for name in bound {
        let Some(field) = schema.field(name) else {
            continue;
        };
        if matches!(field.validators.eq, Some(Value::Null)) {
            let message = field
                .err
                .clone()
                .unwrap_or_else(|| "value must be null".to_string());
            table.fields.insert((*name).to_string(), msg(message));
        }
    }
}

/// Kong's insert path for a plugin entity: `process_auto_fields`, field validation, required
/// top-level fields, top-level entity checks. Returns the filled config and the sorted errors.
fn validate_entity(
    schema: &PluginSchema,
    mut config: Option<Value>,
    protocols: Option<&Value>,
    bound: &[&str],
) -> (Value, Vec<FieldError>) {
    let mut table = ErrTable::default();
    let _custom = custom::Scope::enter(schema.custom_source.as_ref());
    // Shorthands first (Kong's `process_auto_fields`); their errors stop the write alone.
    if let (Some(field), Some(value)) = (schema.config(), config.as_mut()) {
        let found = shorthand::apply(field, value, "config");
        if !found.is_empty() {
            let mut out = Vec::new();
            for (path, node) in &found {
                flatten_node(path, node, &mut out);
            }
            sort_errors(&mut out);
            return (config.unwrap_or(Value::Null), out);
        }
    }
    let filled = match schema.config() {
        Some(config_field) => fill_and_check("config", config_field, config, &mut table),
        // Kong's `plugins.config` is abstract and not required: a schema without one loads, and
        // its instances are valid without a config; any value meets the abstract field.
        None => match config {
            None | Some(Value::Null) => None,
            Some(_) => {
                table.fields.insert(
                    "config".to_string(),
                    msg("error in schema definition: abstract field was not specialized".into()),
                );
                None
            }
        },
    };
    let filled_protocols = check_protocols(schema, protocols, &mut table);
    check_scopes(schema, bound, &mut table);

    // The entity the top-level checks see (the config moves in and back out: no copy).
    let mut entity = Map::new();
    if let Some(v) = filled {
        entity.insert("config".to_string(), v);
    }
    if let Some(v) = filled_protocols {
        entity.insert("protocols".to_string(), v);
    }
    for scope in SCOPES {
        let value = if bound.contains(&scope) {
            // A bound scope is a foreign key; its id is not known here.
            Value::Object(Map::from_iter([("id".to_string(), Value::Null)]))
        } else {
            Value::Null
        };
        entity.insert(scope.to_string(), value);
    }
    entity_checks::run(
        &schema.fields,
        &schema.entity_checks,
        &entity,
        &mut table,
        true,
    );

    let filled = entity.remove("config");
    (filled.unwrap_or(Value::Null), flatten_sorted(&table))
}

fn flatten_sorted(table: &ErrTable) -> Vec<FieldError> {
    let mut out = Vec::new();
    flatten_table("", table, &mut out);
    sort_errors(&mut out);
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn flatten_node(path: &str, node: &ErrNode, out: &mut Vec<FieldError>) {
    match node {
        ErrNode::Msg(m) => out.push(FieldError {
            path: path.to_string(),
            message: m.clone(),
        }),
        ErrNode::Table(t) => flatten_table(path, t, out),
    }
}

fn flatten_table(prefix: &str, table: &ErrTable, out: &mut Vec<FieldError>) {
    for m in &table.entity {
        out.push(FieldError {
            path: join(prefix, ENTITY),
            message: m.clone(),
        });
    }
    for (key, node) in &table.fields {
        flatten_node(&join(prefix, key), node, out);
    }
}

fn compare_paths(a: &str, b: &str) -> Ordering {
    let mut xs = a.split('.');
    let mut ys = b.split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = compare_segments(x, y);
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

fn compare_segments(x: &str, y: &str) -> Ordering {
    if x == y {
        return Ordering::Equal;
    }
    if x == ENTITY {
        return Ordering::Less;
    }
    if y == ENTITY {
        return Ordering::Greater;
    }
    match (x.parse::<u64>(), y.parse::<u64>()) {
        (Ok(a), Ok(b)) => a.cmp(&b).then_with(|| x.cmp(y)),
        _ => x.as_bytes().cmp(y.as_bytes()),
    }
}
