//! The table a `schema.lua` returns → [`PluginSchema`], enforcing Kong's metaschema
//! (`MetaSchema.MetaSubSchema`, `Entity.new_subschema` for the `plugins` entity) with Kong-like
//! messages that start with the offending path (`config.redis.port.between: …`).
//!
//! Tables are read raw (no metamethod runs), attributes in sorted order so the first error
//! reported does not depend on hash order, and the walk is bounded in depth and size, so shared
//! or cyclic tables cannot make it loop or explode.

use mlua::{Table, Value as Lua};
use serde_json::{Map, Number, Value as Json};

use super::sandbox::Sandbox;
use crate::schema::model::{MatchAny, PatternErr};
use crate::schema::{Builtin, EntityCheck, Field, FieldType, PluginSchema, Shorthand};

/// Deepest nesting of field definitions (and of values) accepted.
const MAX_DEPTH: usize = 32;
/// Most field definitions one schema may hold (shared tables count each time they are used).
const MAX_FIELDS: usize = 10_000;
/// Most Lua values (defaults, `one_of` lists, JSON schemas…) one schema may hold.
const MAX_VALUES: usize = 1_000_000;
/// Entries one table may hold: the converter holds a reference to each value while it reads a
/// table, and the Lua state has room for about 8,000 at once.
pub(crate) const MAX_TABLE_ENTRIES: usize = 4_000;

/// Top-level keys `MetaSubSchema` accepts (plus EE's `supported_partials`).
const SCHEMA_KEYS: &[&str] = &[
    "check",
    "entity_checks",
    "fields",
    "name",
    "shorthand_fields",
    "supported_partials",
    "transformations",
];

/// Validator attributes (`Schema.validators_order`).
const VALIDATORS: &[&str] = &[
    "between",
    "contains",
    "custom_validator",
    "eq",
    "gt",
    "is_regex",
    "len_eq",
    "len_max",
    "len_min",
    "match",
    "match_all",
    "match_any",
    "match_none",
    "mutually_exclusive_subsets",
    "ne",
    "not_match",
    "not_one_of",
    "one_of",
    "starts_with",
    "timestamp",
    "uuid",
];

/// Non-validator field attributes of the metaschema's `field_schema`.
const ATTRIBUTES: &[&str] = &[
    "abstract",
    "auto",
    "default",
    "deprecation",
    "description",
    "elements",
    "encrypted",
    "entity_checks",
    "err",
    "examples",
    "fields",
    "generate_admin_api",
    "immutable",
    "json_schema",
    "keys",
    "on_delete",
    "reference",
    "referenceable",
    "required",
    "shorthand_fields",
    "transient",
    "type",
    "unique",
    "unique_across_ws",
    "values",
];

/// Attributes allowed in a conditional's `if_match` / `then_match` / `else_match`.
const CONDITIONAL_ATTRIBUTES: &[&str] = &["elements", "keys", "required", "values"];

/// Entity checkers (`Schema.entity_checkers`).
const CHECKERS: &[&str] = &[
    "at_least_one_of",
    "conditional",
    "conditional_at_least_one_of",
    "custom_entity_check",
    "distinct",
    "mutually_exclusive",
    "mutually_exclusive_sets",
    "mutually_required",
    "only_one_of",
];

/// Types a user schema may declare (`Schema.valid_types`; `function` is refused for entities).
const TYPE_NAMES: &str =
    "array, boolean, foreign, function, integer, json, map, number, record, set, string";

/// Converts the value `schema.lua` returned. Errors are full messages. Also returns the schema's
/// `custom_validator` and `custom_entity_check` functions, in the order their ids
/// ([`crate::schema::Field::custom_fn`]) number them.
pub(crate) fn schema_and_functions(
    sandbox: &Sandbox,
    value: Lua,
) -> Result<(PluginSchema, Vec<mlua::Function>), String> {
    let mut converter = Converter {
        sandbox,
        fields: 0,
        values: 0,
        functions: Vec::new(),
    };
    let schema = converter.schema(value)?;
    Ok((schema, converter.functions))
}

struct Converter<'a> {
    sandbox: &'a Sandbox,
    fields: usize,
    values: usize,
    /// Custom functions met so far; a function's id is its index here.
    functions: Vec<mlua::Function>,
}

impl Converter<'_> {
    /// Numbers a custom function.
    fn custom_fn(&mut self, f: &mlua::Function) -> u32 {
        self.functions.push(f.clone());
        u32::try_from(self.functions.len() - 1).unwrap_or(u32::MAX)
    }
}

/// What a shorthand's `func` does with a value, found by calling it (in the sandbox, under its
/// budget) with a probe string: the path of record keys where the probe comes back, when the
/// function simply moves the value there.
fn probe_shorthand(func: &mlua::Function) -> Option<Vec<String>> {
    const PROBE: &str = "\u{1}plugsync shorthand probe";
    let Ok(Lua::Table(result)) = func.call::<Lua>(PROBE) else {
        return None;
    };
    fn find(t: &Table, depth: usize) -> Option<Vec<String>> {
        if depth > 4 {
            return None;
        }
        let mut found = None;
        let _ = t.for_each::<Lua, Lua>(|k, v| {
            let Lua::String(k) = k else { return Ok(()) };
            let key = k.to_string_lossy();
            let path = match &v {
                Lua::String(s) if s.to_string_lossy() == PROBE => Some(vec![key]),
                Lua::Table(inner) => find(inner, depth + 1).map(|mut p| {
                    p.insert(0, key);
                    p
                }),
                _ => None,
            };
            if found.is_none() {
                found = path;
            }
            Ok(())
        });
        found
    }
    find(&result, 0)
}

