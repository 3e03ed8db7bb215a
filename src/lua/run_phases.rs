//! Runs a handler's phases for one simulated request (`plugsync test`).
//!
//! The state is the sandbox of [`load_handler`](super::load_handler): the same profile
//! environment, memory cap and instruction budget. On top of the prelude, `pdk.lua` replaces the
//! no-op `kong.*`/`ngx.*` stand-ins with working ones for the request being simulated, and every
//! other function of Kong's list with one that raises `not available offline: kong.x.y` when a
//! phase calls it. Top-level code still sees no-ops for those, as when loading.
//!
//! One fresh state per request: nothing a case does can leak into the next.

use std::sync::OnceLock;

use mlua::{ChunkMode, Lua, LuaOptions, StdLib, Table, Value};
use serde_json::Value as Json;

use super::handler;
use super::profile::ProfileName;
use super::sandbox::{Mode, Sandbox};
use super::SandboxError;

const PDK: &str = include_str!("pdk.lua");

/// The request a client sends.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRequest {
    pub method: String,
    /// The path as written, without the query string.
    pub raw_path: String,
    /// The query string, without `?` (empty when none).
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// `http` or `https`.
    pub scheme: String,
    /// What `kong.client.get_ip()` returns.
    pub client_ip: String,
    /// What `kong.client.get_consumer()` returns before a plugin authenticates one.
    pub consumer: Option<Json>,
}

impl Default for SimRequest {
    fn default() -> SimRequest {
        SimRequest {
            method: "GET".into(),
            raw_path: "/".into(),
            query: String::new(),
            headers: Vec::new(),
            body: String::new(),
            scheme: "http".into(),
            client_ip: "127.0.0.1".into(),
            consumer: None,
        }
    }
}

/// What the upstream service answers.
#[derive(Debug, Clone, PartialEq)]
pub struct SimUpstream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Default for SimUpstream {
    fn default() -> SimUpstream {
        SimUpstream {
            status: 200,
            headers: Vec::new(),
            body: String::new(),
        }
    }
}

/// The request as it left for the upstream.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SentRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub scheme: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The response the client received.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// `service`, `exit` or `error` (as `kong.response.get_source()` says).
    pub source: String,
}

/// One captured `kong.log.*`/`ngx.log` line.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogLine {
    pub level: String,
    pub message: String,
    /// The phase that logged it (`init` for top-level code).
    pub phase: String,
}

/// What happened to one request.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Exchange {
    /// `None` when no request reached the upstream (a plugin produced the response, or failed).
    pub upstream_request: Option<SentRequest>,
    pub response: SimResponse,
    pub logs: Vec<LogLine>,
    /// The error a phase raised, as Lua gave it.
    pub error: Option<String>,
    /// The phase that raised it.
    pub error_phase: Option<String>,
    /// The phases the handler implements that ran, in order.
    pub phases: Vec<String>,
}

