//! From a loaded desired state, a fetched live state and both sides' evaluated schemas to a
//! plan: diff, apply the policy. No I/O and no Lua: the caller loads, fetches and evaluates.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::diff::{self, DiffError, DiffInput};
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

/// The evaluated schemas a plan reads, by plugin name. The planner evaluates nothing: the
/// caller (`crate::ops`) fills this from the schemas lint already evaluated, and evaluates
/// only the live ones whose source differs from every declared one.
#[derive(Debug, Clone, Default)]
pub struct Schemas {
    /// Each declared custom plugin's schema, or why it does not evaluate.
    pub desired: BTreeMap<String, Result<Arc<PluginSchema>, String>>,
    /// Each live custom plugin's schema; one that does not evaluate is left out (its changes
    /// are then classified `cp_dp_sync`).
    pub live: BTreeMap<String, Arc<PluginSchema>>,
}

/// The declared plugins' schemas, or the first one (in declaration order) that does not
/// evaluate.
fn desired_schemas(
    desired: &DesiredState,
    schemas: &Schemas,
) -> Result<BTreeMap<String, Arc<PluginSchema>>, PrepareError> {
    let mut out = BTreeMap::new();
    for c in &desired.custom_plugins {
        match schemas.desired.get(&c.name) {
            Some(Ok(s)) => {
                out.insert(c.name.clone(), s.clone());
            }
            Some(Err(message)) => {
                return Err(PrepareError::Schema {
                    plugin: c.name.clone(),
                    message: message.clone(),
                })
            }
            None => {
                return Err(PrepareError::Schema {
                    plugin: c.name.clone(),
                    message: "it was not evaluated".to_string(),
                })
            }
        }
    }
    Ok(out)
}

/// Diffs and plans.
pub fn prepare(
    desired: &DesiredState,
    live: &LiveState,
    schemas: &Schemas,
    target: TargetInfo,
    source: SourceInfo,
    options: &PlanOptions,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Plan, PrepareError> {
    let desired_schemas = desired_schemas(desired, schemas)?;
    let input = DiffInput {
        desired,
        desired_schemas: &desired_schemas,
        live,
        live_schemas: &schemas.live,
        select_tags: &options.select_tags,
    };
    let d = diff::diff(&input, new_id).map_err(PrepareError::Diff)?;
    let plan =
        build(&d, live, &desired.secrets, target, source, options).map_err(PrepareError::Plan)?;
    Ok(protect(plan, &desired.secret_vars))
}

/// Keeps every substituted value out of the plan, wherever it was written (`config`, and also
/// `instance_name`, `tags`, `condition`, `service`, custom plugin tags): the rendered parts are
/// masked, and the step bodies — what a plan file stores and `apply` sends — hold the template
/// `${{ env "NAME" }}` again in place of the value, resolved anew at apply. (`config` already
/// holds its templates as written.)
pub fn protect(mut plan: Plan, secret_vars: &[(String, String)]) -> Plan {
    let mut vars: Vec<&(String, String)> =
        secret_vars.iter().filter(|(_, v)| !v.is_empty()).collect();
    if vars.is_empty() {
        return plan;
    }
    vars.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    let values: Vec<String> = vars.iter().map(|(_, v)| v.clone()).collect();
    let mask = |s: &mut String| *s = crate::model::mask_secrets(s, &values);
    let mask_all = |v: &mut Vec<String>| v.iter_mut().for_each(mask);
    // Names cannot hold templates (the loader refuses them), so they are left as they are.
    for c in &mut plan.custom_plugins {
        if let Some((old, new)) = &mut c.detail.tags {
            mask_all(old);
            mask_all(new);
        }
        for (old, new) in [&mut c.detail.handler, &mut c.detail.schema]
            .into_iter()
            .flatten()
        {
            mask(old);
            mask(new);
        }
    }
    for p in &mut plan.plugins {
        p.instance_name.iter_mut().for_each(mask);
        p.scope.values_mut().for_each(mask);
        for c in &mut p.changes {
            for v in [&mut c.old, &mut c.new].into_iter().flatten() {
                *v = crate::model::mask::mask_value(v, &values);
            }
        }
    }
    let template = |s: &str| {
        let mut out = s.to_string();
        for (name, value) in &vars {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), &format!("${{{{ env \"{name}\" }}}}"));
            }
        }
        out
    };
    for step in &mut plan.steps {
        let Some(Value::Object(body)) = &mut step.body else {
            continue;
        };
        for key in TEMPLATED_OUTSIDE_CONFIG {
            if let Some(v) = body.get_mut(*key) {
                walk(v, &template);
            }
        }
    }
    plan
}

/// The body fields besides `config` that a state file can fill from `${{ env }}`.
const TEMPLATED_OUTSIDE_CONFIG: &[&str] = &["instance_name", "condition", "tags", "ordering"];

/// Rewrites every string of `v` with `f`.
fn walk(v: &mut Value, f: &dyn Fn(&str) -> String) {
    match v {
        Value::String(s) => *s = f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f)),
        Value::Object(m) => m.values_mut().for_each(|x| walk(x, f)),
        _ => {}
    }
}
