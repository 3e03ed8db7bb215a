//! Sandboxed LuaJIT states (Lua 5.2 compatibility, as Kong builds it): a memory cap, an
//! instruction and wall-clock budget with the JIT off (hooks fire only in the interpreter), and
//! the prelude (`prelude.lua`) that bounds the C functions whose cost a script controls and
//! builds Kong's environment for the chunk from the profile's lists ([`super::profile`]). User
//! chunks run with that environment, never with the state's globals.
//!
//! The prelude builds the environment once per state, as a template no user code can reach, and
//! each evaluation gets a fresh copy of it (every table copied, fresh protecting metatables, its
//! own `require` and module cache), a fresh budget and a memory cap measured from the prepared
//! state. So a state can serve many evaluations: [`Sandbox::pooled`] keeps prepared states per
//! thread and environment and returns them after each evaluation, unless the budget or the
//! memory was spent or a panic unwound (those states are closed).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Instant;

use mlua::{ChunkMode, Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};

use super::profile::{self, ProfileName};
use super::{SandboxError, HOOK_INTERVAL, INSTRUCTION_LIMIT, MEMORY_LIMIT, TIME_LIMIT, WALL_LIMIT};

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

/// Budget bookkeeping shared by the hook and the prelude's callbacks; reset for each evaluation.
#[derive(Debug)]
struct Guard {
    started: Cell<Instant>,
    /// The thread's CPU clock at the start (`None` where the platform has none: wall clock only).
    started_cpu: Cell<Option<cpu_time::ThreadTime>>,
    instructions: Cell<u64>,
    tripped: Cell<bool>,
    forbidden: RefCell<Option<String>>,
}

impl Guard {
    /// Whether the evaluation has used more than [`TIME_LIMIT`] of this thread's CPU time, or
    /// more than [`WALL_LIMIT`] of wall-clock time. CPU time, not wall time, is the budget: a
    /// lint on a loaded machine (many threads, few cores) must not fail a plugin because its
    /// thread waited for a core.
    fn over_time(&self) -> bool {
        let wall = self.started.get().elapsed();
        let cpu = self
            .started_cpu
            .get()
            .and_then(|t| t.try_elapsed().ok())
            .unwrap_or(wall);
        cpu > TIME_LIMIT || wall > WALL_LIMIT
    }

    fn reset(&self) {
        self.started.set(Instant::now());
        self.started_cpu.set(cpu_time::ThreadTime::try_now().ok());
        self.instructions.set(0);
        self.tripped.set(false);
        self.forbidden.replace(None);
    }
}

/// A LuaJIT state prepared for one environment: the hook and memory cap installed, the prelude
/// run, the environment's template built. Evaluations take fresh copies of the template
/// ([`State::instantiate`]); the template itself is never reachable from user code.
struct State {
    lua: Lua,
    guard: Rc<Guard>,
    /// The prelude's `instantiate`: returns a fresh environment and its marker registry.
    instantiate: Function,
    stub_mt: Table,
    /// Lua memory in use once the state is prepared and collected.
    baseline: usize,
}

/// Which prepared states are interchangeable: the same environment and `require` list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PoolKey {
    mode: Mode,
    extra_requires: Vec<String>,
}

/// How many prepared states a thread keeps (one per environment in use; lint needs two).
const POOL_STATES: usize = 4;

/// Garbage a pooled state may carry into the next evaluation before a full collection.
const GC_SLACK: usize = 1024 * 1024;

#[cfg(test)]
thread_local! {
    static STATES_CREATED: Cell<usize> = const { Cell::new(0) };
}

/// How many states this thread has prepared (tests check that evaluations reuse them).
#[cfg(test)]
pub(crate) fn states_created_on_this_thread() -> usize {
    STATES_CREATED.with(Cell::get)
}

thread_local! {
    /// Prepared states of this thread, between evaluations.
    static POOL: RefCell<Vec<(PoolKey, State)>> = const { RefCell::new(Vec::new()) };
}

/// One evaluation's sandbox: a prepared state and a fresh environment from its template.
pub(crate) struct Sandbox {
    env: Table,
    markers: Table,
    /// Set when the state goes back to this thread's pool after the evaluation.
    pool_key: Option<PoolKey>,
    /// Set when the state must not be reused (memory error, conversion panic).
    spoiled: Cell<bool>,
    /// Always `Some` until dropped; last, so a state that is closed outlives the references
    /// above.
    state: Option<State>,
}

impl State {
    /// Creates and prepares a state for `mode`.
    fn new(mode: Mode, extra_requires: &[String]) -> Result<State, SandboxError> {
        #[cfg(test)]
        STATES_CREATED.with(|n| n.set(n.get() + 1));
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
            started: Cell::new(Instant::now()),
            started_cpu: Cell::new(cpu_time::ThreadTime::try_now().ok()),
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
                    if spent > INSTRUCTION_LIMIT || g.over_time() {
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
        let (instantiate, stub_mt): (Function, Table) = lua
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
        lua.gc_collect().map_err(prepare)?;
        let baseline = lua.used_memory();
        Ok(State {
            lua,
            guard,
            instantiate,
            stub_mt,
            baseline,
        })
    }

    /// Starts an evaluation: a fresh budget, the memory cap measured from the prepared state (so
    /// a reused state allows what a new one would), and a fresh environment.
    fn instantiate(&self) -> Result<(Table, Table), SandboxError> {
        let prepare = |e: mlua::Error| internal("cannot prepare the sandbox", &e);
        self.collect_if_needed().map_err(prepare)?;
        let carried = self.lua.used_memory().saturating_sub(self.baseline);
        self.lua
            .set_memory_limit(MEMORY_LIMIT + carried)
            .map_err(|e| internal("cannot set the memory limit", &e))?;
        self.guard.reset();
        self.instantiate.call::<(Table, Table)>(()).map_err(prepare)
    }

    /// A full collection when earlier evaluations left more than [`GC_SLACK`] of garbage.
    fn collect_if_needed(&self) -> mlua::Result<()> {
        if self.lua.used_memory() > self.baseline + GC_SLACK {
            self.lua.gc_collect()?;
        }
        Ok(())
    }
}

impl Sandbox {
    /// Creates a fresh state for `mode`, used once and never shared: for layers that change the
    /// environment beyond what user code can (the PDK stand-in of `plugsync test`).
    pub(crate) fn new(mode: Mode, extra_requires: &[String]) -> Result<Sandbox, SandboxError> {
        let state = State::new(mode, extra_requires)?;
        let (env, markers) = state.instantiate()?;
        Ok(Sandbox {
            state: Some(state),
            env,
            markers,
            pool_key: None,
            spoiled: Cell::new(false),
        })
    }

