//! Request bodies to stored entities: type checks, defaults, references and uniqueness for
//! every kind, in the shape Konnect returns (every property present, `null` when unset,
//! foreign keys as `{"id": …}`, timestamps as Unix seconds).
//!
//! Plugin instance configs are validated and filled by `crate::schema::validate`, custom
//! plugins by `crate::lint::upload`, so what lint accepts the store accepts.

use std::sync::Arc;

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::store::{self, NewRow};
use super::util::parse_uuid;
use super::{CpError, Kind};
use crate::schema::builtins;
use crate::schema::model::{Builtin, PluginSchema};
use crate::schema::ordering::check_ordering;
use crate::schema::protocols;
use crate::schema::validate::{default_protocols, summary, validate_plugin, FieldError};

/// Kong's message for a missing required field.
const REQUIRED: &str = "required field missing";

/// Every protocol Kong knows.
const PROTOCOLS: &[&str] = &protocols::ALL;

/// The refusal for a set of field errors: `@entity` errors go to `entity`, the rest to
/// `fields`; the message is Kong's summary.
pub(crate) fn invalid(errors: Vec<FieldError>) -> CpError {
    let message = summary(&errors);
    let (entity, fields): (Vec<FieldError>, Vec<FieldError>) =
        errors.into_iter().partition(|e| e.path == "@entity");
    CpError::Invalid {
        message,
        fields,
        entity: entity.into_iter().map(|e| e.message).collect(),
    }
}

fn err(path: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        path: path.into(),
        message: message.into(),
    }
}

/// Everything the store needs to know about the entity being written.
pub(crate) struct Target<'a> {
    pub conn: &'a Connection,
    pub cp: &'a str,
    /// The id to use (from the path, the existing entity, the body, or fresh).
    pub id: String,
    /// `created_at` to keep (the existing entity's), or `None` for a new entity.
    pub created_at: Option<i64>,
    pub now: i64,
    /// The parent a nested path binds: (parent kind, parent id).
    pub parent: Option<(Kind, String)>,
}

impl Target<'_> {
    fn stamp(&self, out: &mut Map<String, Value>) {
        out.insert("id".to_string(), Value::from(self.id.clone()));
        out.insert(
            "created_at".to_string(),
            Value::from(self.created_at.unwrap_or(self.now)),
        );
        out.insert("updated_at".to_string(), Value::from(self.now));
    }

    /// Refuses when another entity of `kind` already has `value` as its unique name / key.
    fn unique(
        &self,
        kind: Kind,
        second_key: bool,
        value: &str,
        field: &str,
        shown: &str,
    ) -> Result<(), CpError> {
        let other = if second_key {
            store::by_ukey(self.conn, self.cp, kind, value)?
        } else {
            store::by_uname(self.conn, self.cp, kind, value)?
        };
        match other {
            Some(row) if row.id != self.id => Err(CpError::Unique {
                field: field.to_string(),
                message: format!("UNIQUE violation detected on '{shown}'"),
            }),
            _ => Ok(()),
        }
    }
}

/// The id of the `kind` entity that `key` (an id, or a name where the kind has one) names.
pub(crate) fn resolve(
    conn: &Connection,
    cp: &str,
    kind: Kind,
    key: &str,
) -> Result<Option<store::Row>, CpError> {
    if let Some(id) = parse_uuid(key) {
        if let Some(row) = store::by_id(conn, cp, kind, &id)? {
            return Ok(Some(row));
        }
    }
    if kind == Kind::Plugin {
        return Ok(None);
    }
    store::by_uname(conn, cp, kind, key)
}

/// Type of a simple field.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Int(i64, i64),
    Bool,
    StrList,
    Foreign(Kind),
    /// A foreign key to an entity kind this server does not keep (certificates): its shape is
    /// checked, and since nothing of that kind exists, it never references anything.
    ForeignAbsent(&'static str),
    /// A service's `tls_sans` record: `dnsnames` and `uris`, arrays of strings.
    TlsSans,
    OneOf(&'static [&'static str]),
    OneOfList(&'static [&'static str]),
    /// An array of `{ip, port}` records (route sources / destinations).
    Endpoints,
    /// A map of header names to arrays of strings (route `headers`).
    HeaderMap,
}

