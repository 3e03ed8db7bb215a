//! plugsync: a GitOps reconciler for Kong Gateway streamed custom plugins.
//!
//! The pipeline is the layout:
//!
//! ```text
//! state files ──load──▶ DesiredState ──lint──▶ Checked (+ the schemas lint evaluated)
//! live source (control plane | git base) ──fetch──▶ LiveState
//!                 diff ──▶ classify ──▶ plan ──▶ render | apply
//! ```
//!
//! The layers, each using only those below it (no cycle): `cli` → [`ops`] → `lint`, `lua`,
//! `plan`, `diff`, `backend`, `apply`, `git`, `state` → the pure core (`model`, `schema`).
//! `plan` and `diff` run no Lua: they read schemas [`ops`] hands them.
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
//! * [`par`] a slice's items on the machine's cores, results in order (a leaf: validating and
//!   hashing thousands of instances, running test cases).
//!
//! Edges (files, Lua, network, processes):
//!
//! * [`state`] reads the YAML state files (from the working tree or, through [`git`], a
//!   commit) into a [`model::DesiredState`].
//! * [`lua`] the sandbox that evaluates `schema.lua` into a [`schema::PluginSchema`] and loads
//!   `handler.lua`, plus static checks on the Lua AST. Nothing is memoised per process: a run
//!   carries its evaluated schemas in a [`lua::SchemaCache`], so lint's evaluation serves the
//!   plan.
//! * [`luasyntax`] Lua syntax below both [`lua`] and [`schema`]: LuaJIT's own compile (nothing
//!   run) and full_moon's parse, guarded against its panics.
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
//! Operations:
//!
//! * [`ops`] what the commands do, as typed requests in and typed results out, with progress
//!   reported through [`ops::Progress`] (never printed): `check` (load and lint into an
//!   [`ops::Checked`] state), `plan` against an [`ops::plan::LiveSource`] (the control plane,
//!   or for `diff --base` the state at a git revision: `ops::review`), `apply` (through the
//!   data-plane rollouts, `--wait`, saved-plan checks), `dump`, `bundle`, `ping` and `test`.
//!
//! The binary's side:
//!
//! * [`cli`] flags (clap) and dispatch, one file per command in `cli/commands/`: each maps its
//!   flags to an [`ops`] request and prints the result; `cli::run` holds the shared flags,
//!   `connect`, the printer's [`ops::Progress`] (`Reporter`: lines or a progress bar) and the
//!   report and failure output. No domain logic.
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
pub mod luasyntax;
pub mod model;
pub mod ops;
pub mod par;
pub mod pdktest;
pub mod plan;
pub mod render;
pub mod schema;
pub mod server;
pub mod settings;
pub mod state;
pub mod ui;

/// `0.1.0 (commit 1a2b3c4d5e6f, built 2026-12-02)` when built from a git checkout of plugsync,
/// `0.1.0` otherwise (a crates.io build). Set by `build.rs`.
pub fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let commit = env!("PLUGSYNC_GIT_COMMIT");
        let date = env!("PLUGSYNC_BUILD_DATE");
        let mut v = env!("CARGO_PKG_VERSION").to_string();
        match (commit.is_empty(), date.is_empty()) {
            (false, false) => v.push_str(&format!(" (commit {commit}, built {date})")),
            (false, true) => v.push_str(&format!(" (commit {commit})")),
            (true, false) => v.push_str(&format!(" (built {date})")),
            (true, true) => {}
        }
        v
    })
}