    /// A sandbox for one evaluation in `mode`, on a state this thread prepared earlier when it
    /// has one (it goes back to the pool when the sandbox is dropped). The environment is always
    /// a fresh copy of the state's template: nothing one evaluation writes reaches another.
    pub(crate) fn pooled(mode: Mode, extra_requires: &[String]) -> Result<Sandbox, SandboxError> {
        let key = PoolKey {
            mode,
            extra_requires: extra_requires.to_vec(),
        };
        let reused = POOL
            .try_with(|pool| {
                let mut pool = pool.borrow_mut();
                let i = pool.iter().position(|(k, _)| *k == key)?;
                Some(pool.remove(i).1)
            })
            .ok()
            .flatten();
        let state = match reused {
            Some(state) => state,
            None => State::new(mode, extra_requires)?,
        };
        let (env, markers) = state.instantiate()?;
        Ok(Sandbox {
            state: Some(state),
            env,
            markers,
            pool_key: Some(key),
            spoiled: Cell::new(false),
        })
    }

    fn state(&self) -> &State {
        self.state
            .as_ref()
            .expect("a sandbox holds its state until dropped")
    }

    /// Marks the state as not reusable (after a panic while converting its values).
    pub(crate) fn spoil(&self) {
        self.spoiled.set(true);
    }

    /// Compiles `source` (text only, never bytecode) under Kong's chunk name for `mode`, runs it
    /// with no arguments in the environment, and returns its first two results.
    pub(crate) fn run(&self, source: &str, mode: Mode) -> Result<(Value, Value), SandboxError> {
        let chunk_name = mode.chunk_name();
        let function = self
            .state()
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
        &self.state().lua
    }

    /// The environment user chunks run in.
    pub(crate) fn env(&self) -> &Table {
        &self.env
    }

    /// A Lua function returning whether the budget is spent (trusted layers re-raise after a
    /// protected call once it is, as the prelude does).
    pub(crate) fn tripped_function(&self) -> Result<mlua::Function, SandboxError> {
        let guard = Rc::clone(&self.state().guard);
        self.state()
            .lua
            .create_function(move |_, ()| Ok(guard.tripped.get()))
            .map_err(|e| internal("cannot prepare the sandbox", &e))
    }

    /// A fresh instruction and time budget, for a sandbox that runs more than one call (a
    /// schema's custom functions, called once per validated value).
    pub(crate) fn fresh_budget(&self) {
        self.state().guard.reset();
    }

    /// Whether the instruction or time budget has been spent.
    pub(crate) fn budget_spent(&self) -> bool {
        self.state().guard.tripped.get()
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
            .is_some_and(|mt| mt.to_pointer() == self.state().stub_mt.to_pointer())
    }

    /// Turns an mlua error into the sandbox's error, checking the budget and memory first.
    pub(crate) fn map_error(&self, error: mlua::Error, chunk_name: &str) -> SandboxError {
        if self.state().guard.tripped.get() {
            return SandboxError::Budget;
        }
        match root_cause(&error) {
            mlua::Error::SyntaxError { message, .. } => syntax_error(message, chunk_name),
            mlua::Error::MemoryError(_) => {
                self.spoil();
                SandboxError::Memory
            }
            mlua::Error::RuntimeError(message) => {
                let message = strip_traceback(message);
                if message == "not enough memory" || message.ends_with(": not enough memory") {
                    self.spoil();
                    return SandboxError::Memory;
                }
                if let Some(name) = self.state().guard.forbidden.borrow().as_ref() {
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

impl Drop for Sandbox {
    /// Returns a pooled state to this thread's pool unless its budget was spent, it ran out of
    /// memory or a panic is unwinding; any other state is closed.
    fn drop(&mut self) {
        let Some(key) = self.pool_key.take() else {
            return;
        };
        let reusable = self.state.as_ref().is_some_and(|s| !s.guard.tripped.get());
        if !reusable || self.spoiled.get() || std::thread::panicking() {
            return;
        }
        let Some(state) = self.state.take() else {
            return;
        };
        // The evaluation's tables become garbage (the stub metatable stands in, as a reference
        // that keeps nothing else alive), and a state shelved with much of it is collected now.
        drop(std::mem::replace(&mut self.env, state.stub_mt.clone()));
        drop(std::mem::replace(&mut self.markers, state.stub_mt.clone()));
        if state.collect_if_needed().is_err() {
            return;
        }
        let _ = POOL.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() >= POOL_STATES {
                pool.remove(0);
            }
            pool.push((key, state));
        });
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
