//! Lua source syntax, below both the sandbox (`lua`) and the schema validators (`schema`):
//! compiling with LuaJIT itself (nothing run) and parsing with full_moon, guarded against its
//! panics. A leaf: it imports nothing from the crate.

use full_moon::LuaVersion;

/// Compiles `source` with LuaJIT (text mode, nothing run) under `chunk_name`, and returns
/// LuaJIT's whole error message if it does not compile (`[string "…"]:LINE: MESSAGE`, the chunk
/// name shortened as LuaJIT shortens it).
pub fn luajit_load_error(source: &str, chunk_name: &str) -> Option<String> {
    let lua = match mlua::Lua::new_with(mlua::StdLib::NONE, mlua::LuaOptions::default()) {
        Ok(lua) => lua,
        Err(e) => return Some(format!("cannot start LuaJIT: {e}")),
    };
    let _ = lua.set_memory_limit(256 * 1024 * 1024);
    // A name is a C string: cut it at a NUL, keeping a control byte so that LuaJIT still marks
    // the name as cut (it stops at the first control byte and appends `...`).
    let name = match chunk_name.find('\0') {
        Some(i) => format!("{}\n", &chunk_name[..i]),
        None => chunk_name.to_string(),
    };
    let error = lua
        .load(source)
        .set_name(name)
        .set_mode(mlua::ChunkMode::Text)
        .into_function()
        .err()?;
    Some(match &error {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    })
}

/// Compiles `source` with LuaJIT (text mode, nothing run) and returns the line and message of
/// its syntax error, if any.
pub fn luajit_syntax_error(source: &str) -> Option<(usize, String)> {
    const NAME: &str = "chunk";
    let text = luajit_load_error(source, NAME)?;
    let rest = text
        .strip_prefix(&format!("[string \"{NAME}\"]:"))
        .unwrap_or(&text);
    match rest.split_once(':') {
        Some((n, msg)) if n.parse::<usize>().is_ok() => {
            Some((n.parse().unwrap_or(1), msg.trim().to_string()))
        }
        _ => Some((1, rest.trim().to_string())),
    }
}

thread_local! {
    /// Set while full_moon parses on this thread: a panic then is the parser's, caught and
    /// reported as a finding, and the panic hook stays quiet about it.
    static PARSING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a panic now would be a caught parser panic (for the binary's panic hook).
pub fn parser_panic_expected() -> bool {
    PARSING.with(|p| p.get())
}

/// Parses LuaJIT source. full_moon panics on a few inputs (a stray backtick reaches an
/// `unreachable!`); that is caught here and returned as `None`.
pub fn parse_guarded(source: &str) -> Option<full_moon::ast::AstResult> {
    PARSING.with(|p| p.set(true));
    let result = std::panic::catch_unwind(|| {
        full_moon::parse_fallible(source, LuaVersion::luajit().with_lua52())
    });
    PARSING.with(|p| p.set(false));
    result.ok()
}
