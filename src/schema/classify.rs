//! Schema-change classification (CONTRACT §4.2): compares the old and the new schema of one
//! custom plugin and sorts every change into one of Kong's update paths, so the planner can
//! tell an in-place update from one that needs a new plugin version.
//!
//! Kong documents the paths for hybrid deployments (kong-api.md §1.9): `short` (update the
//! schema; instances keep working), `long` (instances must be updated too) and `cp_dp_sync`
//! (control plane and data planes must move together). [`classify`] walks `config`
//! recursively, the top-level fields besides `config` and the top-level entity checks, and
//! returns one [`SchemaChange`] per field and kind of change; [`update_path`] folds them into
//! the plugin's path. `docs/schema-changes.md` is the user-facing account of every rule.
//!
//! # Paths
//!
//! Dotted from the schema root: `config.redis.host`; the element definition of an array or set
//! is `….elements`, a map's key and value definitions `….keys` and `….values`; entity checks
//! of a record sit on the record's path plus `.@entity` (`config.@entity`), the schema's
//! top-level `entity_checks` and `check` function on `@entity` (the paths Kong's errors use).
//!
//! # Rules beyond Kong's table
//!
//! * "Required" is Kong's effective rule: an unset `required` on a record means required in
//!   the plugin's field tree (`make_records_required`), but not inside array, set or map
//!   elements, which that rule does not reach. Element, key and value definitions are always
//!   required (Kong validates each element as required) and never "become" optional.
//! * "Has a default" means Kong can fill a value that passes the required check: a non-null
//!   `default`, or, for a required record without one, a record Kong can build from `{}` (its
//!   required sub-fields have defaults and its entity checks pass on the result).
//! * A type change (or a `foreign` field's `reference`) is reported alone: nothing below it.
//! * Validator attributes compare by meaning: `one_of`, `not_one_of`, `match_all`,
//!   `match_none`, `match_any` patterns, typedef validators and entity-check field lists are
//!   sets; numbers compare by value (`60` = `60.0`); strings carry Kong's implied
//!   `len_min = 1`; `err` texts, descriptions, `encrypted` and field order are ignored.
//!   `referenceable` *is* compared: Kong skips a string's validators for vault references
//!   only on referenceable fields, so flipping it changes what validates.
//! * `auto` counts as a default (`default_changed`); `json_schema`, `custom_validator`
//!   functions and an element, key or value definition appearing or disappearing count as
//!   constraints (`constraint_changed`).
//! * Top-level fields besides `config` (`protocols`, `consumer`, …) are compared against
//!   Kong's own definition when the schema does not override them; every difference except a
//!   type change is one `constraint_changed` on the top-level name.
//!
//! Pure: no Lua, no I/O. The output is sorted by field, then change, so it is deterministic.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::schema::model::{EntityCheck, Field, FieldType, PluginSchema};
use crate::schema::validate::validate_value;

#[cfg(test)]
mod tests;

/// How a schema change can be rolled out (Kong's update paths). Ordered by severity:
/// `None < Short < Long < CpDpSync`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum UpdatePath {
    /// Nothing in the schema changed (only the handler or tags did).
    None,
    /// Update the schema; existing instances keep working.
    Short,
    /// Update the schema, then the existing instances' config.
    Long,
    /// The control plane and the data planes must be updated together.
    CpDpSync,
}

impl UpdatePath {
    /// The JSON name: `none`, `short`, `long`, `cp_dp_sync`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdatePath::None => "none",
            UpdatePath::Short => "short",
            UpdatePath::Long => "long",
            UpdatePath::CpDpSync => "cp_dp_sync",
        }
    }
}

impl fmt::Display for UpdatePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a field. The declaration order is the sort order within one field.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The field is new.
    Added,
    /// The field is gone.
    Removed,
    /// The field's type changed (for `foreign` fields, also its `reference`).
    TypeChanged,
    /// The field was optional and is now required.
    BecameRequired,
    /// The field was required and is now optional.
    BecameOptional,
    /// The field's `default` (or `auto`) changed.
    DefaultChanged,
    /// A validator, typedef validator, entity check or scope restriction changed.
    ConstraintChanged,
}

