//! The Lua sandbox: evaluates `schema.lua` into the schema model and loads `handler.lua`, plus
//! static checks on the Lua AST.
//!
//! This is where plugin code meets plugsync. `state` hands it the two Lua files of a custom
//! plugin; it returns values the pure core works with: a [`PluginSchema`] for `schema` (config
//! validation, change classification), a [`HandlerInfo`] and [`Finding`]s for `lint`.
//!
//! * [`evaluate_schema`] runs `schema.lua` in a fresh environment on LuaJIT (2.1, Lua 5.2
//!   compatibility, as Kong builds it) inside Kong's schema environment, applies Kong's
//!   create-time steps (a table, a `name`, the restricted metaschema in [`kong_meta`]) and
//!   converts the table into the schema model.
//! * [`load_handler`] runs `handler.lua` in the handler environment of a [`ProfileName`] and
//!   reports `PRIORITY`, `VERSION`, the phase functions and Kong's first complaint.
//! * [`syntax_errors`] compiles with LuaJIT; [`schema_findings`] and [`handler_findings`] parse
//!   with full_moon (LuaJIT syntax with `goto`) and never run anything.
//!
//! # The sandbox
//!
//! Each evaluation gets its own environment, budget and memory cap; the LuaJIT state under it is
//! prepared once per thread and environment and reused (so any thread may evaluate; nothing is
//! shared between threads, and nothing one evaluation writes reaches the next: see
//! `sandbox.rs`). The prelude builds the chunk's environment from the profile's lists
//! ([`profile`]): only the listed globals exist, new keys are refused with Kong's `Cannot modify
//! …` message, and `require` loads stand-ins for the allowed modules only. Source is loaded as
//! text only.
//!
//! Limits: [`MEMORY_LIMIT`] bytes of Lua memory, [`INSTRUCTION_LIMIT`] VM instructions and
//! [`TIME_LIMIT`] of the thread's CPU time, [`WALL_LIMIT`] of wall-clock time (checked every
//! [`HOOK_INTERVAL`] instructions; CPU time, so a loaded machine does not fail a plugin). Once the
//! budget or the memory is spent, `pcall`, `xpcall` and `coroutine.resume` re-raise instead of
//! catching, so a script cannot outlive its budget. C functions run without hooks, so those whose
//! cost a script controls are bounded up front: `string.rep` results over 8 MiB, pattern
//! functions whose estimated backtracking (subject length to the power of the pattern's
//! quantifiers, at most three counted) exceeds 10⁹ steps or that hold more than 200 quantifiers, and `table.sort` on more than 100,000 elements are refused.
//!
//! # Builtin markers
//!
//! Kong's typedefs validate hosts, URLs, header names, … with Lua functions. The stand-in
//! (`typedefs.lua`) puts a *marker* function in `custom_validator` instead: a function that
//! accepts everything and whose identity is recorded, with a name, in a registry table only Rust
//! can reach. The converter looks a `custom_validator` up in that registry: a marker becomes
//! [`crate::schema::Builtin`] (names without a native check, such as `jwk`, are dropped); any other
//! function sets [`crate::schema::Field::has_custom_validator`].

mod checks;
mod convert;
pub mod custom;
mod depth;
mod handler;
mod kong_meta;
pub mod profile;
mod run_phases;
mod sandbox;
mod schema_cache;

#[cfg(test)]
mod isolation_tests;
#[cfg(test)]
mod pdk_tests;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::schema::PluginSchema;

pub use crate::luasyntax::{luajit_syntax_error, parser_panic_expected};
pub use checks::{
    handler_findings, hybrid_schema_findings, schema_findings, syntax_errors, Check, Finding,
};
pub use handler::{parse_kong_version, HandlerInfo};
pub use profile::{ProfileName, DEFAULT_PROFILE};
pub use run_phases::{
    run_request, Exchange, LogLine, SentRequest, SimRequest, SimResponse, SimUpstream,
};
pub use schema_cache::SchemaCache;

