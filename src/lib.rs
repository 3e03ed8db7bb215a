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
//! # Module map
//!
//! Pure core (values in, values out; unit-tested in memory):
//!
//! * [`model`] the values passed along: [`model::DesiredState`], [`model::LiveState`] (and
//!   its parsers from the API's JSON), content hashes, [`model::Diagnostic`], and the plan's
//!   vocabulary as closed enums (entity kind, action, step kind, target kind): a plan file
//!   read back is refused on an unknown word, and a new variant is a compile error wherever it
//!   must be handled.
//! * [`schema`] Kong's plugin-schema model: config validation with defaults, Lua patterns,
//!   the typedef validators; no Lua, no I/O.
//! * [`diff`] desired against live by content hash, and the classification of each change.
//! * [`plan`] the diff in a safe, staged order: the one serialisable [`plan::Plan`] that
//!   renderers and the executor read (`prepare` builds it from states, `rollout` places the
//!   hybrid-mode steps, `order` is the stage table that [`apply`] runs and blocks by, `file`
//!   reads a saved plan back).
//! * [`render`] a plan as text, JSON or Markdown.
//!
//! Edges (files, Lua, network, processes):
//!
//! * [`state`] reads the YAML state files (from the working tree or, through [`git`], a
//!   commit) into a [`model::DesiredState`].
//! * [`lua`] the sandbox that evaluates `schema.lua` into a [`schema::PluginSchema`] and loads
//!   `handler.lua`, plus static checks on the Lua AST.
//! * [`lint`] every offline check of a state, as diagnostics; its rules are data
//!   (`lint::rules::RULES`).
//! * [`git`] the state as of a commit, and where the working tree's state came from.
//! * [`backend`] the control planes behind one `Backend` trait: Konnect and the Kong Admin API
//!   over HTTP (`backend::http`: the transport with retries, pacing and error messages;
//!   `backend::remote`: paths and paging), and the embedded local one (`backend::local`).
//!   (It was `src/target/`, a name tools that skip cargo's build folder skipped too.)
//! * [`apply`] the executor, the only writer: runs a plan's steps stage by stage.
//! * [`pdktest`] `plugsync test`: runs handlers against sample requests, offline.
//! * [`controlplane`] the local control plane (SQLite), which [`server`] serves over HTTP
//!   (`plugsync serve`) and the embedded backend calls in-process.
//!
//! The binary's side:
//!
//! * [`cli`] flags (clap) and dispatch, one file per command in `cli/commands/`; `cli::run`
//!   holds the steps commands share (load and lint, connect, fetch, plan).
//! * [`settings`] flags and environment to settings: the only reader of the environment.
//! * [`ui`] the printer: data on stdout, everything else on stderr, never a panic on a closed
//!   pipe. The only place that writes to the terminal (`eline!`, `etext!`; Cargo.toml's
//!   `[lints]` deny `print!`/`eprint!` elsewhere).
//! * [`error`] how a command fails: [`error::ErrorKind`] (user, config, target, internal
//!   and the report kinds) gives the report's name and the exit code, in one place.
//!
//! CONTRIBUTING.md has the build, test, snapshot and lint commands.

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
