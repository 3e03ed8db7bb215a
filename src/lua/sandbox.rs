//! One sandboxed LuaJIT state (Lua 5.2 compatibility, as Kong builds it) per evaluation: a memory
//! cap, an instruction and wall-clock budget with the JIT off (hooks fire only in the
//! interpreter), and the prelude (`prelude.lua`) that bounds the C functions whose cost a script
//! controls and builds Kong's environment for the chunk from the profile's lists
//! ([`super::profile`]). User chunks run with that environment, never with the state's globals.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Instant;

use mlua::{ChunkMode, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};

use super::profile::{self, ProfileName};
use super::{SandboxError, HOOK_INTERVAL, INSTRUCTION_LIMIT, MEMORY_LIMIT, TIME_LIMIT};

const PRELUDE: &str = include_str!("prelude.lua");
const TYPEDEFS: &str = include_str!("typedefs.lua");

/// The prelude and the typedefs stand-in, compiled once per process. Only this trusted code is
/// ever loaded as bytecode; user files are always loaded as text.
struct Bytecode {
    prelude: Vec<u8>,
    typedefs: Vec<u8>,
}

fn bytecode() -> Result<&'static Bytecode, SandboxError> {
    static CODE: OnceLock<Result<Bytecode, String>> = OnceLock::new();
    CODE.get_or_init(|| {
        let lua = Lua::new_with(StdLib::NONE, LuaOptions::default()).map_err(|e| e.to_string())?;
        let compile = |source: &str, name: &str| -> Result<Vec<u8>, String> {
            lua.load(source)
                .set_name(name)
                .set_mode(ChunkMode::Text)
                .into_function()
                .map(|f| f.dump(false))
                .map_err(|e| e.to_string())
        };
        Ok(Bytecode {
            prelude: compile(PRELUDE, "=plugsync sandbox prelude")?,
            typedefs: compile(TYPEDEFS, "=kong.db.schema.typedefs")?,
        })
    })
    .as_ref()
    .map_err(|message| SandboxError::Runtime {
        message: format!("cannot compile the sandbox prelude: {message}"),
    })
}

/// The message the hook raises once the budget is spent (also re-raised by the prelude).
const BUDGET_MESSAGE: &str = "plugin sandbox: execution budget exhausted";

/// What the sandbox evaluates a chunk as: Kong's schema or handler environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The schema environment (§2.3) and its 12 modules (§2.6).
    Schema,
    /// The handler environment and `require` list of a profile.
    Handler(ProfileName),
}

impl Mode {
    /// Kong's chunk name at create time (`[string "schema"]:1: …`).
    pub(crate) fn chunk_name(self) -> &'static str {
        match self {
            Mode::Schema => "schema",
            Mode::Handler(_) => "handler",
        }
    }
}

/// Budget bookkeeping shared by the hook and the prelude's callbacks.
#[derive(Debug)]
struct Guard {
    started: Instant,
    instructions: Cell<u64>,
    tripped: Cell<bool>,
    forbidden: RefCell<Option<String>>,
}

/// A prepared sandbox state.
pub(crate) struct Sandbox {
    lua: Lua,
    guard: Rc<Guard>,
    env: Table,
    markers: Table,
    stub_mt: Table,
}