/// One field of a simple entity: name, type, default as JSON text, required.
struct Spec(&'static str, Ty, &'static str, bool);

const SERVICE: &[Spec] = &[
    Spec("name", Ty::Str, "null", false),
    Spec("host", Ty::Str, "null", true),
    Spec("port", Ty::Int(0, 65_535), "80", true),
    Spec("protocol", Ty::OneOf(PROTOCOLS), "\"http\"", true),
    Spec("path", Ty::Str, "null", false),
    Spec("retries", Ty::Int(0, 32_767), "5", false),
    Spec("connect_timeout", Ty::Int(1, 2_147_483_646), "60000", false),
    Spec("write_timeout", Ty::Int(1, 2_147_483_646), "60000", false),
    Spec("read_timeout", Ty::Int(1, 2_147_483_646), "60000", false),
    Spec("enabled", Ty::Bool, "true", true),
    Spec("tls_verify", Ty::Bool, "null", false),
    Spec("tls_verify_depth", Ty::Int(0, 64), "null", false),
    Spec("ca_certificates", Ty::StrList, "null", false),
    Spec(
        "client_certificate",
        Ty::ForeignAbsent("certificates"),
        "null",
        false,
    ),
    Spec("tls_sans", Ty::TlsSans, "null", false),
];

const ROUTE: &[Spec] = &[
    Spec("name", Ty::Str, "null", false),
    Spec(
        "protocols",
        Ty::OneOfList(PROTOCOLS),
        "[\"http\",\"https\"]",
        true,
    ),
    Spec("methods", Ty::StrList, "null", false),
    Spec("hosts", Ty::StrList, "null", false),
    Spec("paths", Ty::StrList, "null", false),
    Spec("headers", Ty::HeaderMap, "null", false),
    Spec("https_redirect_status_code", Ty::Int(300, 599), "426", true),
    Spec("regex_priority", Ty::Int(i64::MIN, i64::MAX), "0", false),
    Spec("strip_path", Ty::Bool, "true", false),
    Spec("path_handling", Ty::OneOf(&["v0", "v1"]), "\"v0\"", false),
    Spec("preserve_host", Ty::Bool, "false", false),
    Spec("request_buffering", Ty::Bool, "true", false),
    Spec("response_buffering", Ty::Bool, "true", false),
    Spec("snis", Ty::StrList, "null", false),
    Spec("sources", Ty::Endpoints, "null", false),
    Spec("destinations", Ty::Endpoints, "null", false),
    Spec("service", Ty::Foreign(Kind::Service), "null", false),
];

const CONSUMER: &[Spec] = &[
    Spec("username", Ty::Str, "null", false),
    Spec("custom_id", Ty::Str, "null", false),
];

const CONSUMER_GROUP: &[Spec] = &[Spec("name", Ty::Str, "null", true)];

/// Fields every kind accepts besides its own.
const COMMON: [&str; 4] = ["id", "tags", "created_at", "updated_at"];

/// Reports body keys that are neither in `known` nor common, and timestamps that are not
/// integers (the server sets them, but Kong still type-checks what a body gives).
fn unknown_fields(body: &Map<String, Value>, known: &[&str], errors: &mut Vec<FieldError>) {
    for (key, value) in body {
        if !known.contains(&key.as_str()) && !COMMON.contains(&key.as_str()) {
            errors.push(err(key.clone(), "unknown field"));
        } else if matches!(key.as_str(), "created_at" | "updated_at")
            && !value.is_null()
            && !value.is_i64()
            && !value.is_u64()
        {
            errors.push(err(key.clone(), "expected an integer"));
        }
    }
}

/// Kong's `typedefs.tag` check.
fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.chars().count() <= crate::model::KONNECT_TAG_LIMIT
        && tag.chars().all(|c| c != ',' && c != '/' && !c.is_control())
}