impl ChangeKind {
    /// The JSON name: `added`, `removed`, `type_changed`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::TypeChanged => "type_changed",
            ChangeKind::BecameRequired => "became_required",
            ChangeKind::BecameOptional => "became_optional",
            ChangeKind::DefaultChanged => "default_changed",
            ChangeKind::ConstraintChanged => "constraint_changed",
        }
    }

    /// The update path of this kind of change to a field that is `required` and
    /// `has_default` (the new field's attributes, the old one's for [`ChangeKind::Removed`]):
    /// Kong's table for added, removed and type-changed fields, CONTRACT §4.2 for the rest.
    pub fn update_path(self, required: bool, has_default: bool) -> UpdatePath {
        match (self, required, has_default) {
            (ChangeKind::Added, true, false) => UpdatePath::Long,
            (ChangeKind::Added, _, _) => UpdatePath::Short,
            (ChangeKind::Removed, true, false) => UpdatePath::CpDpSync,
            (ChangeKind::Removed, _, _) => UpdatePath::Long,
            (ChangeKind::TypeChanged, _, _) => UpdatePath::CpDpSync,
            (ChangeKind::BecameRequired, _, true) => UpdatePath::Short,
            (ChangeKind::BecameRequired, _, false) => UpdatePath::Long,
            (ChangeKind::BecameOptional, _, _) => UpdatePath::Short,
            (ChangeKind::DefaultChanged, _, _) => UpdatePath::Short,
            (ChangeKind::ConstraintChanged, _, _) => UpdatePath::Long,
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One classified change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SchemaChange {
    /// Dotted path from the schema root (see the module notes): `config.redis.host`,
    /// `config.hosts.elements`, `config.headers.values`, `config.@entity`, `protocols`.
    pub field: String,
    /// What happened to it.
    pub change: ChangeKind,
    /// Whether the field is required: the new field's, or the old one's when it was removed.
    /// `false` on `@entity` paths, which are not fields.
    pub required: bool,
    /// Whether the field has a default Kong can fill (same side as `required`).
    pub has_default: bool,
    /// The update path this change needs on its own.
    pub update_path: UpdatePath,
    /// For people: `type string → integer`, `default 60 → 30`, `one_of gained "x"`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// Compares two schemas of one plugin and classifies every change that can affect validation
/// or defaults filling. Sorted by field, then [`ChangeKind`] order; at most one entry per field
/// and kind (several constraint changes of one field share an entry, details joined by `; `).
pub fn classify(old: &PluginSchema, new: &PluginSchema) -> Vec<SchemaChange> {
    let mut out = Vec::new();
    compare_member(
        "config",
        old.config(),
        new.config(),
        RECORDS_REQUIRED,
        &mut out,
    );

    let names: BTreeSet<&str> = old
        .fields
        .iter()
        .chain(new.fields.iter())
        .map(|(name, _)| name.as_str())
        .filter(|name| *name != "config")
        .collect();
    for name in names {
        compare_top_level(name, old.field(name), new.field(name), &mut out);
    }

    let mut parts = entity_check_parts(&old.entity_checks, &new.entity_checks);
    if old.has_check_function != new.has_check_function {
        parts.push(added_or_removed("check function", new.has_check_function));
    }
    if !parts.is_empty() {
        push(
            &mut out,
            ENTITY.to_string(),
            ChangeKind::ConstraintChanged,
            Side::NOT_A_FIELD,
            Some(parts.join("; ")),
        );
    }

    out.sort_by(|a, b| {
        a.field
            .cmp(&b.field)
            .then(a.change.cmp(&b.change))
            .then_with(|| a.detail.cmp(&b.detail))
    });
    out
}

/// The plugin's update path: the most severe of `changes`, [`UpdatePath::None`] when empty.
pub fn update_path(changes: &[SchemaChange]) -> UpdatePath {
    changes
        .iter()
        .map(|c| c.update_path)
        .max()
        .unwrap_or(UpdatePath::None)
}

/// The changes that set the plugin's update path (those at [`update_path`]), in order: what a
/// refusal names as "the fields that cause it". Empty when `changes` is.
pub fn most_severe(changes: &[SchemaChange]) -> Vec<&SchemaChange> {
    let worst = update_path(changes);
    changes.iter().filter(|c| c.update_path == worst).collect()
}

// ----- walking the field tree -----

/// The path of the schema's top-level entity checks; records append it to their own path.
const ENTITY: &str = "@entity";

/// Whether an unset `required` on a record means required here: true in the plugin's field
/// tree, false below array, set and map elements (Kong's `make_records_required` recurses
/// through record `fields` only).
const RECORDS_REQUIRED: bool = true;

/// Where a field definition sits.
#[derive(Debug, Clone, Copy)]
enum Position {
    /// A named field of a record (or of the schema): it can be added, removed and change its
    /// `required`. `rr`: see [`RECORDS_REQUIRED`].
    Member { rr: bool },
    /// The element definition of an array or set, or a map's key or value definition: always
    /// present and always required.
    Element,
}

/// The `required` / `has_default` pair reported with a change.
#[derive(Debug, Clone, Copy)]
struct Side {
    required: bool,
    has_default: bool,
}

impl Side {
    /// For `@entity` paths, which are not fields.
    const NOT_A_FIELD: Side = Side {
        required: false,
        has_default: false,
    };

    fn of(field: &Field, position: Position) -> Side {
        match position {
            Position::Member { rr } => {
                let required = required_in(field, rr);
                Side {
                    required,
                    has_default: has_default(field, required),
                }
            }
            Position::Element => Side {
                required: true,
                has_default: explicit_default(field).is_some(),
            },
        }
    }
}

/// Kong's effective `required`: an unset `required` on a record means required where
/// `make_records_required` reaches (`rr`).
fn required_in(field: &Field, rr: bool) -> bool {
    field
        .required
        .unwrap_or(rr && field.ty == FieldType::Record)
}

/// A `default` that means something: `default = ngx.null` on anything but a record is the same
/// as no default (the field is `null` either way).
fn explicit_default(field: &Field) -> Option<&Value> {
    match &field.default {
        Some(Value::Null) if field.ty != FieldType::Record => None,
        other => other.as_ref(),
    }
}

/// Whether Kong fills a value that passes the required check when the field is missing: a
/// non-null default, or, for a required record without one, the record built from `{}` with
/// its sub-fields' defaults, if that validates (Kong's `handle_missing_field`).
fn has_default(field: &Field, required: bool) -> bool {
    match &field.default {
        Some(Value::Null) => false,
        Some(_) => true,
        None => {
            required
                && field.ty == FieldType::Record
                && validate_value(field, &Value::Object(Map::new()), "").is_empty()
        }
    }
}

fn push(
    out: &mut Vec<SchemaChange>,
    field: String,
    change: ChangeKind,
    side: Side,
    detail: Option<String>,
) {
    out.push(SchemaChange {
        field,
        change,
        required: side.required,
        has_default: side.has_default,
        update_path: change.update_path(side.required, side.has_default),
        detail,
    });
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// A named field that may exist on either side.
fn compare_member(
    path: &str,
    old: Option<&Field>,
    new: Option<&Field>,
    rr: bool,
    out: &mut Vec<SchemaChange>,
) {
    let position = Position::Member { rr };
    match (old, new) {
        (None, None) => {}
        (None, Some(new)) => {
            let side = Side::of(new, position);
            let detail = describe(new, side);
            push(out, path.to_string(), ChangeKind::Added, side, Some(detail));
        }
        (Some(old), None) => {
            let side = Side::of(old, position);
            let detail = describe(old, side);
            push(
                out,
                path.to_string(),
                ChangeKind::Removed,
                side,
                Some(detail),
            );
        }
        (Some(old), Some(new)) => compare_field(path, old, new, position, out),
    }
}

/// One field present on both sides, and everything below it.
fn compare_field(
    path: &str,
    old: &Field,
    new: &Field,
    position: Position,
    out: &mut Vec<SchemaChange>,
) {
    let side = Side::of(new, position);
    if old.ty != new.ty {
        let detail = format!("type {} → {}", old.ty.as_str(), new.ty.as_str());
        push(
            out,
            path.to_string(),
            ChangeKind::TypeChanged,
            side,
            Some(detail),
        );
        return;
    }
    if old.reference != new.reference {
        let detail = format!(
            "reference {} → {}",
            old.reference.as_deref().unwrap_or("unset"),
            new.reference.as_deref().unwrap_or("unset")
        );
        push(
            out,
            path.to_string(),
            ChangeKind::TypeChanged,
            side,
            Some(detail),
        );
        return;
    }

    if let Position::Member { rr } = position {
        let was = required_in(old, rr);
        if was != side.required {
            let (change, detail) = if side.required {
                (ChangeKind::BecameRequired, "optional → required")
            } else {
                (ChangeKind::BecameOptional, "required → optional")
            };
            push(
                out,
                path.to_string(),
                change,
                side,
                Some(detail.to_string()),
            );
        }
    }

    let defaults = default_parts(old, new);
    if !defaults.is_empty() {
        push(
            out,
            path.to_string(),
            ChangeKind::DefaultChanged,
            side,
            Some(defaults.join("; ")),
        );
    }

    let mut constraints = constraint_parts(old, new);
    let containers = [
        ("elements", &old.elements, &new.elements),
        ("keys", &old.keys, &new.keys),
        ("values", &old.values, &new.values),
    ];
    for (name, before, after) in &containers {
        match (before, after) {
            (None, Some(_)) => constraints.push(format!("{name} definition added")),
            (Some(_), None) => constraints.push(format!("{name} definition removed")),
            _ => {}
        }
    }
    if !constraints.is_empty() {
        push(
            out,
            path.to_string(),
            ChangeKind::ConstraintChanged,
            side,
            Some(constraints.join("; ")),
        );
    }

    if new.ty == FieldType::Record {
        let checks = entity_check_parts(&old.entity_checks, &new.entity_checks);
        if !checks.is_empty() {
            push(
                out,
                join(path, ENTITY),
                ChangeKind::ConstraintChanged,
                Side::NOT_A_FIELD,
                Some(checks.join("; ")),
            );
        }
        let rr = match position {
            Position::Member { rr } => rr,
            Position::Element => false,
        };
        for (name, before) in &old.fields {
            compare_member(&join(path, name), Some(before), new.field(name), rr, out);
        }
        for (name, after) in &new.fields {
            if old.field(name).is_none() {
                compare_member(&join(path, name), None, Some(after), rr, out);
            }
        }
    }

    for (name, before, after) in containers {
        if let (Some(before), Some(after)) = (before, after) {
            compare_field(&join(path, name), before, after, Position::Element, out);
        }
    }
}

/// `string, required, default 60` and the like, for added and removed fields.
fn describe(field: &Field, side: Side) -> String {
    let required = if side.required {
        "required"
    } else {
        "optional"
    };
    let default = match explicit_default(field) {
        Some(value) => format!("default {}", render_default(field, value)),
        None if side.has_default => "filled from its sub-fields' defaults".to_string(),
        None => "no default".to_string(),
    };
    format!("{}, {required}, {default}", field.ty.as_str())
}

// ----- top-level fields besides config -----

/// Kong's own definition of a plugin's top-level field, where a schema's override has to be
/// compared with it: `protocols` (`typedefs.protocols`) and the scope references. Other
/// top-level names have no modelled base: declaring or dropping them counts as a change.
fn kong_base_field(name: &str) -> Option<Field> {
    let reference = match name {
        "protocols" => return Some(super::protocols::plugin_field()),
        "route" => "routes",
        "service" => "services",
        "consumer" => "consumers",
        "consumer_group" => "consumer_groups",
        _ => return None,
    };
    let mut field = Field::new(FieldType::Foreign);
    field.reference = Some(reference.to_string());
    Some(field)
}

/// A top-level field besides `config`: every difference but a type change is folded into one
/// `constraint_changed` on the top-level name, because these fields decide where and on what
/// traffic an instance may run, not what its config holds.
fn compare_top_level(
    name: &str,
    old: Option<&Field>,
    new: Option<&Field>,
    out: &mut Vec<SchemaChange>,
) {
    let base = kong_base_field(name);
    let position = Position::Member {
        rr: RECORDS_REQUIRED,
    };
    let (old, new) = match (old.or(base.as_ref()), new.or(base.as_ref())) {
        (None, None) => return,
        (None, Some(new)) => {
            let detail = "override declared (no Kong definition modelled to compare with)";
            push(
                out,
                name.to_string(),
                ChangeKind::ConstraintChanged,
                Side::of(new, position),
                Some(detail.to_string()),
            );
            return;
        }
        (Some(old), None) => {
            let detail = "override dropped (Kong's own definition applies again)";
            push(
                out,
                name.to_string(),
                ChangeKind::ConstraintChanged,
                Side::of(old, position),
                Some(detail.to_string()),
            );
            return;
        }
        (Some(old), Some(new)) => (old, new),
    };

    let mut inner = Vec::new();
    compare_field(name, old, new, position, &mut inner);
    let mut parts = Vec::new();
    for change in inner {
        if change.change == ChangeKind::TypeChanged {
            out.push(change);
            continue;
        }
        let relative = change
            .field
            .strip_prefix(name)
            .unwrap_or(&change.field)
            .trim_start_matches('.');
        let body = match (change.change, &change.detail) {
            (ChangeKind::Added | ChangeKind::Removed, Some(detail)) => {
                format!("{} ({detail})", change.change)
            }
            (_, Some(detail)) => detail.clone(),
            (kind, None) => kind.to_string(),
        };
        if relative.is_empty() {
            parts.push(body);
        } else {
            parts.push(format!("{relative}: {body}"));
        }
    }
    if !parts.is_empty() {
        push(
            out,
            name.to_string(),
            ChangeKind::ConstraintChanged,
            Side::of(new, position),
            Some(parts.join("; ")),
        );
    }
}

// ----- defaults -----

/// `default` and `auto` differences, for `default_changed`.
fn default_parts(old: &Field, new: &Field) -> Vec<String> {
    let mut parts = Vec::new();
    let before = explicit_default(old).map(|v| render_default(old, v));
    let after = explicit_default(new).map(|v| render_default(new, v));
    if before != after {
        parts.push(format!(
            "default {} → {}",
            before.as_deref().unwrap_or("unset"),
            after.as_deref().unwrap_or("unset")
        ));
    }
    if old.auto != new.auto {
        parts.push(added_or_removed("auto", new.auto));
    }
    parts
}

/// A default in canonical form; a set's default is sorted and de-duplicated, as Kong stores it.
fn render_default(field: &Field, value: &Value) -> String {
    match (field.ty, value) {
        (FieldType::Set, Value::Array(items)) => render_list(items.iter().map(canonical)),
        _ => canonical(value),
    }
}

// ----- constraints -----

/// A constraint attribute in comparable form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Constraint {
    /// A boolean attribute that is on (`uuid = true`).
    Flag,
    /// A value compared as a whole.
    Scalar(String),
    /// A value whose order does not matter (`one_of`, patterns of `match_all`, …).
    Set(BTreeSet<String>),
    /// Compared, but too large to print (`json_schema`).
    Opaque(String),
}

/// Kong's `validators_order`, then the attributes this module treats as constraints too.
const CONSTRAINT_ORDER: [&str; 24] = [
    "eq",
    "ne",
    "not_one_of",
    "one_of",
    "gt",
    "timestamp",
    "uuid",
    "is_regex",
    "between",
    "len_eq",
    "len_min",
    "len_max",
    "starts_with",
    "not_match",
    "match_none",
    "match",
    "match_all",
    "match_any",
    "contains",
    "mutually_exclusive_subsets",
    TYPEDEF_VALIDATORS,
    "custom_validator",
    "referenceable",
    "json_schema",
];

/// The name under which the typedef builtins of a field are compared.
const TYPEDEF_VALIDATORS: &str = "typedef validators";

/// The constraint attributes a field sets, in [`CONSTRAINT_ORDER`]. Strings carry Kong's implied
/// `len_min = 1`.
fn constraints(field: &Field) -> Vec<(&'static str, Constraint)> {
    let v = &field.validators;
    let mut out: Vec<(&'static str, Constraint)> = Vec::new();
    let mut scalar = |name: &'static str, value: Option<String>| {
        if let Some(value) = value {
            out.push((name, Constraint::Scalar(value)));
        }
    };
    scalar("eq", v.eq.as_ref().map(canonical));
    scalar("ne", v.ne.as_ref().map(canonical));
    scalar("gt", v.gt.map(fmt_num));
    scalar(
        "between",
        v.between
            .map(|(lo, hi)| format!("{{{},{}}}", fmt_num(lo), fmt_num(hi))),
    );
    scalar("len_eq", v.len_eq.map(|n| n.to_string()));
    let len_min = v.len_min.or((field.ty == FieldType::String).then_some(1));
    scalar("len_min", len_min.map(|n| n.to_string()));
    scalar("len_max", v.len_max.map(|n| n.to_string()));
    scalar("starts_with", v.starts_with.as_deref().map(quoted));
    scalar("not_match", v.not_match.as_deref().map(quoted));
    scalar("match", v.r#match.as_deref().map(quoted));
    scalar("contains", v.contains.as_ref().map(canonical));

    let mut set = |name: &'static str, items: Option<BTreeSet<String>>| {
        if let Some(items) = items {
            out.push((name, Constraint::Set(items)));
        }
    };
    set(
        "one_of",
        v.one_of.as_ref().map(|l| l.iter().map(canonical).collect()),
    );
    set(
        "not_one_of",
        v.not_one_of
            .as_ref()
            .map(|l| l.iter().map(canonical).collect()),
    );
    set(
        "match_none",
        v.match_none
            .as_ref()
            .map(|l| l.iter().map(|p| quoted(&p.pattern)).collect()),
    );
    set(
        "match_all",
        v.match_all
            .as_ref()
            .map(|l| l.iter().map(|p| quoted(&p.pattern)).collect()),
    );
    set(
        "match_any",
        v.match_any
            .as_ref()
            .map(|m| m.patterns.iter().map(|p| quoted(p)).collect()),
    );
    set(
        "mutually_exclusive_subsets",
        v.mutually_exclusive_subsets.as_ref().map(|subsets| {
            subsets
                .iter()
                .map(|subset| render_list(subset.iter().cloned()))
                .collect()
        }),
    );
    if !field.builtins.is_empty() {
        let names = field
            .builtins
            .iter()
            .map(|b| b.name().to_string())
            .collect();
        out.push((TYPEDEF_VALIDATORS, Constraint::Set(names)));
    }

    for (name, on) in [
        ("timestamp", v.timestamp),
        ("uuid", v.uuid),
        ("is_regex", v.is_regex),
        ("custom_validator", field.has_custom_validator),
        ("referenceable", field.referenceable),
    ] {
        if on {
            out.push((name, Constraint::Flag));
        }
    }
    if let Some(schema) = &field.json_schema {
        out.push(("json_schema", Constraint::Opaque(canonical(schema))));
    }

    out.sort_by_key(|(name, _)| CONSTRAINT_ORDER.iter().position(|n| n == name));
    out
}

/// Human-readable differences between the constraints of two definitions of one field.
fn constraint_parts(old: &Field, new: &Field) -> Vec<String> {
    let before = constraints(old);
    let after = constraints(new);
    let find = |list: &[(&'static str, Constraint)], name: &str| {
        list.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| c.clone())
    };
    let mut parts = Vec::new();
    for name in CONSTRAINT_ORDER {
        let (a, b) = (find(&before, name), find(&after, name));
        if a == b {
            continue;
        }
        if name == "eq" && new.ty == FieldType::Foreign {
            if let Some(text) = scope_restriction(&a, &b) {
                parts.push(text);
                continue;
            }
        }
        parts.push(constraint_change(name, a.as_ref(), b.as_ref()));
    }
    parts
}

/// `eq = null` appearing on or vanishing from a `foreign` field: `typedefs.no_consumer` and
/// its siblings, which forbid binding an instance through that field.
fn scope_restriction(before: &Option<Constraint>, after: &Option<Constraint>) -> Option<String> {
    let null = Some(Constraint::Scalar("null".to_string()));
    match (before, after) {
        (None, b) if *b == null => Some(
            "scope restriction added: instances can no longer be bound here (eq = null)"
                .to_string(),
        ),
        (a, None) if *a == null => {
            Some("scope restriction removed: instances may be bound here again".to_string())
        }
        _ => None,
    }
}

/// One constraint attribute that differs (`a != b`).
fn constraint_change(
    name: &str,
    before: Option<&Constraint>,
    after: Option<&Constraint>,
) -> String {
    let empty = Constraint::Set(BTreeSet::new());
    // A field without typedef validators has none: compare with the empty set.
    let (before, after) = if name == TYPEDEF_VALIDATORS {
        (before.or(Some(&empty)), after.or(Some(&empty)))
    } else {
        (before, after)
    };
    match (before, after) {
        (Some(Constraint::Set(a)), Some(Constraint::Set(b))) => {
            let gained: Vec<&str> = b.difference(a).map(String::as_str).collect();
            let lost: Vec<&str> = a.difference(b).map(String::as_str).collect();
            match (gained.is_empty(), lost.is_empty()) {
                (false, true) => format!("{name} gained {}", gained.join(", ")),
                (true, false) => format!("{name} lost {}", lost.join(", ")),
                _ => format!(
                    "{name} gained {} and lost {}",
                    gained.join(", "),
                    lost.join(", ")
                ),
            }
        }
        (Some(Constraint::Opaque(_)), Some(Constraint::Opaque(_))) => format!("{name} changed"),
        (None, Some(Constraint::Flag | Constraint::Opaque(_))) => format!("{name} added"),
        (Some(Constraint::Flag | Constraint::Opaque(_)), None) => format!("{name} removed"),
        (a, b) => format!(
            "{name} {} → {}",
            a.map_or_else(|| "unset".to_string(), render_constraint),
            b.map_or_else(|| "unset".to_string(), render_constraint)
        ),
    }
}

fn render_constraint(c: &Constraint) -> String {
    match c {
        Constraint::Flag => "true".to_string(),
        Constraint::Scalar(s) | Constraint::Opaque(s) => s.clone(),
        Constraint::Set(items) => render_list(items.iter().cloned()),
    }
}

/// `added` / `removed` for a boolean attribute that flipped to `now`.
fn added_or_removed(what: &str, now: bool) -> String {
    if now {
        format!("{what} added")
    } else {
        format!("{what} removed")
    }
}

// ----- entity checks -----

/// Entity checks gained and lost, compared as multisets of their canonical forms (field lists
/// sorted, error texts left out).
fn entity_check_parts(old: &[EntityCheck], new: &[EntityCheck]) -> Vec<String> {
    let mut before: Vec<String> = old.iter().map(render_check).collect();
    let mut after: Vec<String> = new.iter().map(render_check).collect();
    before.sort();
    after.sort();
    let mut gained = Vec::new();
    let mut lost = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                lost.push(a.clone());
                i += 1;
            }
            (Some(a), None) => {
                lost.push(a.clone());
                i += 1;
            }
            (_, Some(b)) => {
                gained.push(b.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    let mut parts: Vec<String> = gained
        .into_iter()
        .map(|c| format!("entity check added: {c}"))
        .collect();
    parts.extend(
        lost.into_iter()
            .map(|c| format!("entity check removed: {c}")),
    );
    parts
}

/// An entity check in canonical form: `at_least_one_of(host, port)`.
fn render_check(check: &EntityCheck) -> String {
    let names = |list: &[String]| {
        let mut sorted: Vec<&str> = list.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        sorted.join(", ")
    };
    match check {
        EntityCheck::AtLeastOneOf(f) => format!("at_least_one_of({})", names(f)),
        EntityCheck::OnlyOneOf(f) => format!("only_one_of({})", names(f)),
        EntityCheck::Distinct(f) => format!("distinct({})", names(f)),
        EntityCheck::MutuallyRequired(f) => format!("mutually_required({})", names(f)),
        EntityCheck::MutuallyExclusive(f) => format!("mutually_exclusive({})", names(f)),
        EntityCheck::MutuallyExclusiveSets { set1, set2 } => {
            let mut sets = [names(set1), names(set2)];
            sets.sort();
            format!("mutually_exclusive_sets({{{}}}, {{{}}})", sets[0], sets[1])
        }
        EntityCheck::Conditional {
            if_field,
            if_match,
            then_field,
            then_match,
            then_err: _,
        } => format!(
            "conditional(if {if_field} {} then {then_field} {})",
            render_match(if_match),
            render_match(then_match)
        ),
        EntityCheck::ConditionalAtLeastOneOf {
            if_field,
            if_match,
            then_at_least_one_of,
            then_err: _,
            else_match,
            else_then_at_least_one_of,
            else_then_err: _,
        } => {
            let mut text = format!(
                "conditional_at_least_one_of(if {if_field} {} then at least one of {}",
                render_match(if_match),
                names(then_at_least_one_of)
            );
            if let Some(else_match) = else_match {
                text.push_str(&format!(" else {}", render_match(else_match)));
            }
            if let Some(list) = else_then_at_least_one_of {
                text.push_str(&format!(" else at least one of {}", names(list)));
            }
            text.push(')');
            text
        }
        EntityCheck::CustomEntityCheck { field_sources, .. } => {
            format!("custom_entity_check({})", names(field_sources))
        }
    }
}

/// The attributes of an `if_match` / `then_match`: `{required, one_of ["a"]}`.
fn render_match(field: &Field) -> String {
    let mut parts = Vec::new();
    if field.required == Some(true) {
        parts.push("required".to_string());
    }
    for (name, c) in constraints(field) {
        // Kong's implied `len_min = 1` is compared, but not worth printing.
        if name == "len_min" && field.validators.len_min.is_none() {
            continue;
        }
        parts.push(match c {
            Constraint::Flag => name.to_string(),
            other => format!("{name} {}", render_constraint(&other)),
        });
    }
    for (name, sub) in [
        ("elements", &field.elements),
        ("keys", &field.keys),
        ("values", &field.values),
    ] {
        if let Some(sub) = sub {
            parts.push(format!("{name} {}", render_match(sub)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

// ----- rendering values -----

/// A JSON value in canonical text: object keys sorted, numbers by value (`60.0` is `60`).
fn canonical(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => fmt_num(f),
            _ => n.to_string(),
        },
        Value::String(s) => quoted(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let parts: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}: {}", quoted(k), canonical(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// A sorted, de-duplicated list: `["a", "b"]`.
fn render_list(items: impl Iterator<Item = String>) -> String {
    let set: BTreeSet<String> = items.collect();
    let parts: Vec<String> = set.into_iter().collect();
    format!("[{}]", parts.join(", "))
}

/// A string as a JSON string literal.
fn quoted(s: &str) -> String {
    Value::from(s).to_string()
}

/// A number without a trailing `.0` when it is whole.
fn fmt_num(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        // Whole and well inside i64: the cast is exact.
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}
