//! One sandboxed Lua 5.1 state per evaluation: safe libraries only, a memory cap, an instruction
//! and wall-clock budget, and the prelude (`prelude.lua`) that removes the dangerous functions,
//! bounds the C functions whose cost a script controls, and installs `require`, `ngx` and `kong`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Instant;

use mlua::{ChunkMode, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};

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

/// What the sandbox evaluates a chunk as: it decides what `require` resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `require` resolves only `kong.db.schema.typedefs`.
    Schema,
    /// `require` of any module returns an absorbing stub.
    Handler,
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
    markers: Table,
    stub_mt: Table,
}

impl Sandbox {
    /// Creates a fresh state for `mode`.
    pub(crate) fn new(mode: Mode) -> Result<Sandbox, SandboxError> {
        let code = bytecode()?;
        let lua = Lua::new_with(
            StdLib::STRING | StdLib::TABLE | StdLib::MATH,
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

        let mode_name = match mode {
            Mode::Schema => "schema",
            Mode::Handler => "handler",
        };
        let (markers, stub_mt): (Table, Table) = lua
            .load(&code.prelude[..])
            .set_name("=plugsync sandbox prelude")
            .set_mode(ChunkMode::Binary)
            .call((
                mode_name,
                tripped,
                note_forbidden,
                compile_typedefs,
                Value::NULL,
            ))
            .map_err(|e| internal("cannot prepare the sandbox", &e))?;

        Ok(Sandbox {
            lua,
            guard,
            markers,
            stub_mt,
        })
    }

    /// Compiles and runs `source` (text only, never bytecode) and returns its first result.
    pub(crate) fn run(&self, source: &str, chunk_name: &str) -> Result<Value, SandboxError> {
        let function = self
            .lua
            .load(source)
            .set_name(format!("={chunk_name}"))
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|e| self.map_error(e, chunk_name))?;
        function
            .call::<Value>(())
            .map_err(|e| self.map_error(e, chunk_name))
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
    fn map_error(&self, error: mlua::Error, chunk_name: &str) -> SandboxError {
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
                    let text = format!("module '{name}' is not available in the plugin sandbox");
                    if message.contains(&text) {
                        return SandboxError::ForbiddenModule { name: name.clone() };
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

/// Parses Lua's `name:LINE: message` syntax error.
fn syntax_error(message: &str, chunk_name: &str) -> SandboxError {
    let text = strip_traceback(message);
    let rest = text
        .strip_prefix(chunk_name)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or(&text);
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