/// Joins a path and a key (`""` + `config` → `config`).
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Lua's name for a value's type, with `ngx.null` called `null`.
fn type_name(value: &Lua) -> &'static str {
    match value {
        Lua::Nil => "nil",
        Lua::Boolean(_) => "boolean",
        Lua::Integer(_) | Lua::Number(_) => "number",
        Lua::String(_) => "string",
        Lua::Table(_) => "table",
        Lua::Function(_) => "function",
        Lua::Thread(_) => "thread",
        Lua::LightUserData(p) if p.0.is_null() => "null",
        _ => "userdata",
    }
}

fn is_null(value: &Lua) -> bool {
    matches!(value, Lua::LightUserData(p) if p.0.is_null())
}

fn as_number(value: &Lua) -> Option<f64> {
    match value {
        Lua::Integer(i) => Some(*i as f64),
        Lua::Number(n) => Some(*n),
        _ => None,
    }
}

/// A JSON number for a Lua number: integral values within ±2⁵³ as integers (as cjson prints
/// them), others as floats.
fn json_number(n: f64) -> Option<Json> {
    if !n.is_finite() {
        return None;
    }
    if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_992.0 {
        return Some(Json::from(n as i64));
    }
    Number::from_f64(n).map(Json::Number)
}

fn lua_string(value: &Lua) -> Option<String> {
    match value {
        Lua::String(s) => Some(s.to_string_lossy()),
        _ => None,
    }
}

