//! What a loaded `handler.lua` returned: its `PRIORITY`, `VERSION` and phase functions.

use mlua::Value;

/// The shape of the table a handler returns, read without calling anything in it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HandlerInfo {
    /// `PRIORITY` when it is a number (integral or not: lint decides).
    pub priority: Option<f64>,
    /// The Lua type of `PRIORITY` when it is set (`"number"`, `"string"`, …).
    pub priority_type: Option<&'static str>,
    /// `VERSION` when it is a string.
    pub version: Option<String>,
    /// The Lua type of `VERSION` when it is set.
    pub version_type: Option<&'static str>,
    /// The keys whose values are functions (`access`, `init_worker`, `new`, …), sorted.
    pub phases: Vec<String>,
    /// Whether the file returned a table at all.
    pub returned_table: bool,
}

/// Phase handlers Kong looks up by name (normal indexing, so inherited ones count).
const KNOWN_PHASES: &[&str] = &[
    "access",
    "body_filter",
    "certificate",
    "configure",
    "header_filter",
    "init_worker",
    "log",
    "preread",
    "response",
    "rewrite",
    "ws_client_frame",
    "ws_close",
    "ws_handshake",
    "ws_upstream_frame",
];

/// Describes the value a handler chunk returned. `PRIORITY`, `VERSION` and the known phases are
/// read like Kong reads them (through `__index`, still under the sandbox's budget); other
/// function-valued keys are read raw.
pub(crate) fn describe(value: &Value) -> HandlerInfo {
    let Value::Table(table) = value else {
        return HandlerInfo::default();
    };
    let mut info = HandlerInfo {
        returned_table: true,
        ..HandlerInfo::default()
    };
    if let Ok(priority) = table.get::<Value>("PRIORITY") {
        info.priority_type = lua_type(&priority);
        info.priority = match priority {
            Value::Integer(i) => Some(i as f64),
            Value::Number(n) => Some(n),
            _ => None,
        };
    }
    if let Ok(version) = table.get::<Value>("VERSION") {
        info.version_type = lua_type(&version);
        if let Value::String(s) = version {
            info.version = Some(s.to_string_lossy());
        }
    }
    let _ = table.for_each::<Value, Value>(|k, v| {
        if let (Value::String(name), Value::Function(_)) = (&k, &v) {
            info.phases.push(name.to_string_lossy());
        }
        Ok(())
    });
    for phase in KNOWN_PHASES {
        if let Ok(Value::Function(_)) = table.get::<Value>(*phase) {
            info.phases.push(phase.to_string());
        }
    }
    info.phases.sort();
    info.phases.dedup();
    info
}

/// Lua's name for the type of a set value; `None` for `nil`.
fn lua_type(value: &Value) -> Option<&'static str> {
    match value {
        Value::Nil => None,
        Value::Boolean(_) => Some("boolean"),
        Value::Integer(_) | Value::Number(_) => Some("number"),
        Value::String(_) => Some("string"),
        Value::Table(_) => Some("table"),
        Value::Function(_) => Some("function"),
        Value::Thread(_) => Some("thread"),
        Value::LightUserData(_) | Value::UserData(_) => Some("userdata"),
        _ => Some("userdata"),
    }
}