fn pdk_bytecode() -> Result<&'static [u8], SandboxError> {
    static CODE: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    CODE.get_or_init(|| {
        let lua = Lua::new_with(StdLib::NONE, LuaOptions::default()).map_err(|e| e.to_string())?;
        lua.load(PDK)
            .set_name("=plugsync pdk")
            .set_mode(ChunkMode::Text)
            .into_function()
            .map(|f| f.dump(false))
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map(Vec::as_slice)
    .map_err(|message| SandboxError::Runtime {
        message: format!("cannot compile the PDK stand-in: {message}"),
    })
}

/// Loads `handler_source` in the handler environment of `profile` with the PDK stand-in, and
/// runs its phases for `request` (the upstream answering `upstream`) with `conf` (the validated
/// config, defaults filled; JSON `null`s become Lua `nil`s, as Kong hands plugins their config).
///
/// Errors: the handler does not load, or Kong would refuse it (PRIORITY, VERSION, …), or the
/// budget or memory cap was spent. An error a phase raises is part of the [`Exchange`].
pub fn run_request(
    handler_source: &str,
    profile: ProfileName,
    extra_requires: &[String],
    conf: &Json,
    request: &SimRequest,
    upstream: &SimUpstream,
) -> Result<Exchange, SandboxError> {
    let mode = Mode::Handler(profile);
    let sandbox = Sandbox::new(mode, extra_requires)?;
    let lua = sandbox.lua();
    let prep = |e: mlua::Error| sandbox.map_error(e, "pdk");

    let host = lua.create_table().map_err(prep)?;
    host.raw_set(
        "json_encode",
        lua.create_function(|_, v: Value| match lua_to_json(&v, 0) {
            Ok(j) => Ok((Some(j.to_string()), None::<String>)),
            Err(e) => Ok((None, Some(e))),
        })
        .map_err(prep)?,
    )
    .map_err(prep)?;
    host.raw_set(
        "json_decode",
        lua.create_function(|lua, s: mlua::String| {
            match serde_json::from_slice::<Json>(&s.as_bytes()) {
                Ok(j) => Ok((json_to_lua(lua, &j, true, 0)?, None::<String>)),
                Err(e) => Ok((Value::Nil, Some(format!("invalid json: {e}")))),
            }
        })
        .map_err(prep)?,
    )
    .map_err(prep)?;
    host.raw_set("tripped", sandbox.tripped_function()?)
        .map_err(prep)?;

    let pdk: Table = lua
        .load(pdk_bytecode()?)
        .set_name("=plugsync pdk")
        .set_mode(ChunkMode::Binary)
        .call((sandbox.env().clone(), Value::NULL, host))
        .map_err(prep)?;

    let prepare: mlua::Function = pdk.get("prepare").map_err(prep)?;
    prepare
        .call::<()>(request_table(lua, request, upstream).map_err(prep)?)
        .map_err(prep)?;

    let (value, second) = sandbox.run(handler_source, mode)?;
    if sandbox.budget_spent() {
        return Err(SandboxError::Budget);
    }
    super::load_failure_from_second_value(&second)?;
    let info = handler::describe(&value);
    if let Some(message) = info.kong_error {
        return Err(SandboxError::Validation { message });
    }
    let conf = json_to_lua(lua, conf, false, 0).map_err(prep)?;
    let run: mlua::Function = pdk.get("run").map_err(prep)?;
    let result: Table = run
        .call((value, conf))
        .map_err(|e| sandbox.map_error(e, "handler"))?;
    if sandbox.budget_spent() {
        return Err(SandboxError::Budget);
    }
    exchange(&result).map_err(prep)
}

fn header_list(lua: &Lua, headers: &[(String, String)]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for (i, (name, value)) in headers.iter().enumerate() {
        let e = lua.create_table()?;
        e.raw_set(1, name.as_str())?;
        e.raw_set(2, value.as_str())?;
        t.raw_set(i + 1, e)?;
    }
    Ok(t)
}

fn request_table(lua: &Lua, r: &SimRequest, u: &SimUpstream) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("method", r.method.as_str())?;
    t.raw_set("raw_path", r.raw_path.as_str())?;
    t.raw_set("query", r.query.as_str())?;
    t.raw_set("headers", header_list(lua, &r.headers)?)?;
    t.raw_set("body", lua.create_string(&r.body)?)?;
    t.raw_set("scheme", r.scheme.as_str())?;
    t.raw_set("client_ip", r.client_ip.as_str())?;
    if let Some(c) = &r.consumer {
        t.raw_set("consumer", json_to_lua(lua, c, false, 0)?)?;
    }
    let up = lua.create_table()?;
    up.raw_set("status", u.status)?;
    up.raw_set("headers", header_list(lua, &u.headers)?)?;
    up.raw_set("body", lua.create_string(&u.body)?)?;
    t.raw_set("upstream", up)?;
    Ok(t)
}

fn text(t: &Table, key: &str) -> mlua::Result<String> {
    Ok(match t.raw_get::<Value>(key)? {
        Value::String(s) => s.to_string_lossy(),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Nil => String::new(),
        other => format!("{other:?}"),
    })
}

fn opt_text(t: &Table, key: &str) -> mlua::Result<Option<String>> {
    Ok(match t.raw_get::<Value>(key)? {
        Value::Nil => None,
        _ => Some(text(t, key)?),
    })
}

fn read_headers(t: &Table) -> mlua::Result<Vec<(String, String)>> {
    let list: Table = t.raw_get("headers")?;
    let mut out = Vec::new();
    for e in list.sequence_values::<Table>() {
        let e = e?;
        let name = text_at(&e, 1)?;
        let value = text_at(&e, 2)?;
        out.push((name, value));
    }
    Ok(out)
}

fn text_at(t: &Table, i: usize) -> mlua::Result<String> {
    Ok(match t.raw_get::<Value>(i)? {
        Value::String(s) => s.to_string_lossy(),
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => n.to_string(),
        other => format!("{other:?}"),
    })
}