impl Converter<'_> {
    fn count_value(&mut self, path: &str) -> Result<(), String> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(format!(
                "{path}: the schema holds more than {MAX_VALUES} values, more than the plugin sandbox converts"
            ));
        }
        Ok(())
    }

    /// All pairs of a table, read raw.
    fn pairs(&mut self, path: &str, table: &Table) -> Result<Vec<(Lua, Lua)>, String> {
        if table.raw_len() > MAX_TABLE_ENTRIES {
            return Err(format!(
                "{path}: a table of more than {MAX_TABLE_ENTRIES} entries is more than the plugin sandbox converts"
            ));
        }
        let mut out = Vec::new();
        table
            .for_each::<Lua, Lua>(|k, v| {
                if out.len() >= MAX_TABLE_ENTRIES {
                    return Err(mlua::Error::runtime(format!(
                        "more than {MAX_TABLE_ENTRIES} entries"
                    )));
                }
                out.push((k, v));
                Ok(())
            })
            .map_err(|e| format!("{path}: cannot read the table: {e}"))?;
        for _ in 0..out.len() {
            self.count_value(path)?;
        }
        Ok(out)
    }

    /// The pairs of a table whose keys must all be strings, sorted by key.
    fn string_pairs(&mut self, path: &str, table: &Table) -> Result<Vec<(String, Lua)>, String> {
        let mut out = Vec::new();
        for (k, v) in self.pairs(path, table)? {
            match lua_string(&k) {
                Some(k) => out.push((k, v)),
                None => {
                    return Err(format!(
                        "{path}: keys must be strings (found a {} key)",
                        type_name(&k)
                    ))
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The values of a table that must be a sequence (keys exactly 1..n).
    fn sequence(&mut self, path: &str, table: &Table, what: &str) -> Result<Vec<Lua>, String> {
        let pairs = self.pairs(path, table)?;
        let mut slots: Vec<Option<Lua>> = vec![None; pairs.len()];
        for (k, v) in pairs {
            let index = as_number(&k)
                .filter(|n| n.fract() == 0.0 && *n >= 1.0 && *n <= slots.len() as f64)
                .map(|n| n as usize - 1);
            match index {
                Some(i) => slots[i] = Some(v),
                None => return Err(format!("{path}: expected {what}")),
            }
        }
        slots
            .into_iter()
            .map(|v| v.ok_or_else(|| format!("{path}: expected {what}")))
            .collect()
    }

    fn not_stub(&self, path: &str, value: &Lua) -> Result<(), String> {
        match value {
            Lua::Table(t) if self.sandbox.is_stub(t) => Err(format!(
                "{path}: a sandbox stub is not a value (kong.* and ngx.* values are not available to schemas)"
            )),
            _ => Ok(()),
        }
    }

    fn table<'v>(&self, path: &str, value: &'v Lua, what: &str) -> Result<&'v Table, String> {
        match value {
            Lua::Table(t) if self.sandbox.is_stub(t) => Err(format!(
                "{path}: expected {what}, got a sandbox stub (kong.* and ngx.* values are not available to schemas)"
            )),
            Lua::Table(t) => Ok(t),
            other => Err(format!("{path}: expected {what}, got {}", type_name(other))),
        }
    }

    fn string(&self, path: &str, value: &Lua) -> Result<String, String> {
        lua_string(value).ok_or_else(|| format!("{path}: expected a string"))
    }

    fn boolean(&self, path: &str, value: &Lua) -> Result<bool, String> {
        match value {
            Lua::Boolean(b) => Ok(*b),
            _ => Err(format!("{path}: expected a boolean")),
        }
    }

    fn number(&self, path: &str, value: &Lua) -> Result<f64, String> {
        as_number(value)
            .filter(|n| n.is_finite())
            .ok_or_else(|| format!("{path}: expected a number"))
    }

    fn integer(&self, path: &str, value: &Lua) -> Result<i64, String> {
        match as_number(value) {
            Some(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 9.2e18 => Ok(n as i64),
            _ => Err(format!("{path}: expected an integer")),
        }
    }

    fn string_list(&mut self, path: &str, value: &Lua) -> Result<Vec<String>, String> {
        let table = self.table(path, value, "an array")?;
        let items = self.sequence(path, table, "an array")?;
        items
            .iter()
            .enumerate()
            .map(|(i, v)| self.string(&format!("{path}[{}]", i + 1), v))
            .collect()
    }

    // ----- the schema -----

    fn schema(&mut self, value: Lua) -> Result<PluginSchema, String> {
        let top = match &value {
            Lua::Table(t) if !self.sandbox.is_stub(t) => t.clone(),
            other => {
                return Err(format!(
                    "schema: the file must return a table, got {}",
                    type_name(other)
                ))
            }
        };
        let attrs = self.string_pairs("schema", &top)?;
        for (key, _) in &attrs {
            if !SCHEMA_KEYS.contains(&key.as_str()) {
                return Err(format!("{key}: unknown field"));
            }
        }
        let get = |name: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };

        let name = match get("name") {
            None => return Err("name: required field missing".to_string()),
            Some(v) => self.string("name", &v)?,
        };
        if name.is_empty() {
            return Err("name: length must be at least 1".to_string());
        }

        // Optional at create, required at load, in Kong's words.
        let fields_value = get("fields").ok_or("error in schema definition: no 'fields' table")?;
        let fields = self.fields_array("", "fields", &fields_value, 0)?;
        for (field_name, field) in &fields {
            check_plugin_field(field_name, field)?;
        }
        // No `config` is fine: the plugins entity's `config` is abstract but not required, so
        // Kong loads such a schema (its instances then take no config).

        let entity_checks = match get("entity_checks") {
            None => Vec::new(),
            Some(v) => self.entity_checks("entity_checks", &v, &fields)?,
        };
        let has_check_function = match get("check") {
            None => false,
            Some(Lua::Function(_)) => true,
            Some(_) => return Err("check: expected a function".to_string()),
        };
        if let Some(v) = get("shorthand_fields") {
            self.shorthand_fields("shorthand_fields", &v, 0)?;
        }
        if let Some(v) = get("transformations") {
            self.table("transformations", &v, "an array")?;
        }

        Ok(PluginSchema {
            name,
            fields,
            entity_checks,
            has_check_function,
            custom_source: None,
        })
    }

    /// A `fields` array of single-key maps. `record` is the path of the declaring record
    /// (`""` at the top), `path` the path of the array itself for messages.
    fn fields_array(
        &mut self,
        record: &str,
        path: &str,
        value: &Lua,
        depth: usize,
    ) -> Result<Vec<(String, Field)>, String> {
        let table = self.table(path, value, "an array")?;
        let entries = self.sequence(path, table, "an array")?;
        let mut out: Vec<(String, Field)> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let entry_path = format!("{path}[{}]", i + 1);
            let entry = match entry {
                Lua::Table(t) if !self.sandbox.is_stub(t) => t,
                _ => {
                    return Err(format!(
                        "{entry_path}: each entry in fields must be a sub-table"
                    ))
                }
            };
            let pairs = self.pairs(&entry_path, entry)?;
            let (key, definition) = match pairs.as_slice() {
                [] => return Err(format!("{entry_path}: field entry table is empty")),
                [(k, v)] => (k.clone(), v.clone()),
                _ => {
                    return Err(format!(
                        "{entry_path}: each entry in fields must declare exactly one field (this one has {})",
                        pairs.len()
                    ))
                }
            };
            let key = lua_string(&key)
                .ok_or_else(|| format!("{entry_path}: each key in fields must be a string"))?;
            let field_path = join(record, &key);
            let definition = match &definition {
                Lua::Table(t) if !self.sandbox.is_stub(t) => t.clone(),
                _ => return Err(format!("{field_path}: '{key}' must be a table")),
            };
            if out.iter().any(|(n, _)| *n == key) {
                return Err(format!("{field_path}: field declared twice"));
            }
            let field = self.field(&field_path, &definition, depth + 1)?;
            out.push((key, field));
        }
        Ok(out)
    }

    /// One field definition.
    fn field(&mut self, path: &str, table: &Table, depth: usize) -> Result<Field, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "{path}: fields are nested more than {MAX_DEPTH} levels deep"
            ));
        }
        self.fields += 1;
        if self.fields > MAX_FIELDS {
            return Err(format!(
                "{path}: the schema declares more than {MAX_FIELDS} fields"
            ));
        }
        let attrs = self.string_pairs(path, table)?;
        let get = |name: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };

        let ty = match get("type") {
            None => return Err(format!("{path}: missing type declaration")),
            Some(v) => {
                let name = self.string(&join(path, "type"), &v)?;
                match FieldType::parse(&name) {
                    Some(FieldType::Any) | None => {
                        return Err(format!(
                            "{}: expected one of: {TYPE_NAMES} (got '{name}')",
                            join(path, "type")
                        ))
                    }
                    Some(FieldType::Function) => {
                        return Err(format!("{path}: entities cannot have function types"))
                    }
                    Some(ty) => ty,
                }
            }
        };

        for (name, _) in &attrs {
            let name = name.as_str();
            if name == "nilable" {
                return Err(format!("{path}: entities cannot have nilable types"));
            }
            if !ATTRIBUTES.contains(&name) && !VALIDATORS.contains(&name) {
                return Err(format!("{}: unknown field", join(path, name)));
            }
        }
        // Kong's restricted metaschema does not check that an attribute suits the type (a
        // number field may carry `elements`): such attributes are accepted and ignored.
        let attrs: Vec<(String, Lua)> = attrs
            .into_iter()
            .filter(|(name, _)| attribute_allowed(name, ty))
            .collect();
        // Kong accepts a type without its companion (`elements`, `keys`/`values`, `fields`,
        // `json_schema`) on create and load; validating a value of it fails later, which the
        // validator reports for the instances that set it.

        let mut field = Field::new(ty);
        let mut default = None;
        let mut entity_checks = None;
        for (name, value) in &attrs {
            let at = join(path, name);
            match name.as_str() {
                "type" => {}
                "default" => default = Some(value.clone()),
                "entity_checks" => entity_checks = Some(value.clone()),
                "description" => {
                    let text = self.string(&at, value)?;
                    if text.len() < 10 {
                        return Err(format!("{at}: length must be at least 10"));
                    }
                    if text.len() > 500 {
                        return Err(format!("{at}: length must be at most 500"));
                    }
                    field.description = Some(text);
                }
                "reference" => field.reference = Some(self.string(&at, value)?),
                "err" => field.err = Some(self.string(&at, value)?),
                "auto" => field.auto = self.boolean(&at, value)?,
                "encrypted" => field.encrypted = self.boolean(&at, value)?,
                "referenceable" => field.referenceable = self.boolean(&at, value)?,
                "abstract" | "generate_admin_api" | "immutable" | "transient" | "unique"
                | "unique_across_ws" => {
                    self.boolean(&at, value)?;
                }
                "on_delete" => {
                    let v = self.string(&at, value)?;
                    if !["restrict", "cascade", "null"].contains(&v.as_str()) {
                        return Err(format!("{at}: expected one of: restrict, cascade, null"));
                    }
                }
                "examples" => {
                    let t = self.table(&at, value, "an array")?;
                    self.sequence(&at, t, "an array")?;
                }
                "deprecation" => {
                    self.table(&at, value, "a record")?;
                }
                "shorthand_fields" => {
                    field.shorthands = self.shorthand_fields(&at, value, depth)?
                }
                "json_schema" => {
                    self.table(&at, value, "a record")?;
                    field.json_schema = Some(self.json(&at, value, depth)?);
                }
                "fields" => field.fields = self.fields_array(path, &at, value, depth)?,
                _ => self.attribute(path, name, value, &mut field, depth)?,
            }
        }
        if field.ty == FieldType::Map {
            if let Some(keys) = &field.keys {
                if keys.ty != FieldType::String {
                    return Err(format!(
                        "{path}.keys: map keys must be strings in an entity schema"
                    ));
                }
            }
        }
        if let Some(checks) = entity_checks {
            let at = join(path, "entity_checks");
            field.entity_checks = self.entity_checks(&at, &checks, &field.fields)?;
        }
        if let Some(value) = default {
            let at = join(path, "default");
            field.default = Some(self.typed(&at, &value, &field, depth)?);
        }
        Ok(field)
    }

    /// The attributes shared by field definitions and conditional matches: validators and the
    /// nested `elements` / `keys` / `values` definitions, plus `required`.
    fn attribute(
        &mut self,
        path: &str,
        name: &str,
        value: &Lua,
        field: &mut Field,
        depth: usize,
    ) -> Result<(), String> {
        let at = join(path, name);
        match name {
            "required" => field.required = Some(self.boolean(&at, value)?),
            "elements" | "keys" | "values" => {
                let table = match value {
                    Lua::Table(t) if !self.sandbox.is_stub(t) => t.clone(),
                    _ => return Err(format!("{path}: '{name}' must be a table")),
                };
                let nested = Box::new(self.field(&at, &table, depth + 1)?);
                match name {
                    "elements" => field.elements = Some(nested),
                    "keys" => field.keys = Some(nested),
                    _ => field.values = Some(nested),
                }
            }
            "eq" => field.validators.eq = Some(self.json(&at, value, depth)?),
            "ne" => field.validators.ne = Some(self.json(&at, value, depth)?),
            "contains" => field.validators.contains = Some(self.json(&at, value, depth)?),
            "one_of" | "not_one_of" => {
                let table = self.table(&at, value, "an array")?;
                let items = self.sequence(&at, table, "an array")?;
                let mut list = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    list.push(self.json(&format!("{at}[{}]", i + 1), item, depth)?);
                }
                if name == "one_of" {
                    field.validators.one_of = Some(list);
                } else {
                    field.validators.not_one_of = Some(list);
                }
            }
            "gt" => field.validators.gt = Some(self.number(&at, value)?),
            "between" => {
                let table = self.table(&at, value, "an array")?;
                let items = self.sequence(&at, table, "an array")?;
                if items.len() != 2 {
                    return Err(format!("{at}: length must be 2"));
                }
                let lo = self.number(&format!("{at}[1]"), &items[0])?;
                let hi = self.number(&format!("{at}[2]"), &items[1])?;
                field.validators.between = Some((lo, hi));
            }
            "len_eq" => field.validators.len_eq = Some(self.integer(&at, value)?),
            "len_min" => field.validators.len_min = Some(self.integer(&at, value)?),
            "len_max" => field.validators.len_max = Some(self.integer(&at, value)?),
            "match" => field.validators.r#match = Some(self.string(&at, value)?),
            "not_match" => field.validators.not_match = Some(self.string(&at, value)?),
            "starts_with" => field.validators.starts_with = Some(self.string(&at, value)?),
            "match_all" => field.validators.match_all = Some(self.pattern_list(&at, value)?),
            "match_none" => field.validators.match_none = Some(self.pattern_list(&at, value)?),
            "match_any" => field.validators.match_any = Some(self.match_any(&at, value)?),
            "uuid" => field.validators.uuid = self.boolean(&at, value)?,
            "timestamp" => field.validators.timestamp = self.boolean(&at, value)?,
            "is_regex" => field.validators.is_regex = self.boolean(&at, value)?,
            "mutually_exclusive_subsets" => {
                let table = self.table(&at, value, "an array")?;
                let items = self.sequence(&at, table, "an array")?;
                let mut subsets = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    subsets.push(self.string_list(&format!("{at}[{}]", i + 1), item)?);
                }
                field.validators.mutually_exclusive_subsets = Some(subsets);
            }
            "custom_validator" => match value {
                Lua::Function(_) => match self.sandbox.marker_name(value) {
                    Some(marker) => {
                        if let Some(builtin) = Builtin::from_name(&marker) {
                            if !field.builtins.contains(&builtin) {
                                field.builtins.push(builtin);
                            }
                        }
                    }
                    None => {
                        field.has_custom_validator = true;
                        if let Lua::Function(f) = value {
                            field.custom_fn = Some(self.custom_fn(f));
                        }
                    }
                },
                _ => return Err(format!("{at}: expected a function")),
            },
            _ => return Err(format!("{at}: unknown field")),
        }
        Ok(())
    }

    /// `match_all` / `match_none`: `{ { pattern = …, err = … }, … }`. A missing `err` is kept as
    /// an empty string (Kong then reports `invalid value: <value>`).
    fn pattern_list(&mut self, path: &str, value: &Lua) -> Result<Vec<PatternErr>, String> {
        let table = self.table(path, value, "an array")?;
        let items = self.sequence(path, table, "an array")?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}[{}]", i + 1);
            let entry = self.table(&at, item, "a record")?;
            let mut pattern = None;
            let mut err = String::new();
            for (k, v) in self.string_pairs(&at, entry)? {
                match k.as_str() {
                    "pattern" => pattern = Some(self.string(&join(&at, "pattern"), &v)?),
                    "err" => err = self.string(&join(&at, "err"), &v)?,
                    other => return Err(format!("{}: unknown field", join(&at, other))),
                }
            }
            let pattern = pattern.ok_or_else(|| format!("{at}.pattern: required field missing"))?;
            out.push(PatternErr { pattern, err });
        }
        Ok(out)
    }

    /// `match_any = { patterns = {…}, err = … }`.
    fn match_any(&mut self, path: &str, value: &Lua) -> Result<MatchAny, String> {
        let table = self.table(path, value, "a record")?;
        let mut patterns = None;
        let mut err = String::new();
        for (k, v) in self.string_pairs(path, table)? {
            match k.as_str() {
                "patterns" => patterns = Some(self.string_list(&join(path, "patterns"), &v)?),
                "err" => err = self.string(&join(path, "err"), &v)?,
                other => return Err(format!("{}: unknown field", join(path, other))),
            }
        }
        let patterns =
            patterns.ok_or_else(|| format!("{path}.patterns: required field missing"))?;
        Ok(MatchAny { patterns, err })
    }

    /// `shorthand_fields`: accepted (single-key maps of definitions with a `func`) and ignored.
    fn shorthand_fields(
        &mut self,
        path: &str,
        value: &Lua,
        depth: usize,
    ) -> Result<Vec<Shorthand>, String> {
        let table = self.table(path, value, "an array")?;
        let items = self.sequence(path, table, "an array")?;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}[{}]", i + 1);
            let entry = self.table(&at, item, "a map with one shorthand field")?;
            let pairs = self.string_pairs(&at, entry)?;
            let [(name, definition)] = pairs.as_slice() else {
                return Err(format!("{at}: length must be 1"));
            };
            let definition = self.table(&join(&at, name), definition, "a table")?;
            let Ok(Lua::Function(func)) = definition.raw_get::<Lua>("func") else {
                return Err(format!("{at}.{name}.func: required field missing"));
            };
            let (field, deprecated, replaced_with) =
                self.shorthand_definition(&join(&at, name), definition, depth)?;
            let func_id = self.custom_fn(&func);
            out.push(Shorthand {
                name: name.clone(),
                target: probe_shorthand(&func),
                func: Some(func_id),
                definition: Some(Box::new(field)),
                deprecated,
                replaced_with,
            });
        }
        Ok(out)
    }

    /// A shorthand's definition as a field (without `func` and `translate_backwards*`), whether
    /// it is deprecated, and the paths its value must agree with (`deprecation.replaced_with`,
    /// else `translate_backwards`).
    #[allow(clippy::type_complexity)]
    fn shorthand_definition(
        &mut self,
        path: &str,
        definition: &Table,
        depth: usize,
    ) -> Result<(Field, bool, Vec<Vec<String>>), String> {
        const OWN: [&str; 3] = ["func", "translate_backwards", "translate_backwards_with"];
        let lua = self.sandbox.lua();
        let copy = lua.create_table().map_err(|e| format!("{path}: {e}"))?;
        let mut translate_backwards = None;
        let mut deprecation = None;
        for (k, v) in self.string_pairs(path, definition)? {
            match k.as_str() {
                "translate_backwards" => {
                    translate_backwards =
                        Some(self.string_list(&join(path, "translate_backwards"), &v)?)
                }
                "deprecation" => {
                    deprecation = Some(v.clone());
                    copy.raw_set(k, v).map_err(|e| format!("{path}: {e}"))?;
                }
                name if OWN.contains(&name) => {}
                _ => copy.raw_set(k, v).map_err(|e| format!("{path}: {e}"))?,
            }
        }
        let field = self.field(path, &copy, depth + 1)?;
        let mut replaced_with = Vec::new();
        if let Some(Lua::Table(d)) = &deprecation {
            if let Ok(Lua::Table(list)) = d.raw_get::<Lua>("replaced_with") {
                for item in list.sequence_values::<Lua>().flatten() {
                    if let Lua::Table(entry) = item {
                        if let Ok(p @ Lua::Table(_)) = entry.raw_get::<Lua>("path") {
                            replaced_with
                                .push(self.string_list(&join(path, "replaced_with.path"), &p)?);
                        }
                    }
                }
            }
        }
        if replaced_with.is_empty() && deprecation.is_some() {
            replaced_with.extend(translate_backwards);
        }
        Ok((field, deprecation.is_some(), replaced_with))
    }

    // ----- entity checks -----

    fn entity_checks(
        &mut self,
        path: &str,
        value: &Lua,
        scope: &[(String, Field)],
    ) -> Result<Vec<EntityCheck>, String> {
        let table = self.table(path, value, "an array")?;
        let items = self.sequence(path, table, "an array")?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}[{}]", i + 1);
            let entry = self.table(&at, item, "a record")?;
            let pairs = self.string_pairs(&at, entry)?;
            for (k, _) in &pairs {
                if !CHECKERS.contains(&k.as_str()) {
                    return Err(format!("{}: unknown field", join(&at, k)));
                }
            }
            let [(checker, arg)] = pairs.as_slice() else {
                return Err(format!(
                    "{at}: exactly one of these fields must be non-empty: {}",
                    CHECKERS
                        .iter()
                        .map(|c| format!("'{c}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            let check_path = join(&at, checker);
            out.push(self.entity_check(&check_path, checker, arg, scope)?);
        }
        Ok(out)
    }

    fn entity_check(
        &mut self,
        path: &str,
        checker: &str,
        arg: &Lua,
        scope: &[(String, Field)],
    ) -> Result<EntityCheck, String> {
        Ok(match checker {
            "at_least_one_of" => EntityCheck::AtLeastOneOf(self.string_list(path, arg)?),
            "only_one_of" => EntityCheck::OnlyOneOf(self.string_list(path, arg)?),
            "distinct" => EntityCheck::Distinct(self.string_list(path, arg)?),
            "mutually_required" => EntityCheck::MutuallyRequired(self.string_list(path, arg)?),
            "mutually_exclusive" => EntityCheck::MutuallyExclusive(self.string_list(path, arg)?),
            "mutually_exclusive_sets" => {
                let attrs = self.record_attrs(path, arg, &["set1", "set2"])?;
                let set = |c: &mut Self, name: &str| match attrs.iter().find(|(k, _)| k == name) {
                    Some((_, v)) => c.string_list(&join(path, name), v),
                    None => Ok(Vec::new()),
                };
                EntityCheck::MutuallyExclusiveSets {
                    set1: set(self, "set1")?,
                    set2: set(self, "set2")?,
                }
            }
            "custom_entity_check" => {
                let attrs = self.record_attrs(
                    path,
                    arg,
                    &[
                        "field_sources",
                        "fn",
                        "run_with_invalid_fields",
                        "run_with_missing_fields",
                    ],
                )?;
                let mut field_sources = Vec::new();
                let (mut custom_fn, mut run_with_missing, mut run_with_invalid) =
                    (None, false, false);
                for (k, v) in &attrs {
                    let at = join(path, k);
                    match k.as_str() {
                        "field_sources" => field_sources = self.string_list(&at, v)?,
                        "fn" => match v {
                            Lua::Function(f) => custom_fn = Some(self.custom_fn(f)),
                            _ => return Err(format!("{at}: expected a function")),
                        },
                        "run_with_invalid_fields" => run_with_invalid = self.boolean(&at, v)?,
                        "run_with_missing_fields" => run_with_missing = self.boolean(&at, v)?,
                        _ => {}
                    }
                }
                EntityCheck::CustomEntityCheck {
                    field_sources,
                    custom_fn,
                    run_with_missing,
                    run_with_invalid,
                }
            }
            "conditional" => {
                let attrs = self.record_attrs(
                    path,
                    arg,
                    &[
                        "if_field",
                        "if_match",
                        "then_err",
                        "then_field",
                        "then_match",
                    ],
                )?;
                let get = |name: &str| attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v);
                let if_field = self.required_string(path, "if_field", get("if_field"))?;
                let then_field = self.required_string(path, "then_field", get("then_field"))?;
                let if_match =
                    self.condition(path, "if_match", get("if_match"), scope, &if_field)?;
                let then_match =
                    self.condition(path, "then_match", get("then_match"), scope, &then_field)?;
                let then_err = self.optional_string(path, "then_err", get("then_err"))?;
                EntityCheck::Conditional {
                    if_field,
                    if_match: Box::new(if_match),
                    then_field,
                    then_match: Box::new(then_match),
                    then_err,
                }
            }
            "conditional_at_least_one_of" => {
                let attrs = self.record_attrs(
                    path,
                    arg,
                    &[
                        "else_match",
                        "else_then_at_least_one_of",
                        "else_then_err",
                        "if_field",
                        "if_match",
                        "then_at_least_one_of",
                        "then_err",
                    ],
                )?;
                let get = |name: &str| attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v);
                let if_field = self.required_string(path, "if_field", get("if_field"))?;
                let if_match =
                    self.condition(path, "if_match", get("if_match"), scope, &if_field)?;
                let then_at_least_one_of = match get("then_at_least_one_of") {
                    Some(v) => self.string_list(&join(path, "then_at_least_one_of"), v)?,
                    None => {
                        return Err(format!(
                            "{path}.then_at_least_one_of: required field missing"
                        ))
                    }
                };
                let then_err = self.optional_string(path, "then_err", get("then_err"))?;
                let else_match = match get("else_match") {
                    Some(v) => Some(Box::new(self.condition(
                        path,
                        "else_match",
                        Some(v),
                        scope,
                        &if_field,
                    )?)),
                    None => None,
                };
                let else_then_at_least_one_of = match get("else_then_at_least_one_of") {
                    Some(v) => Some(self.string_list(&join(path, "else_then_at_least_one_of"), v)?),
                    None => None,
                };
                let else_then_err =
                    self.optional_string(path, "else_then_err", get("else_then_err"))?;
                EntityCheck::ConditionalAtLeastOneOf {
                    if_field,
                    if_match: Box::new(if_match),
                    then_at_least_one_of,
                    then_err,
                    else_match,
                    else_then_at_least_one_of,
                    else_then_err,
                }
            }
            other => return Err(format!("{}: unknown field", join(path, other))),
        })
    }

    /// The string-keyed pairs of a record argument, refusing keys outside `allowed`.
    fn record_attrs(
        &mut self,
        path: &str,
        value: &Lua,
        allowed: &[&str],
    ) -> Result<Vec<(String, Lua)>, String> {
        let table = self.table(path, value, "a record")?;
        let attrs = self.string_pairs(path, table)?;
        for (k, _) in &attrs {
            if !allowed.contains(&k.as_str()) {
                return Err(format!("{}: unknown field", join(path, k)));
            }
        }
        Ok(attrs)
    }

    fn required_string(
        &self,
        path: &str,
        name: &str,
        value: Option<&Lua>,
    ) -> Result<String, String> {
        match value {
            Some(v) => self.string(&join(path, name), v),
            None => Err(format!("{path}.{name}: required field missing")),
        }
    }

    fn optional_string(
        &self,
        path: &str,
        name: &str,
        value: Option<&Lua>,
    ) -> Result<Option<String>, String> {
        value.map(|v| self.string(&join(path, name), v)).transpose()
    }

    /// A conditional's `if_match` / `then_match` / `else_match`, as a field of the type of the
    /// field it applies to (`any` when the path does not resolve, e.g. through a foreign key).
    fn condition(
        &mut self,
        path: &str,
        name: &str,
        value: Option<&Lua>,
        scope: &[(String, Field)],
        target: &str,
    ) -> Result<Field, String> {
        let at = join(path, name);
        let value = value.ok_or_else(|| format!("{at}: required field missing"))?;
        let table = self.table(&at, value, "a record")?;
        let mut field = Field::new(resolve_type(scope, target).unwrap_or(FieldType::Any));
        for (k, v) in self.string_pairs(&at, table)? {
            if !CONDITIONAL_ATTRIBUTES.contains(&k.as_str()) && !VALIDATORS.contains(&k.as_str()) {
                return Err(format!("{}: unknown field", join(&at, &k)));
            }
            self.attribute(&at, &k, &v, &mut field, 1)?;
        }
        Ok(field)
    }

    // ----- values -----

    /// A value with no field definition to guide it (`eq`, `one_of` items, `json_schema`, …):
    /// sequences become arrays, other tables objects (an empty table is `{}`).
    fn json(&mut self, path: &str, value: &Lua, depth: usize) -> Result<Json, String> {
        self.count_value(path)?;
        if depth > MAX_DEPTH * 2 {
            return Err(format!("{path}: value is nested too deeply"));
        }
        self.not_stub(path, value)?;
        match value {
            Lua::Nil => Ok(Json::Null),
            v if is_null(v) => Ok(Json::Null),
            Lua::Boolean(b) => Ok(Json::Bool(*b)),
            Lua::Integer(_) | Lua::Number(_) => as_number(value)
                .and_then(json_number)
                .ok_or_else(|| format!("{path}: numbers must be finite")),
            Lua::String(s) => Ok(Json::String(s.to_string_lossy())),
            Lua::Table(_) => {
                let table = self.table(path, value, "a value")?;
                let pairs = self.pairs(path, table)?;
                if pairs.is_empty() {
                    return Ok(Json::Object(Map::new()));
                }
                if let Ok(items) = self.sequence(path, table, "an array") {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        out.push(self.json(&format!("{path}[{}]", i + 1), item, depth + 1)?);
                    }
                    return Ok(Json::Array(out));
                }
                let mut keyed = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    let key = match &k {
                        Lua::String(s) => s.to_string_lossy(),
                        Lua::Integer(_) | Lua::Number(_) => match as_number(&k)
                            .and_then(json_number)
                        {
                            Some(n) => n.to_string(),
                            None => return Err(format!("{path}: keys must be strings or numbers")),
                        },
                        other => {
                            return Err(format!(
                                "{path}: keys must be strings or numbers (found a {} key)",
                                type_name(other)
                            ))
                        }
                    };
                    keyed.push((key, v));
                }
                keyed.sort_by(|a, b| a.0.cmp(&b.0));
                let mut out = Map::new();
                for (k, v) in keyed {
                    let item = self.json(&join(path, &k), &v, depth + 1)?;
                    out.insert(k, item);
                }
                Ok(Json::Object(out))
            }
            other => Err(format!(
                "{path}: a {} value cannot be part of a schema",
                type_name(other)
            )),
        }
    }

    /// A `default` (or a part of one) converted and type-checked against its field, the way
    /// Kong's metaschema validates `default` with the field itself. An empty table is `[]` for
    /// arrays and sets, `{}` for maps and records.
    fn typed(
        &mut self,
        path: &str,
        value: &Lua,
        field: &Field,
        depth: usize,
    ) -> Result<Json, String> {
        self.count_value(path)?;
        if depth > MAX_DEPTH * 2 {
            return Err(format!("{path}: value is nested too deeply"));
        }
        if is_null(value) {
            return Ok(Json::Null);
        }
        self.not_stub(path, value)?;
        let json = match field.ty {
            FieldType::String => {
                Json::String(lua_string(value).ok_or_else(|| format!("{path}: expected a string"))?)
            }
            FieldType::Number => as_number(value)
                .and_then(json_number)
                .ok_or_else(|| format!("{path}: expected a number"))?,
            FieldType::Integer => match as_number(value) {
                Some(n) if n.is_finite() && n.fract() == 0.0 => {
                    json_number(n).ok_or_else(|| format!("{path}: expected an integer"))?
                }
                _ => return Err(format!("{path}: expected an integer")),
            },
            FieldType::Boolean => match value {
                Lua::Boolean(b) => Json::Bool(*b),
                _ => return Err(format!("{path}: expected a boolean")),
            },
            FieldType::Array | FieldType::Set => {
                let what = if field.ty == FieldType::Set {
                    "a set"
                } else {
                    "an array"
                };
                let table = self.table(path, value, what)?;
                let items = self.sequence(path, table, what)?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{path}[{}]", i + 1);
                    out.push(match &field.elements {
                        Some(elements) => self.typed(&at, item, elements, depth + 1)?,
                        None => self.json(&at, item, depth + 1)?,
                    });
                }
                Json::Array(out)
            }
            FieldType::Map => {
                let table = self.table(path, value, "a map")?;
                let mut out = Map::new();
                for (k, v) in self.string_pairs(path, table)? {
                    let at = join(path, &k);
                    let item = match &field.values {
                        Some(values) => self.typed(&at, &v, values, depth + 1)?,
                        None => self.json(&at, &v, depth + 1)?,
                    };
                    out.insert(k, item);
                }
                Json::Object(out)
            }
            FieldType::Record => {
                let table = self.table(path, value, "a record")?;
                let mut out = Map::new();
                for (k, v) in self.string_pairs(path, table)? {
                    let at = join(path, &k);
                    let sub = field
                        .field(&k)
                        .ok_or_else(|| format!("{at}: unknown field"))?;
                    let item = self.typed(&at, &v, sub, depth + 1)?;
                    out.insert(k, item);
                }
                Json::Object(out)
            }
            FieldType::Foreign | FieldType::Json | FieldType::Function | FieldType::Any => {
                self.json(path, value, depth + 1)?
            }
        };
        // Its validators (`one_of`, …) are checked on the converted schema, as Kong's create
        // does (`kong_meta::check_defaults`).
        Ok(json)
    }
}