impl Sandbox {
    /// Creates a fresh state for `mode`.
    pub(crate) fn new(mode: Mode, extra_requires: &[String]) -> Result<Sandbox, SandboxError> {
        let code = bytecode()?;
        let lua = Lua::new_with(
            StdLib::STRING
                | StdLib::TABLE
                | StdLib::MATH
                | StdLib::BIT
                | StdLib::JIT
                | StdLib::OS
                | StdLib::PACKAGE,
            LuaOptions::default(),
        )
        .map_err(|e| internal("cannot create the lua state", &e))?;
        lua.set_memory_limit(MEMORY_LIMIT)
            .map_err(|e| internal("cannot set the memory limit", &e))?;

        let guard = Rc::new(Guard {
            started: Instant::now(),
            instructions: Cell::new(0),
            tripped: Cell::new(false),
            forbidden: RefCell::new(None),
        });

        let hook_guard = Rc::clone(&guard);
        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(HOOK_INTERVAL),
            move |_, _| {
                let g = &hook_guard;
                if !g.tripped.get() {
                    let spent = g.instructions.get() + u64::from(HOOK_INTERVAL);
                    g.instructions.set(spent);
                    if spent > INSTRUCTION_LIMIT || g.started.elapsed() > TIME_LIMIT {
                        g.tripped.set(true);
                    }
                }
                if g.tripped.get() {
                    Err(mlua::Error::runtime(BUDGET_MESSAGE))
                } else {
                    Ok(VmState::Continue)
                }
            },
        )
        .map_err(|e| internal("cannot install the budget hook", &e))?;

        let tripped_guard = Rc::clone(&guard);
        let tripped = lua
            .create_function(move |_, ()| Ok(tripped_guard.tripped.get()))
            .map_err(|e| internal("cannot prepare the sandbox", &e))?;
        let forbidden_guard = Rc::clone(&guard);
        let note_forbidden = lua
            .create_function(move |_, name: String| {
                let mut slot = forbidden_guard.forbidden.borrow_mut();
                if slot.is_none() {
                    *slot = Some(name);
                }
                Ok(())
            })
            .map_err(|e| internal("cannot prepare the sandbox", &e))?;
        let compile_typedefs = lua
            .create_function(move |lua, ()| {
                lua.load(&code.typedefs[..])
                    .set_name("=kong.db.schema.typedefs")
                    .set_mode(ChunkMode::Binary)
                    .into_function()
            })
            .map_err(|e| internal("cannot prepare the sandbox", &e))?;

        let (globals, requires, kong_version) = match mode {
            Mode::Schema => (
                profile::schema_globals(),
                profile::schema_requires(),
                profile::DEFAULT_PROFILE.kong_version(),
            ),
            Mode::Handler(name) => {
                let p = name.profile();
                (&p.handler_globals, &p.handler_requires, name.kong_version())
            }
        };
        let prepare = |e: mlua::Error| internal("cannot prepare the sandbox", &e);
        let global_list = lua
            .create_sequence_from(globals.iter().copied())
            .map_err(prepare)?;
        let require_set = lua.create_table().map_err(prepare)?;
        for name in requires
            .iter()
            .copied()
            .chain(extra_requires.iter().map(String::as_str))
        {
            require_set.raw_set(name, true).map_err(prepare)?;
        }
        let (env, markers, stub_mt): (Table, Table, Table) = lua
            .load(&code.prelude[..])
            .set_name("=plugsync sandbox prelude")
            .set_mode(ChunkMode::Binary)
            .call((
                mode.chunk_name(),
                tripped,
                note_forbidden,
                compile_typedefs,
                Value::NULL,
                global_list,
                require_set,
                kong_version,
            ))
            .map_err(prepare)?;