/// Lua memory cap per evaluation, in bytes.
pub const MEMORY_LIMIT: usize = 32 * 1024 * 1024;
/// VM instructions one evaluation may execute.
pub const INSTRUCTION_LIMIT: u64 = 20_000_000;
/// CPU time (of the evaluating thread) one evaluation may take.
pub const TIME_LIMIT: Duration = Duration::from_millis(500);
/// Wall-clock time one evaluation may take however loaded the machine is: a backstop behind
/// [`TIME_LIMIT`] and [`INSTRUCTION_LIMIT`].
pub const WALL_LIMIT: Duration = Duration::from_secs(5);
/// How often (in VM instructions) the budget is checked.
pub const HOOK_INTERVAL: u32 = 1_000;

/// The only module a schema may `require`.
pub const TYPEDEFS_MODULE: &str = "kong.db.schema.typedefs";

/// Why a Lua file could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum SandboxError {
    /// The file does not compile.
    #[error("syntax error on line {line}: {message}")]
    Syntax {
        /// 1-based line (0 when Lua did not say).
        line: usize,
        /// Lua's message, without the chunk name and line.
        message: String,
    },
    /// The file raised an error while running.
    #[error("runtime error: {message}")]
    Runtime {
        /// Lua's message, with the chunk name and line where Lua gives them.
        message: String,
    },
    /// The file used more than [`MEMORY_LIMIT`] bytes.
    #[error("the plugin sandbox's memory limit of {} MiB was exceeded", MEMORY_LIMIT / (1024 * 1024))]
    Memory,
    /// The file ran longer than [`INSTRUCTION_LIMIT`] instructions or [`TIME_LIMIT`].
    #[error(
        "the plugin sandbox's execution budget ({} instructions or {} ms of CPU time) was exhausted",
        INSTRUCTION_LIMIT,
        TIME_LIMIT.as_millis()
    )]
    Budget,
    /// The schema evaluated but breaks Kong's metaschema.
    #[error("{message}")]
    Metaschema {
        /// What is wrong, starting with the field path (`config.timeout: …`).
        message: String,
    },
    /// The chunk required a module outside its allowlist.
    #[error("{message}")]
    ForbiddenModule {
        /// The module name as written.
        name: String,
        /// Kong's message, with the caller's position (`[string "schema"]:1: require 'x' not
        /// allowed within sandbox`).
        message: String,
    },
    /// The chunk ran but what it returned fails Kong's create-time checks (`expected table, got
    /// nil`, `missing name`, `schema violation (…)`, `PRIORITY field is not a valid integer
    /// number`, …).
    #[error("{message}")]
    Validation {
        /// Kong's message inside `<field> validation error (…)`.
        message: String,
    },
}

impl SandboxError {
    /// Kong's message for this failure of the `field` (`schema` or `handler`) of a custom plugin,
    /// as it appears inside `schema violation (<field>: …)`.
    pub fn kong_message(&self, field: &str) -> String {
        match self {
            SandboxError::Syntax { line, message } => {
                format!("{field} compilation error ([string \"{field}\"]:{line}: {message})")
            }
            SandboxError::Runtime { message } | SandboxError::ForbiddenModule { message, .. } => {
                format!("{field} load failure ({message})")
            }
            SandboxError::Memory => format!("{field} load failure (not enough memory)"),
            SandboxError::Budget => format!("{field} load failure ({})", self),
            SandboxError::Validation { message } => {
                format!("{field} validation error ({message})")
            }
            SandboxError::Metaschema { message } => message.clone(),
        }
    }

    /// Whether Kong would refuse the create (rather than accept it and fail when loading).
    pub fn is_create_time(&self) -> bool {
        !matches!(self, SandboxError::Metaschema { .. })
    }
}

impl SandboxError {
    /// The 1-based line the error points at, when Lua gave one: the line of a syntax error, or
    /// the `chunk:LINE:` prefix of a runtime error (a refused `require` included) raised in the
    /// file itself.
    pub fn line(&self) -> Option<usize> {
        match self {
            SandboxError::Syntax { line, .. } => (*line > 0).then_some(*line),
            SandboxError::Runtime { message } | SandboxError::ForbiddenModule { message, .. } => {
                runtime_line(message)
            }
            _ => None,
        }
    }
}

/// The `LINE` of a message starting `chunk:LINE: …`.
fn runtime_line(message: &str) -> Option<usize> {
    let first_line = message.lines().next()?;
    let (_, rest) = first_line.split_once(':')?;
    let (digits, _) = rest.split_once(':')?;
    digits.parse::<usize>().ok().filter(|n| *n > 0)
}

