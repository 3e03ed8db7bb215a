//! The operations: what the commands do, as functions from typed requests to typed results.
//!
//! Each operation runs one part of the pipeline with no knowledge of flags or terminals:
//!
//! * [`check`] loads a state and lints it into a [`Checked`] state, which carries the
//!   schemas lint evaluated ([`crate::lua::SchemaCache`]): the plan reads them from there, so a
//!   schema is evaluated once per run.
//! * [`plan`] plans a checked state against a [`plan::LiveSource`]: the control plane
//!   ([`plan::ControlPlane`]) or, for `diff --base`, the state at a git revision
//!   ([`review::GitBase`]). It evaluates only the live schemas whose bytes differ from the
//!   declared ones, and hands the planner ([`crate::plan`]) schemas, never Lua.
//! * [`apply`] runs a plan through the executor, up to and through data-plane rollouts, and
//!   waits for the data planes; it also checks a saved plan against the target.
//! * [`review`] the offline review `diff --base REF [--head REF]`.
//! * [`dump`] the live state as state files; [`bundle`] the hybrid-mode plugins' files for the
//!   data planes; [`ping`] the target's reachability, read permissions and Kong version;
//!   [`test`] the handlers against sample requests (`plugsync test`).
//!
//! They report what happens through [`Progress`] (the CLI prints it; tests record it) and fail
//! with a [`CommandError`](crate::error::CommandError). Layering: `ops` may use everything
//! below it (`lint`, `lua`, `plan`, `diff`, `backend`, `apply`, `git`, `state`); only `cli`
//! uses `ops`.

pub mod apply;
pub mod bundle;
pub mod check;
pub mod dump;
pub mod ping;
pub mod plan;
mod progress;
pub mod review;
pub mod test;

#[cfg(test)]
mod tests;

pub use check::Checked;
pub use progress::{Progress, Recording};
