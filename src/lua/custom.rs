//! Running a schema's `custom_validator` and `custom_entity_check` functions, as Kong runs them
//! when it validates a plugin instance.
//!
//! The schema model holds no Lua: a schema with custom functions keeps its source
//! ([`PluginSchema::custom_source`]) and each function's id ([`crate::schema::Field::custom_fn`]).
//! To call one, the source is evaluated again in a schema sandbox of its own, and the functions
//! are numbered in the same conversion order. Each thread keeps the last few evaluated sources
//! ([`KEEP`]), so validating many instances of one plugin evaluates its schema once per thread.
//! Every call gets a fresh budget; a call that raises or spends it is an error, not a pass.
//!
//! [`PluginSchema::custom_source`]: crate::schema::PluginSchema::custom_source

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use mlua::{Function, Value as Lua};
use serde_json::Value;

use super::run_phases::{json_to_lua, lua_to_json};
use super::sandbox::{Mode, Sandbox};
use crate::schema::validate::custom::Verdict;

/// Evaluated sources kept per thread.
const KEEP: usize = 32;

/// Installs [`call`] as the runner of schema validation (`crate::schema::validate::custom`).
pub fn install() {
    crate::schema::validate::custom::install(call, map_value);
}

/// One evaluated source: its functions and the sandbox that holds them. The functions are
/// dropped before the sandbox (field order).
struct Loaded {
    functions: Vec<Function>,
    sandbox: Sandbox,
}

/// A source and what evaluating it gave (its functions, or why it does not evaluate).
type Kept = (Arc<str>, Rc<Result<Loaded, String>>);

thread_local! {
    /// This thread's evaluated sources, least recently used first.
    static LOADED: RefCell<Vec<Kept>> = const { RefCell::new(Vec::new()) };
}

/// Evaluates `source` in a sandbox of its own, keeping its custom functions.
fn load(source: &str) -> Result<Loaded, String> {
    let sandbox = Sandbox::new(Mode::Schema, &[]).map_err(|e| e.to_string())?;
    let (_, functions) = super::evaluate_in(&sandbox, source).map_err(|e| e.to_string())?;
    Ok(Loaded { functions, sandbox })
}

/// This thread's evaluation of `source`, evaluating it when it is not kept. The cache is not
/// borrowed while a source evaluates, so nothing the evaluation runs can find it borrowed.
fn loaded(source: &Arc<str>) -> Rc<Result<Loaded, String>> {
    let found = LOADED.with(|cell| {
        let mut kept = cell.borrow_mut();
        let i = kept
            .iter()
            .position(|(s, _)| Arc::ptr_eq(s, source) || **s == **source)?;
        let entry = kept.remove(i);
        let found = Rc::clone(&entry.1);
        kept.push(entry);
        Some(found)
    });
    if let Some(found) = found {
        return found;
    }
    let fresh = Rc::new(load(source));
    LOADED.with(|cell| {
        let mut kept = cell.borrow_mut();
        if kept.len() >= KEEP {
            kept.remove(0);
        }
        kept.push((Arc::clone(source), Rc::clone(&fresh)));
    });
    fresh
}

/// Calls function `id` of the schema `source` with `arg` (converted to Lua: objects and arrays
/// as tables, `null` as `ngx.null`). `Err` when the schema no longer evaluates, the function
/// raises an error, or it spends the sandbox's budget; the message says which.
pub fn call(source: &Arc<str>, id: u32, arg: &Value) -> Result<Verdict, String> {
    let mut values = invoke(source, id, arg)?.into_iter();
    let ok = values.next().unwrap_or(Lua::Nil);
    if !matches!(ok, Lua::Nil | Lua::Boolean(false)) {
        return Ok(Verdict::Pass);
    }
    Ok(Verdict::Fail(match values.next() {
        Some(Lua::String(s)) => Some(s.to_string_lossy()),
        Some(Lua::Integer(i)) => Some(i.to_string()),
        Some(Lua::Number(n)) if n.fract() == 0.0 && n.abs() < 1e15 => Some((n as i64).to_string()),
        Some(Lua::Number(n)) => Some(n.to_string()),
        _ => None,
    }))
}

/// Calls function `id` of `source` with `arg` under a fresh budget; its results.
fn invoke(source: &Arc<str>, id: u32, arg: &Value) -> Result<Vec<Lua>, String> {
    let loaded = loaded(source);
    let loaded = loaded.as_ref().as_ref().map_err(Clone::clone)?;
    let function = loaded
        .functions
        .get(id as usize)
        .ok_or_else(|| format!("the schema has no custom function number {id}"))?;
    let sandbox = &loaded.sandbox;
    sandbox.fresh_budget();
    let arg = json_to_lua(sandbox.lua(), arg, true, 0).map_err(|e| e.to_string())?;
    let result = function.call::<mlua::MultiValue>(arg);
    if sandbox.budget_spent() {
        return Err(super::SandboxError::Budget.to_string());
    }
    let values = result.map_err(|e| sandbox.map_error(e, "schema").to_string())?;
    Ok(values.into_iter().collect())
}

/// Calls function `id` of `source` (a shorthand's `func`) with `arg`; its first result as JSON
/// (`None` for `nil`), as cjson encodes it: tables with keys 1..n become arrays, other tables
/// objects, `ngx.null` `null`.
pub fn map_value(source: &Arc<str>, id: u32, arg: &Value) -> Result<Option<Value>, String> {
    let first = invoke(source, id, arg)?.into_iter().next();
    match first {
        None | Some(Lua::Nil) => Ok(None),
        Some(v) => lua_to_json(&v, 0).map(Some),
    }
}