        Ok(Sandbox {
            lua,
            guard,
            env,
            markers,
            stub_mt,
        })
    }

    /// Compiles `source` (text only, never bytecode) under Kong's chunk name for `mode`, runs it
    /// with no arguments in the environment, and returns its first two results.
    pub(crate) fn run(&self, source: &str, mode: Mode) -> Result<(Value, Value), SandboxError> {
        let chunk_name = mode.chunk_name();
        let function = self
            .lua
            .load(source)
            .set_name(chunk_name)
            .set_mode(ChunkMode::Text)
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| self.map_error(e, chunk_name))?;
        function
            .call::<(Value, Value)>(())
            .map_err(|e| self.map_error(e, chunk_name))
    }

    /// The state itself, for layers built on the prepared environment (the PDK stand-in of
    /// `plugsync test`).
    pub(crate) fn lua(&self) -> &Lua {
        &self.lua
    }

    /// The environment user chunks run in.
    pub(crate) fn env(&self) -> &Table {
        &self.env
    }

    /// A Lua function returning whether the budget is spent (trusted layers re-raise after a
    /// protected call once it is, as the prelude does).
    pub(crate) fn tripped_function(&self) -> Result<mlua::Function, SandboxError> {
        let guard = Rc::clone(&self.guard);
        self.lua
            .create_function(move |_, ()| Ok(guard.tripped.get()))
            .map_err(|e| internal("cannot prepare the sandbox", &e))
    }

    /// Whether the instruction or time budget has been spent.
    pub(crate) fn budget_spent(&self) -> bool {
        self.guard.tripped.get()
    }

    /// The builtin name a `custom_validator` marker stands for, if `value` is one.
    pub(crate) fn marker_name(&self, value: &Value) -> Option<String> {
        match value {
            Value::Function(_) => match self.markers.raw_get::<Value>(value.clone()) {
                Ok(Value::String(s)) => Some(s.to_string_lossy()),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether `table` is one of the sandbox's absorbing stubs (`kong.*`, `ngx.*`, required
    /// modules in handlers).
    pub(crate) fn is_stub(&self, table: &Table) -> bool {
        table
            .metatable()
            .is_some_and(|mt| mt.to_pointer() == self.stub_mt.to_pointer())
    }

    /// Turns an mlua error into the sandbox's error, checking the budget and memory first.
    pub(crate) fn map_error(&self, error: mlua::Error, chunk_name: &str) -> SandboxError {
        if self.guard.tripped.get() {
            return SandboxError::Budget;
        }
        match root_cause(&error) {
            mlua::Error::SyntaxError { message, .. } => syntax_error(message, chunk_name),
            mlua::Error::MemoryError(_) => SandboxError::Memory,
            mlua::Error::RuntimeError(message) => {
                let message = strip_traceback(message);
                if message == "not enough memory" || message.ends_with(": not enough memory") {
                    return SandboxError::Memory;
                }
                if let Some(name) = self.guard.forbidden.borrow().as_ref() {
                    let text = format!("require '{name}' not allowed within sandbox");
                    if message.contains(&text) {
                        return SandboxError::ForbiddenModule {
                            name: name.clone(),
                            message,
                        };
                    }
                }
                SandboxError::Runtime { message }
            }
            other => SandboxError::Runtime {
                message: strip_traceback(&other.to_string()),
            },
        }
    }
}

/// The innermost error of a chain of callback errors.
fn root_cause(error: &mlua::Error) -> &mlua::Error {
    match error {
        mlua::Error::CallbackError { cause, .. } => root_cause(cause),
        mlua::Error::WithContext { cause, .. } => root_cause(cause),
        other => other,
    }
}

/// Drops the `stack traceback:` mlua appends to runtime errors.
fn strip_traceback(message: &str) -> String {
    let head = match message.find("\nstack traceback:") {
        Some(i) => &message[..i],
        None => message,
    };
    head.trim().to_string()
}

/// Parses LuaJIT's `[string "name"]:LINE: message` syntax error.
fn syntax_error(message: &str, chunk_name: &str) -> SandboxError {
    let text = strip_traceback(message);
    let prefix = format!("[string \"{chunk_name}\"]:");
    let rest = text.strip_prefix(prefix.as_str()).unwrap_or(&text);
    if let Some((line, msg)) = rest.split_once(':') {
        if let Ok(line) = line.trim().parse::<usize>() {
            return SandboxError::Syntax {
                line,
                message: msg.trim().to_string(),
            };
        }
    }
    SandboxError::Syntax {
        line: 0,
        message: rest.trim().to_string(),
    }
}

fn internal(what: &str, error: &mlua::Error) -> SandboxError {
    SandboxError::Runtime {
        message: format!("{what}: {}", strip_traceback(&error.to_string())),
    }
}
