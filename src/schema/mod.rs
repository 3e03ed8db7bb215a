//! Kong's plugin-schema model and what works on it: config validation with defaults filling
//! (`validate`), Lua patterns (`lua_pattern`), the typedef validators done natively
//! (`builtins`), regexes compiled with PCRE2 as Kong compiles them (`regex`) and Kong's protocol
//! names (`protocols`). Pure: no Lua, no I/O.

pub mod builtins;
pub mod classify;
pub mod lua_pattern;
pub mod model;
pub mod ordering;
pub mod protocols;
pub mod regex;
pub mod validate;

pub use model::{
    Builtin, EntityCheck, Field, FieldType, FieldValidators, PluginSchema, Shorthand, Validators,
};
