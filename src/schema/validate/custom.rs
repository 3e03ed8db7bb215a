//! A schema's own `custom_validator` and `custom_entity_check` functions.
//!
//! They are Lua, and this module runs no Lua: the Lua layer installs a [`Runner`] once per
//! process (`crate::lua::custom::install`, done by every command and by `plugsync serve`), and
//! validation calls it with the schema's source ([`PluginSchema::custom_source`]), the
//! function's id and the value. Without a runner (a library user that never installs one) the
//! functions are not run, as if the schema had none.
//!
//! [`PluginSchema::custom_source`]: crate::schema::PluginSchema::custom_source

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

/// What a custom function said about a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// It returned a truthy value.
    Pass,
    /// It returned a falsy value, with its message when it gave one.
    Fail(Option<String>),
}

/// Calls function `id` of the schema whose source is given with a value. `Err` when the call
/// could not give a verdict: the function raised an error or spent the sandbox's budget.
pub type Runner = fn(&Arc<str>, u32, &Value) -> Result<Verdict, String>;

/// Calls function `id` (a shorthand's `func`) with a value; its first result as JSON (`None`
/// for `nil`). `Err` as for [`Runner`].
pub type Mapper = fn(&Arc<str>, u32, &Value) -> Result<Option<Value>, String>;

static RUNNER: OnceLock<(Runner, Mapper)> = OnceLock::new();

/// Installs the runner and the mapper (the first call wins; later ones change nothing).
pub fn install(runner: Runner, mapper: Mapper) {
    let _ = RUNNER.set((runner, mapper));
}

thread_local! {
    /// The source of the schema being validated on this thread, while [`Scope`] lives.
    static CURRENT: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Makes a schema's source the one custom functions come from, until dropped (then the one
/// before it is back).
pub(super) struct Scope(Option<Arc<str>>);

impl Scope {
    pub(super) fn enter(source: Option<&Arc<str>>) -> Scope {
        Scope(CURRENT.with(|c| c.replace(source.cloned())))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Runs function `id` of the current schema on `arg`; `None` when there is no runner or no
/// current schema source.
pub(super) fn run(id: u32, arg: &Value) -> Option<Result<Verdict, String>> {
    let (runner, _) = RUNNER.get()?;
    let source = CURRENT.with(|c| c.borrow().clone())?;
    Some(runner(&source, id, arg))
}

/// Calls function `id` of the current schema with `arg` for its result; `None` when there is no
/// runner or no current schema source.
pub(super) fn map(id: u32, arg: &Value) -> Option<Result<Option<Value>, String>> {
    let (_, mapper) = RUNNER.get()?;
    let source = CURRENT.with(|c| c.borrow().clone())?;
    Some(mapper(&source, id, arg))
}