fn exchange(result: &Table) -> mlua::Result<Exchange> {
    let upstream_request = match result.raw_get::<Value>("upstream_request")? {
        Value::Table(t) => Some(SentRequest {
            method: text(&t, "method")?,
            path: text(&t, "path")?,
            query: text(&t, "query")?,
            scheme: text(&t, "scheme")?,
            headers: read_headers(&t)?,
            body: text(&t, "body")?,
        }),
        _ => None,
    };
    let r: Table = result.raw_get("response")?;
    let status = match r.raw_get::<Value>("status")? {
        Value::Integer(i) => i as f64,
        Value::Number(n) => n,
        _ => 0.0,
    };
    let response = SimResponse {
        status: if (0.0..=999.0).contains(&status) {
            status as u16
        } else {
            0
        },
        headers: read_headers(&r)?,
        body: text(&r, "body")?,
        source: text(&r, "source")?,
    };
    let mut logs = Vec::new();
    let list: Table = result.raw_get("logs")?;
    for l in list.sequence_values::<Table>() {
        let l = l?;
        logs.push(LogLine {
            level: text(&l, "level")?,
            message: text(&l, "message")?,
            phase: text(&l, "phase")?,
        });
    }
    let phases_t: Table = result.raw_get("phases")?;
    let phases = phases_t
        .sequence_values::<String>()
        .collect::<mlua::Result<Vec<_>>>()?;
    Ok(Exchange {
        upstream_request,
        response,
        logs,
        error: opt_text(result, "error")?,
        error_phase: opt_text(result, "error_phase")?,
        phases,
    })
}

/// Deepest nesting converted either way.
const MAX_DEPTH: usize = 100;

/// JSON to Lua: objects and arrays become tables; `null` becomes `ngx.null` when `keep_null`,
/// else `nil` (a config's unset optional fields, as Kong hands them to plugins).
pub(super) fn json_to_lua(
    lua: &Lua,
    value: &Json,
    keep_null: bool,
    depth: usize,
) -> mlua::Result<Value> {
    if depth > MAX_DEPTH {
        return Err(mlua::Error::runtime("too deeply nested"));
    }
    Ok(match value {
        Json::Null => {
            if keep_null {
                Value::NULL
            } else {
                Value::Nil
            }
        }
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) if i.unsigned_abs() < (1u64 << 53) => Value::Number(i as f64),
            _ => Value::Number(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, json_to_lua(lua, item, keep_null, depth + 1)?)?;
            }
            Value::Table(t)
        }
        Json::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(k.as_str(), json_to_lua(lua, v, keep_null, depth + 1)?)?;
            }
            Value::Table(t)
        }
    })
}

/// Lua to JSON as cjson encodes it: a table whose keys are exactly 1..n is an array, any other
/// table an object (the empty table is `{}`); `ngx.null` is `null`.
pub(super) fn lua_to_json(value: &Value, depth: usize) -> Result<Json, String> {
    if depth > MAX_DEPTH {
        return Err("Cannot serialise, excessive nesting (101)".into());
    }
    Ok(match value {
        Value::Nil => Json::Null,
        Value::LightUserData(p) if p.0.is_null() => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => Json::from(*i),
        Value::Number(n) => {
            if !n.is_finite() {
                return Err("Cannot serialise number: must not be NaN or Infinity".into());
            }
            if n.fract() == 0.0 && n.abs() < 1e15 {
                Json::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number)
            }
        }
        Value::String(s) => Json::String(s.to_string_lossy()),
        Value::Table(t) => {
            let mut pairs: Vec<(Value, Value)> = Vec::new();
            for pair in t.pairs::<Value, Value>() {
                pairs.push(pair.map_err(|e| e.to_string())?);
            }
            let n = pairs.len();
            let is_array = n > 0
                && pairs.iter().all(|(k, _)| match k {
                    Value::Integer(i) => *i >= 1 && (*i as usize) <= n,
                    Value::Number(f) => f.fract() == 0.0 && *f >= 1.0 && (*f as usize) <= n,
                    _ => false,
                });
            if is_array {
                let mut items = vec![Json::Null; n];
                for (k, v) in &pairs {
                    let i = match k {
                        Value::Integer(i) => *i as usize,
                        Value::Number(f) => *f as usize,
                        _ => unreachable!("checked above"),
                    };
                    items[i - 1] = lua_to_json(v, depth + 1)?;
                }
                Json::Array(items)
            } else {
                let mut map = serde_json::Map::new();
                for (k, v) in &pairs {
                    let key = match k {
                        Value::String(s) => s.to_string_lossy(),
                        Value::Integer(i) => i.to_string(),
                        Value::Number(f) => f.to_string(),
                        other => {
                            return Err(format!(
                                "Cannot serialise table: key of type {} not supported",
                                handler::lua_type(other).unwrap_or("nil")
                            ))
                        }
                    };
                    map.insert(key, lua_to_json(v, depth + 1)?);
                }
                Json::Object(map)
            }
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                handler::lua_type(other).unwrap_or("nil")
            ))
        }
    })
}
