//! plugsync: a GitOps reconciler for Kong Gateway streamed custom plugins.
//!
//! The pipeline is the layout:
//!
//! ```text
//! state files ──load──▶ DesiredState ──lint──▶ Diagnostics
//! live control plane ──fetch──▶ LiveState
//!                 diff ──▶ classify ──▶ plan ──▶ render | apply
//! ```
//!
//! * [`state`] reads YAML state files into a [`model::DesiredState`].
//! * [`lua`] is the sandbox that evaluates `schema.lua` into a [`schema::PluginSchema`] and loads
//!   `handler.lua`, plus static checks on the Lua AST.
//! * [`schema`] validates instance configs the way Kong does, filling defaults.
//! * [`model`] holds the values the stages pass along, and the plan's vocabulary as closed
//!   enums (entity kind, action, step kind, target kind): a plan file read back is refused on
//!   an unknown word, and a new variant is a compile error wherever it must be handled.
//! * [`plan`] orders the diff into steps by the stage table of `plan::order`, which [`apply`]
//!   runs and blocks by; `plan::file` reads a saved plan back.
//! * [`error`] is how a command fails: [`error::ErrorKind`] (user, config, target, internal
//!   and the report kinds) gives the report's name and the exit code, in one place.

pub mod apply;
pub mod backend;
pub mod cli;
pub mod controlplane;
pub mod diff;
pub mod error;
pub mod git;
pub mod lint;
pub mod lua;
pub mod model;
pub mod pdktest;
pub mod plan;
pub mod render;
pub mod schema;
pub mod server;
pub mod settings;
pub mod state;
pub mod ui;