/// The `tags` of a body: `(value to store, tags to index)`.
fn tags(body: &Map<String, Value>, errors: &mut Vec<FieldError>) -> (Value, Vec<String>) {
    match body.get("tags") {
        None | Some(Value::Null) => (Value::Null, Vec::new()),
        Some(Value::Array(items)) => {
            let mut out: Vec<String> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(t) if valid_tag(t) => {
                        if !out.iter().any(|o| o == t) {
                            out.push(t.to_string());
                        }
                    }
                    Some(t) => errors.push(err(
                        format!("tags.{}", i + 1),
                        format!("invalid tag '{t}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences, at most 128 characters"),
                    )),
                    None => errors.push(err(format!("tags.{}", i + 1), "expected a string")),
                }
            }
            (
                Value::Array(out.iter().cloned().map(Value::String).collect()),
                out,
            )
        }
        Some(_) => (Value::Null, {
            errors.push(err("tags", "expected a set"));
            Vec::new()
        }),
    }
}

/// Checks and normalises one simple field value (non-null).
fn check_simple(
    target: &Target<'_>,
    name: &str,
    ty: Ty,
    value: &Value,
    errors: &mut Vec<FieldError>,
) -> Result<Value, CpError> {
    let fail = |errors: &mut Vec<FieldError>, m: String| {
        errors.push(err(name, m));
        Value::Null
    };
    Ok(match ty {
        Ty::Str => match value.as_str() {
            Some("") => fail(errors, "length must be at least 1".into()),
            Some(_) => value.clone(),
            None => fail(errors, "expected a string".into()),
        },
        Ty::Int(lo, hi) => match value.as_i64() {
            Some(n) if n >= lo && n <= hi => value.clone(),
            Some(_) => fail(errors, format!("value should be between {lo} and {hi}")),
            None => fail(errors, "expected an integer".into()),
        },
        Ty::Bool => match value {
            Value::Bool(_) => value.clone(),
            _ => fail(errors, "expected a boolean".into()),
        },
        Ty::StrList => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        None => errors.push(err(format!("{name}.{}", i + 1), "expected a string")),
                        // Kong's route methods: `match = "^%u+$"`.
                        Some(m)
                            if name == "methods"
                                && (m.is_empty() || !m.chars().all(|c| c.is_ascii_uppercase())) =>
                        {
                            errors.push(err(
                                format!("{name}.{}", i + 1),
                                "invalid value: must contain only uppercase letters",
                            ))
                        }
                        Some(_) => {}
                    }
                }
                value.clone()
            }
            None => fail(errors, "expected an array".into()),
        },
        Ty::HeaderMap => match value.as_object() {
            Some(map) => {
                for (header, values) in map {
                    let strings = values
                        .as_array()
                        .is_some_and(|items| items.iter().all(Value::is_string));
                    if !strings {
                        errors.push(err(
                            format!("{name}.{header}"),
                            "expected an array of strings",
                        ));
                    }
                }
                value.clone()
            }
            None => fail(errors, "expected a map".into()),
        },
        Ty::Endpoints => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{name}.{}", i + 1);
                    let Some(record) = item.as_object() else {
                        errors.push(err(at, "expected a record"));
                        continue;
                    };
                    for (key, v) in record {
                        let ok = match key.as_str() {
                            "ip" => v.is_null() || v.is_string(),
                            "port" => v.is_null() || v.as_u64().is_some_and(|p| p <= 65_535),
                            _ => {
                                errors.push(err(format!("{at}.{key}"), "unknown field"));
                                continue;
                            }
                        };
                        if !ok {
                            errors.push(err(format!("{at}.{key}"), "invalid value"));
                        }
                    }
                }
                value.clone()
            }
            None => fail(errors, "expected an array".into()),
        },
        Ty::OneOf(choices) => match value.as_str() {
            Some(s) if choices.contains(&s) => value.clone(),
            _ => fail(errors, format!("expected one of: {}", choices.join(", "))),
        },
        Ty::OneOfList(choices) => match value.as_array() {
            Some(items) => {
                let mut out: Vec<Value> = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) if choices.contains(&s) => {
                            if !out.contains(item) {
                                out.push(item.clone());
                            }
                        }
                        _ => errors.push(err(
                            format!("{name}.{}", i + 1),
                            format!("expected one of: {}", choices.join(", ")),
                        )),
                    }
                }
                Value::Array(out)
            }
            None => fail(errors, "expected a set".into()),
        },
        Ty::Foreign(kind) => match foreign_id(value) {
            Some(key) => match resolve(target.conn, target.cp, kind, key)? {
                Some(row) => serde_json::json!({ "id": row.id }),
                None => fail(errors, missing_reference(key, kind.path())),
            },
            None => fail(errors, "expected a record with an 'id' string".into()),
        },
        Ty::ForeignAbsent(entity) => match foreign_id(value) {
            Some(key) if parse_uuid(key).is_some() => fail(errors, missing_reference(key, entity)),
            Some(_) => fail(errors, "expected a valid UUID".into()),
            None => fail(errors, "expected a record with an 'id' string".into()),
        },
        Ty::TlsSans => match value.as_object() {
            Some(record) => {
                for (key, list) in record {
                    if !matches!(key.as_str(), "dnsnames" | "uris") {
                        errors.push(err(format!("{name}.{key}"), "unknown field"));
                        continue;
                    }
                    match list {
                        Value::Null => {}
                        Value::Array(items) => {
                            for (i, item) in items.iter().enumerate() {
                                if !item.is_string() {
                                    errors.push(err(
                                        format!("{name}.{key}.{}", i + 1),
                                        "expected a string",
                                    ));
                                }
                            }
                        }
                        _ => errors.push(err(format!("{name}.{key}"), "expected a set")),
                    }
                }
                value.clone()
            }
            None => fail(errors, "expected a record".into()),
        },
    })
}

