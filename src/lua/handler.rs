//! What a loaded `handler.lua` returned: its `PRIORITY`, `VERSION` and phase functions.

use mlua::Value;

/// The shape of the table a handler returns, read without calling anything in it.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
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
    /// Lua's type name of what the file returned.
    pub returned_type: &'static str,
    /// Kong's first create-time complaint (§4.5), the text inside `handler validation error (…)`.
    pub kong_error: Option<String>,
}

/// Kong's `VERSION` parsing (version.lua 1.0.1, non-strict): the first run that starts with a
/// digit and continues with digits and dots, split on `.` into at most three numeric parts (one
/// trailing dot ignored). Returns the cleaned version, or `None` when Kong refuses it.
pub fn parse_kong_version(text: &str) -> Option<String> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let run: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let run = run.strip_suffix('.').unwrap_or(&run);
    let parts: Vec<&str> = run.split('.').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let numbers: Vec<String> = parts
        .iter()
        .map(|p| p.parse::<u64>().map(|n| n.to_string()))
        .collect::<Result<_, _>>()
        .ok()?;
    Some(numbers.join("."))
}

fn kong_error(info: &HandlerInfo) -> Option<String> {
    if !info.returned_table {
        return Some(format!("expected table, got {}", info.returned_type));
    }
    if !info
        .priority
        .is_some_and(|p| p.is_finite() && p.fract() == 0.0)
    {
        return Some("PRIORITY field is not a valid integer number".into());
    }
    if info
        .version
        .as_deref()
        .and_then(parse_kong_version)
        .is_none()
    {
        return Some("VERSION field does not follow the x.y.z format".into());
    }
    let has = |p: &str| info.phases.iter().any(|x| x == p);
    if has("response") && (has("header_filter") || has("body_filter")) {
        return Some(
            "implementing both response and header_filter/body_filter methods is not allowed"
                .into(),
        );
    }
    if has("init_worker") {
        return Some("implementing init_worker method is not allowed".into());
    }
    None
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
        let mut info = HandlerInfo {
            returned_type: lua_type(value).unwrap_or("nil"),
            ..HandlerInfo::default()
        };
        info.kong_error = kong_error(&info);
        return info;
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
    info.returned_type = "table";
    info.kong_error = kong_error(&info);
    info
}

/// Lua's name for the type of a set value; `None` for `nil`.
/// Lua's type names, as [`lua_type`] and Lua's `type()` give them.
const LUA_TYPE_NAMES: [&str; 8] = [
    "nil", "boolean", "number", "string", "table", "function", "thread", "userdata",
];

/// [`HandlerInfo`] as the lint cache stores it, with owned type names.
#[derive(serde::Deserialize)]
struct StoredHandlerInfo {
    priority: Option<f64>,
    priority_type: Option<String>,
    version: Option<String>,
    version_type: Option<String>,
    phases: Vec<String>,
    returned_table: bool,
    returned_type: String,
    kong_error: Option<String>,
}

/// Lua's type name `text` as a static string; any other text is refused.
fn lua_type_name(text: &str) -> Result<&'static str, String> {
    LUA_TYPE_NAMES
        .into_iter()
        .find(|n| *n == text)
        .ok_or_else(|| format!("not a Lua type name: {text}"))
}

impl<'de> serde::Deserialize<'de> for HandlerInfo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<HandlerInfo, D::Error> {
        <StoredHandlerInfo as serde::Deserialize>::deserialize(d)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

impl TryFrom<StoredHandlerInfo> for HandlerInfo {
    type Error = String;

    fn try_from(s: StoredHandlerInfo) -> Result<HandlerInfo, String> {
        Ok(HandlerInfo {
            priority: s.priority,
            priority_type: s.priority_type.as_deref().map(lua_type_name).transpose()?,
            version: s.version,
            version_type: s.version_type.as_deref().map(lua_type_name).transpose()?,
            phases: s.phases,
            returned_table: s.returned_table,
            returned_type: lua_type_name(&s.returned_type)?,
            kong_error: s.kong_error,
        })
    }
}

pub(crate) fn lua_type(value: &Value) -> Option<&'static str> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn versions_as_kong_parses_them() {
        for (ok, clean) in [
            ("1", "1"),
            ("1.0.0", "1.0.0"),
            ("v1.2.3", "1.2.3"),
            ("1.2.3-beta", "1.2.3"),
            ("1.0,0", "1.0"),
            ("1.2.", "1.2"),
            ("01.2", "1.2"),
            ("x9y", "9"),
        ] {
            assert_eq!(
                super::parse_kong_version(ok).as_deref(),
                Some(clean),
                "{ok}"
            );
        }
        for bad in ["latest", "", "1.0.0.1", "1..2"] {
            assert_eq!(super::parse_kong_version(bad), None, "{bad}");
        }
    }
}