/// Kong's `attribute_types`, plus the structural attributes the model can only hold for their
/// own types.
fn attribute_allowed(attribute: &str, ty: FieldType) -> bool {
    use FieldType as T;
    let allowed: &[FieldType] = match attribute {
        "between" | "timestamp" => &[T::Integer, T::Number],
        "len_eq" => &[T::Array, T::Set, T::String, T::Map],
        "match" | "is_regex" | "uuid" => &[T::String],
        "one_of" => &[T::String, T::Number, T::Integer],
        "contains" | "elements" => &[T::Array, T::Set],
        "unique" | "unique_across_ws" => &[T::String, T::Number, T::Integer, T::Foreign],
        "abstract" => &[
            T::String,
            T::Number,
            T::Integer,
            T::Record,
            T::Array,
            T::Set,
            T::Map,
        ],
        "json_schema" => &[T::Json],
        "keys" | "values" => &[T::Map],
        "fields" | "entity_checks" => &[T::Record],
        _ => return true,
    };
    allowed.contains(&ty)
}

/// Checks a top-level field against Kong's `plugins` entity: the name must exist there and the
/// type must stay compatible.
fn check_plugin_field(name: &str, field: &Field) -> Result<(), String> {
    use FieldType as T;
    let (expected, elements): (FieldType, Option<FieldType>) = match name {
        "id" | "name" | "instance_name" | "condition" => (T::String, None),
        "created_at" | "updated_at" => (T::Integer, None),
        "route" | "service" | "consumer" | "consumer_group" => (T::Foreign, None),
        "config" | "ordering" => (T::Record, None),
        "protocols" | "tags" => (T::Set, Some(T::String)),
        "enabled" => (T::Boolean, None),
        "partials" => (T::Array, Some(T::Record)),
        _ => return Err(format!("{name}: cannot create a new field")),
    };
    if name == "config" && field.ty != T::Record {
        return Err(format!(
            "config: must be a record (got a field of type '{}')",
            field.ty.as_str()
        ));
    }
    let compatible = field.ty == expected
        && elements.is_none_or(|e| field.elements.as_ref().is_some_and(|f| f.ty == e));
    if !compatible {
        return Err(format!(
            "{name}: cannot change type in a specialized field (Kong declares it as {}{})",
            expected.as_str(),
            elements
                .map(|e| format!(" of {}", e.as_str()))
                .unwrap_or_default()
        ));
    }
    Ok(())
}

/// The type of the field at a dotted path relative to `scope`.
fn resolve_type(scope: &[(String, Field)], path: &str) -> Option<FieldType> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let field = scope.iter().find(|(n, _)| n == head).map(|(_, f)| f)?;
    match rest {
        None => Some(field.ty),
        Some(rest) if field.ty == FieldType::Record => resolve_type(&field.fields, rest),
        Some(_) => None,
    }
}
