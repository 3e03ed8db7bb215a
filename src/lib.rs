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
