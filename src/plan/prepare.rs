//! From a loaded desired state and a fetched live state to a plan: evaluate both sides'
//! schemas in the sandbox, diff, apply the policy. No I/O: the caller loads and fetches.

use std::collections::BTreeMap;

use crate::diff::{self, DiffError, DiffInput};
use crate::lua;
use crate::model::{DesiredState, LiveState};
use crate::schema::PluginSchema;

use super::{build, Plan, PlanError, PlanOptions, SourceInfo, TargetInfo};

/// Why no plan was made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrepareError {
    #[error("the schema of `{plugin}` does not evaluate: {message} (run `plugsync lint`)")]
    Schema { plugin: String, message: String },
    #[error("{}", join(.0))]
    Diff(Vec<DiffError>),
    #[error("{}", join(.0))]
    Plan(Vec<PlanError>),
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Evaluates the schemas of the declared plugins.
pub fn desired_schemas(
    desired: &DesiredState,
) -> Result<BTreeMap<String, PluginSchema>, PrepareError> {
    let mut out = BTreeMap::new();
    for c in &desired.custom_plugins {
        let s = lua::evaluate_schema(&c.schema.text).map_err(|e| PrepareError::Schema {
            plugin: c.name.clone(),
            message: e.to_string(),
        })?;
        out.insert(c.name.clone(), s);
    }
    Ok(out)
}

/// Evaluates the schemas of the live plugins; one that does not evaluate is left out (its
/// changes are then classified `cp_dp_sync`).
pub fn live_schemas(live: &LiveState) -> BTreeMap<String, PluginSchema> {
    live.custom_plugins
        .iter()
        .filter_map(|c| {
            lua::evaluate_schema(&c.schema)
                .ok()
                .map(|s| (c.name.clone(), s))
        })
        .collect()
}

/// Diffs and plans.
pub fn prepare(
    desired: &DesiredState,
    live: &LiveState,
    target: TargetInfo,
    source: SourceInfo,
    options: &PlanOptions,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Plan, PrepareError> {
    let desired_schemas = desired_schemas(desired)?;
    let live_schemas = live_schemas(live);
    let input = DiffInput {
        desired,
        desired_schemas: &desired_schemas,
        live,
        live_schemas: &live_schemas,
        select_tags: &options.select_tags,
    };
    let d = diff::diff(&input, new_id).map_err(PrepareError::Diff)?;
    build(&d, live, &desired.secrets, target, source, options).map_err(PrepareError::Plan)
}