/// Evaluates the source of a `schema.lua` as Kong does on create (§4.3: compile, run with no
/// arguments, a table, its `name`, the restricted metaschema), then converts the table into the
/// schema model (the load-time checks, reported as [`SandboxError::Metaschema`]).
///
/// Every call evaluates: nothing is memoised per process. A run that needs the same schema
/// twice (lint, then plan) passes a [`SchemaCache`] along instead.
pub fn evaluate_schema(source: &str) -> Result<PluginSchema, SandboxError> {
    let sandbox = sandbox::Sandbox::pooled(sandbox::Mode::Schema, &[])?;
    let (mut schema, functions) = evaluate_in(&sandbox, source)?;
    if !functions.is_empty() {
        schema.custom_source = Some(std::sync::Arc::from(source));
    }
    Ok(schema)
}

/// [`evaluate_schema`] in `sandbox`, with the schema's custom functions (numbered as the
/// schema's `custom_fn` ids).
fn evaluate_in(
    sandbox: &sandbox::Sandbox,
    source: &str,
) -> Result<(PluginSchema, Vec<mlua::Function>), SandboxError> {
    let (value, second) = sandbox.run(source, sandbox::Mode::Schema)?;
    if sandbox.budget_spent() {
        return Err(SandboxError::Budget);
    }
    load_failure_from_second_value(&second)?;
    let table = match &value {
        mlua::Value::Table(t) if !sandbox.is_stub(t) => t.clone(),
        other => {
            return Err(SandboxError::Validation {
                message: format!(
                    "expected table, got {}",
                    handler::lua_type(other).unwrap_or("nil")
                ),
            })
        }
    };
    match table.raw_get::<mlua::Value>("name") {
        Ok(mlua::Value::Nil) => {
            return Err(SandboxError::Validation {
                message: "missing name".into(),
            })
        }
        Ok(mlua::Value::String(_)) => {}
        _ => {
            return Err(SandboxError::Validation {
                message: "invalid name".into(),
            })
        }
    }
    // mlua panics when a conversion holds more Lua references than the state has room for;
    // the limits in `convert` prevent it, and this keeps any case they miss an error.
    let converted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        kong_meta::check(&table).map_err(|message| SandboxError::Validation { message })?;
        let (schema, functions) = convert::schema_and_functions(sandbox, value)
            .map_err(|message| SandboxError::Metaschema { message })?;
        kong_meta::check_defaults(&schema)
            .map_err(|message| SandboxError::Validation { message })?;
        Ok((schema, functions))
    }));
    converted.unwrap_or_else(|_| {
        sandbox.spoil();
        Err(SandboxError::Metaschema {
            message: "the schema is too large for the plugin sandbox to convert".into(),
        })
    })
}

/// A truthy second return value is a load failure at create time (§2.1).
fn load_failure_from_second_value(second: &mlua::Value) -> Result<(), SandboxError> {
    let text = match second {
        mlua::Value::Nil | mlua::Value::Boolean(false) => return Ok(()),
        mlua::Value::String(s) => s.to_string_lossy(),
        mlua::Value::Integer(i) => i.to_string(),
        mlua::Value::Number(n) => n.to_string(),
        other => handler::lua_type(other).unwrap_or("nil").to_string(),
    };
    Err(SandboxError::Runtime { message: text })
}

/// Loads the source of a `handler.lua` in the handler environment of `profile` (plus
/// `extra_requires`) and describes the table it returns, with Kong's first create-time
/// complaint about it, if any (§4.5), in [`HandlerInfo::kong_error`].
pub fn load_handler(
    source: &str,
    profile: ProfileName,
    extra_requires: &[String],
) -> Result<HandlerInfo, SandboxError> {
    let mode = sandbox::Mode::Handler(profile);
    let sandbox = sandbox::Sandbox::pooled(mode, extra_requires)?;
    let (value, second) = sandbox.run(source, mode)?;
    if sandbox.budget_spent() {
        return Err(SandboxError::Budget);
    }
    load_failure_from_second_value(&second)?;
    let info = handler::describe(&value);
    if sandbox.budget_spent() {
        return Err(SandboxError::Budget);
    }
    Ok(info)
}