/// The `id` of a foreign key value `{"id": "…"}`.
fn foreign_id(value: &Value) -> Option<&str> {
    let map = value.as_object()?;
    if map.keys().any(|k| k != "id") {
        return None;
    }
    map.get("id")?.as_str()
}

/// Kong's message for a foreign key that names nothing.
fn missing_reference(key: &str, entity: &str) -> String {
    format!("the foreign key '{{id=\"{key}\"}}' does not reference an existing '{entity}' entity.")
}

/// Splits a service `url` shorthand into protocol, host, port and path.
fn split_url(url: &str) -> Option<(String, String, Option<i64>, Option<String>)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if !PROTOCOLS.contains(&scheme.as_str()) {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(rest[i..].to_string())),
        None => (rest, None),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h.to_string(), Some(p.parse::<i64>().ok()?))
        }
        _ => (authority.to_string(), None),
    };
    if host.is_empty() {
        return None;
    }
    let port = port.or(match scheme.as_str() {
        "https" | "grpcs" | "wss" | "tls" => Some(443),
        _ => Some(80),
    });
    Some((scheme, host, port, path))
}

/// A prepared simple entity (service, route, consumer, consumer group).
pub(crate) fn prepare_simple(
    target: &Target<'_>,
    kind: Kind,
    mut body: Map<String, Value>,
) -> Result<NewRow, CpError> {
    let specs: &[Spec] = match kind {
        Kind::Service => SERVICE,
        Kind::Route => ROUTE,
        Kind::Consumer => CONSUMER,
        Kind::ConsumerGroup => CONSUMER_GROUP,
        Kind::CustomPlugin | Kind::Plugin | Kind::PluginSchema => {
            return Err(CpError::BadRequest {
                message: format!("{} are not simple entities", kind.path()),
            })
        }
    };
    let mut errors = Vec::new();
    if kind == Kind::Service {
        match body.remove("url") {
            None | Some(Value::Null) => {}
            Some(Value::String(url)) => match split_url(&url) {
                Some((protocol, host, port, path)) => {
                    body.insert("protocol".into(), Value::from(protocol));
                    body.insert("host".into(), Value::from(host));
                    body.insert("port".into(), port.map_or(Value::Null, Value::from));
                    body.insert("path".into(), path.map_or(Value::Null, Value::from));
                }
                None => errors.push(err("url", "missing host in url")),
            },
            Some(_) => errors.push(err("url", "expected a string")),
        }
    }
    let known: Vec<&str> = specs.iter().map(|s| s.0).collect();
    unknown_fields(&body, &known, &mut errors);
    if kind == Kind::Route {
        if let Some((Kind::Service, id)) = &target.parent {
            body.insert("service".into(), serde_json::json!({ "id": id }));
        }
    }

    let mut out = Map::new();
    for Spec(name, ty, default, required) in specs {
        let value = match body.get(*name) {
            None => serde_json::from_str(default).unwrap_or(Value::Null),
            Some(Value::Null) => Value::Null,
            Some(v) => check_simple(target, name, *ty, v, &mut errors)?,
        };
        if *required && value.is_null() && !errors.iter().any(|e| e.path == *name) {
            errors.push(err(*name, REQUIRED));
        }
        out.insert((*name).to_string(), value);
    }
    let (tag_value, tag_list) = tags(&body, &mut errors);
    out.insert("tags".to_string(), tag_value);

    let path = out.get("path").and_then(Value::as_str);
    if kind == Kind::Service && path.is_some_and(|p| !p.starts_with('/')) {
        errors.push(err("path", "should start with: /"));
    }
    if kind == Kind::Route {
        route_checks(&out, &mut errors);
    }
    let unset = |f: &str| out.get(f).is_none_or(Value::is_null);
    if kind == Kind::Consumer && unset("username") && unset("custom_id") {
        errors.push(err(
            "@entity",
            "at least one of these fields must be non-empty: 'custom_id', 'username'",
        ));
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }

    let name_field = if kind == Kind::Consumer {
        "username"
    } else {
        "name"
    };
    let uname = out
        .get(name_field)
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(n) = &uname {
        target.unique(
            kind,
            false,
            n,
            name_field,
            &format!("{{{name_field}=\"{n}\"}}"),
        )?;
    }
    let ukey = if kind == Kind::Consumer {
        out.get("custom_id")
            .and_then(Value::as_str)
            .map(str::to_string)
    } else {
        None
    };
    if let Some(c) = &ukey {
        target.unique(
            kind,
            true,
            c,
            "custom_id",
            &format!("{{custom_id=\"{c}\"}}"),
        )?;
    }
    let mut refs: [Option<String>; 4] = Default::default();
    if kind == Kind::Route {
        refs[0] = out
            .get("service")
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    target.stamp(&mut out);
    Ok(NewRow {
        id: target.id.clone(),
        name: uname.clone(),
        uname,
        ukey,
        refs,
        body: Value::Object(out),
        digest: [0; 32],
        problem: None,
        tags: tag_list,
    })
}

/// Kong's route checks: a route for HTTP needs something to match on, and each path is a valid
/// router path.
fn route_checks(out: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    let set = |name: &str| match out.get(name) {
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        _ => false,
    };
    let protocols: Vec<&str> = out
        .get("protocols")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if protocols.contains(&"http") {
        if !["methods", "hosts", "headers", "paths"]
            .iter()
            .any(|f| set(f))
        {
            errors.push(err(
                "@entity",
                "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'",
            ));
        }
    } else if protocols.contains(&"https")
        && !["methods", "hosts", "headers", "paths", "snis"]
            .iter()
            .any(|f| set(f))
    {
        errors.push(err(
            "@entity",
            "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'",
        ));
    }
    // `typedefs.router_path`, done once in `schema::builtins`: empty segments, the `/` or `~/`
    // start, normalization, and a regex path compiled with PCRE2.
    if let Some(paths) = out.get("paths").and_then(Value::as_array) {
        for (i, p) in paths.iter().enumerate() {
            if let Some(p) = p.as_str() {
                if let Err(message) = builtins::check(Builtin::RouterPath, p) {
                    errors.push(err(format!("paths.{}", i + 1), message));
                }
            }
        }
    }
}

/// A required string field of a body.
fn required_string(
    body: &Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match body.get(name) {
        None | Some(Value::Null) => {
            errors.push(err(name, REQUIRED));
            None
        }
        Some(Value::String(s)) if s.is_empty() => {
            errors.push(err(name, "length must be at least 1"));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(err(name, "expected a string"));
            None
        }
    }
}

/// A plugin name is taken once per control plane, by a streamed custom plugin or by a
/// hybrid-mode plugin schema (`kind` is the one being written).
fn plugin_name_free(target: &Target<'_>, kind: Kind, name: &str) -> Result<(), CpError> {
    target.unique(kind, false, name, "name", &format!("{{name=\"{name}\"}}"))?;
    let (other, what) = match kind {
        Kind::PluginSchema => (Kind::CustomPlugin, "a streamed custom plugin"),
        _ => (Kind::PluginSchema, "a hybrid-mode plugin schema"),
    };
    if store::by_uname(target.conn, target.cp, other, name)?.is_some() {
        return Err(CpError::Unique {
            field: "name".to_string(),
            message: format!(
                "UNIQUE violation detected on '{{name=\"{name}\"}}': {what} has that name"
            ),
        });
    }
    Ok(())
}

/// A prepared custom plugin and its evaluated schema.
pub(crate) fn prepare_custom_plugin(
    target: &Target<'_>,
    body: Map<String, Value>,
) -> Result<(NewRow, PluginSchema), CpError> {
    let mut errors = Vec::new();
    unknown_fields(&body, &["name", "handler", "schema"], &mut errors);
    let name = required_string(&body, "name", &mut errors);
    let handler = required_string(&body, "handler", &mut errors);
    let schema_src = required_string(&body, "schema", &mut errors);
    let (tag_value, tag_list) = tags(&body, &mut errors);
    let (Some(name), Some(handler), Some(schema_src)) = (name, handler, schema_src) else {
        return Err(invalid(errors));
    };
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    // Parser failures, panics of the Lua parser included, come back as upload errors.
    let checked = crate::lint::upload::check_custom_plugin(
        &name,
        &handler,
        &schema_src,
        crate::lua::ProfileName::default(),
    );
    let schema = checked.map_err(|upload| {
        invalid(
            upload
                .into_iter()
                .map(|u| err(u.field, u.message))
                .collect(),
        )
    })?;
    plugin_name_free(target, Kind::CustomPlugin, &name)?;
    let mut out = Map::new();
    out.insert("name".into(), Value::from(name.clone()));
    out.insert("handler".into(), Value::from(handler));
    out.insert("schema".into(), Value::from(schema_src));
    out.insert("tags".into(), tag_value);
    target.stamp(&mut out);
    Ok((
        NewRow {
            id: target.id.clone(),
            name: Some(name.clone()),
            uname: Some(name),
            ukey: None,
            refs: Default::default(),
            body: Value::Object(out),
            digest: [0; 32],
            problem: None,
            tags: tag_list,
        },
        schema,
    ))
}

/// A prepared hybrid-mode plugin schema (`{"lua_schema"}`; `name` optional, and then equal
/// to the schema's) and its evaluated schema. The stored body is Konnect's item:
/// `{name, lua_schema, created_at, updated_at}`.
pub(crate) fn prepare_plugin_schema(
    target: &Target<'_>,
    body: Map<String, Value>,
) -> Result<(NewRow, crate::schema::model::PluginSchema), CpError> {
    let mut errors = Vec::new();
    unknown_fields(&body, &["name", "lua_schema"], &mut errors);
    let source = required_string(&body, "lua_schema", &mut errors);
    let Some(source) = source else {
        return Err(invalid(errors));
    };
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    if source.len() > crate::lint::MAX_LUA_BYTES {
        return Err(invalid(vec![err(
            "lua_schema",
            format!(
                "length must be at most {} bytes",
                crate::lint::MAX_LUA_BYTES
            ),
        )]));
    }
    let schema = crate::lua::evaluate_schema(&source)
        .map_err(|e| invalid(vec![err("lua_schema", e.to_string())]))?;
    let name = schema.name.clone();
    if let Some(given) = body.get("name").filter(|v| !v.is_null()) {
        if given.as_str() != Some(name.as_str()) {
            return Err(invalid(vec![err(
                "name",
                format!("the schema's name is '{name}'"),
            )]));
        }
    }
    plugin_name_free(target, Kind::PluginSchema, &name)?;
    let mut out = Map::new();
    out.insert("name".into(), Value::from(name.clone()));
    out.insert("lua_schema".into(), Value::from(source));
    out.insert(
        "created_at".to_string(),
        Value::from(target.created_at.unwrap_or(target.now)),
    );
    out.insert("updated_at".to_string(), Value::from(target.now));
    Ok((
        NewRow {
            id: target.id.clone(),
            name: Some(name.clone()),
            uname: Some(name),
            ukey: None,
            refs: Default::default(),
            body: Value::Object(out),
            digest: [0; 32],
            problem: None,
            tags: Vec::new(),
        },
        schema,
    ))
}

/// The scope fields of a plugin, in [`store::REF_COLUMNS`] order, with their kinds.
const SCOPES: [(&str, Kind); 4] = [
    ("service", Kind::Service),
    ("route", Kind::Route),
    ("consumer", Kind::Consumer),
    ("consumer_group", Kind::ConsumerGroup),
];

/// Plugin fields besides the common ones.
const PLUGIN_FIELDS: [&str; 12] = [
    "name",
    "instance_name",
    "config",
    "enabled",
    "protocols",
    "service",
    "route",
    "consumer",
    "consumer_group",
    "condition",
    "ordering",
    "partials",
];

/// Looks up the current schema of a plugin by name (`None` = no such custom plugin).
pub(crate) type SchemaLookup<'a> =
    dyn FnMut(&str) -> Result<Option<Arc<PluginSchema>>, CpError> + 'a;

/// A prepared plugin instance and the schema it was validated against.
pub(crate) fn prepare_plugin(
    target: &Target<'_>,
    mut body: Map<String, Value>,
    schema_of: &mut SchemaLookup<'_>,
) -> Result<(NewRow, Arc<PluginSchema>), CpError> {
    let mut errors = Vec::new();
    unknown_fields(&body, &PLUGIN_FIELDS, &mut errors);
    if let Some((parent_kind, parent_id)) = &target.parent {
        if let Some((field, _)) = SCOPES.iter().find(|(_, k)| k == parent_kind) {
            body.insert((*field).to_string(), serde_json::json!({ "id": parent_id }));
        }
    }
    let name = required_string(&body, "name", &mut errors);
    let schema = match &name {
        Some(n) => {
            let s = schema_of(n)?;
            if s.is_none() {
                errors.push(err(
                    "name",
                    format!(
                        "plugin '{n}' not enabled; add it to the 'plugins' configuration property"
                    ),
                ));
            }
            s
        }
        None => None,
    };

    let instance_name = match body.get("instance_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match builtins::check(Builtin::Utf8Name, s) {
            Ok(()) => Some(s.clone()),
            Err(message) => {
                errors.push(err("instance_name", message));
                None
            }
        },
        Some(_) => {
            errors.push(err("instance_name", "expected a string"));
            None
        }
    };
    let enabled = match body.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(err("enabled", "expected a boolean"));
            true
        }
    };
    let condition = match body.get("condition") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.chars().count() > 1024 => {
            errors.push(err("condition", "length must be at most 1024"));
            Value::Null
        }
        Some(v @ Value::String(_)) => v.clone(),
        Some(_) => {
            errors.push(err("condition", "expected a string"));
            Value::Null
        }
    };
    let ordering = match body.get("ordering") {
        None | Some(Value::Null) => Value::Null,
        Some(v) => {
            check_ordering(v, &mut errors);
            v.clone()
        }
    };
    let partials = match body.get("partials") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Array(a)) => {
            for (i, p) in a.iter().enumerate() {
                let id = p.get("id").and_then(Value::as_str).unwrap_or("");
                errors.push(err(
                    format!("partials.{}", i + 1),
                    format!("the foreign key '{{id=\"{id}\"}}' does not reference an existing 'partials' entity."),
                ));
            }
            Value::Array(Vec::new())
        }
        Some(_) => {
            errors.push(err("partials", "expected an array"));
            Value::Null
        }
    };
    let (tag_value, tag_list) = tags(&body, &mut errors);

    let mut refs: [Option<String>; 4] = Default::default();
    for (i, (field, kind)) in SCOPES.iter().enumerate() {
        match body.get(*field) {
            None | Some(Value::Null) => {}
            Some(v) => match foreign_id(v) {
                Some(key) => match resolve(target.conn, target.cp, *kind, key)? {
                    Some(row) => refs[i] = Some(row.id),
                    None => errors.push(err(*field, missing_reference(key, kind.path()))),
                },
                None => errors.push(err(*field, "expected a record with an 'id' string")),
            },
        }
    }

    let protocols_in = body.get("protocols").filter(|v| !v.is_null());
    let mut config = Value::Null;
    let mut protocols = Value::Null;
    if let Some(schema) = &schema {
        let bound: Vec<&str> = SCOPES
            .iter()
            .zip(&refs)
            .filter(|(_, r)| r.is_some())
            .map(|((f, _), _)| *f)
            .collect();
        let config_in = body.get("config").filter(|v| !v.is_null());
        match validate_plugin(schema, config_in, protocols_in, &bound) {
            Ok(filled) => config = filled,
            Err(errs) => errors.extend(errs),
        }
        protocols = protocols_in
            .cloned()
            .unwrap_or_else(|| default_protocols(schema));
        if let (Some(route_id), Some(ours)) = (&refs[1], protocols.as_array()) {
            if let Some(route) = store::by_id(target.conn, target.cp, Kind::Route, route_id)? {
                let theirs = route.body.get("protocols").and_then(Value::as_array);
                if let Some(theirs) = theirs {
                    if !ours.iter().any(|p| theirs.contains(p))
                        && !errors.iter().any(|e| e.path == "protocols")
                    {
                        errors.push(err(
                            "protocols",
                            "must match the associated route's protocols",
                        ));
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let (Some(name), Some(schema)) = (name, schema) else {
        return Err(invalid(vec![err("name", REQUIRED)]));
    };

    if let Some(n) = &instance_name {
        target.unique(
            Kind::Plugin,
            false,
            n,
            "instance_name",
            &format!("{{instance_name=\"{n}\"}}"),
        )?;
    }
    let scope_key = format!(
        "{name}|{}|{}|{}|{}",
        refs[0].as_deref().unwrap_or(""),
        refs[1].as_deref().unwrap_or(""),
        refs[2].as_deref().unwrap_or(""),
        refs[3].as_deref().unwrap_or("")
    );
    let shown_ref = |r: &Option<String>| match r {
        Some(id) => format!("{{id=\"{id}\"}}"),
        None => "null".to_string(),
    };
    target.unique(
        Kind::Plugin,
        true,
        &scope_key,
        "name",
        &format!(
            "{{consumer={},consumer_group={},name=\"{name}\",route={},service={}}}",
            shown_ref(&refs[2]),
            shown_ref(&refs[3]),
            shown_ref(&refs[1]),
            shown_ref(&refs[0])
        ),
    )?;

    let mut out = Map::new();
    out.insert("name".into(), Value::from(name.clone()));
    out.insert(
        "instance_name".into(),
        instance_name.clone().map_or(Value::Null, Value::from),
    );
    out.insert("config".into(), config);
    out.insert("enabled".into(), Value::Bool(enabled));
    out.insert("protocols".into(), protocols);
    for ((field, _), r) in SCOPES.iter().zip(&refs) {
        let v = match r {
            Some(id) => serde_json::json!({ "id": id }),
            None => Value::Null,
        };
        out.insert((*field).to_string(), v);
    }
    out.insert("condition".into(), condition);
    out.insert("ordering".into(), ordering);
    out.insert("partials".into(), partials);
    out.insert("tags".into(), tag_value);
    target.stamp(&mut out);
    Ok((
        NewRow {
            id: target.id.clone(),
            name: Some(name),
            uname: instance_name,
            ukey: Some(scope_key),
            refs,
            body: Value::Object(out),
            digest: [0; 32],
            problem: None,
            tags: tag_list,
        },
        schema,
    ))
}
