//! The executor: the only writer. Runs a plan's steps stage by stage, up to `--parallelism`
//! at once within a stage; a failed step blocks the steps that depend on it (an old plugin is
//! never deleted while one of its instance migrations failed) while independent steps go on.
//! Retries happen in the transport; every create is a PUT of a client-made id, so a retried
//! request cannot duplicate an entity.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

use crate::plan::{Plan, Step};
use crate::state::env::{self, EnvLookup};
use crate::target::{Backend, Kind, Stats};

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Done,
    Failed,
    Blocked,
}

/// The outcome of one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    pub stage: u8,
    pub action: String,
    pub kind: String,
    pub name: String,
    pub id: Option<String>,
    pub status: StepStatus,
    /// Why it failed or was blocked (secrets masked).
    pub reason: Option<String>,
}

/// Counts for the final summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApplyCounts {
    pub created: usize,
    pub updated: usize,
    pub migrated: usize,
    pub deleted: usize,
    pub failed: usize,
    pub blocked: usize,
}

impl ApplyCounts {
    /// `created N, updated N, migrated N, deleted N, failed N, blocked N`.
    pub fn line(&self) -> String {
        format!(
            "created {}, updated {}, migrated {}, deleted {}, failed {}, blocked {}",
            self.created, self.updated, self.migrated, self.deleted, self.failed, self.blocked
        )
    }
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplyReport {
    pub steps: Vec<StepResult>,
    pub counts: ApplyCounts,
    /// Requests sent and retried (all of the run, fetches included).
    pub requests: u64,
    pub retries: u64,
}

impl ApplyReport {
    /// Whether every step was done.
    pub fn ok(&self) -> bool {
        self.counts.failed == 0 && self.counts.blocked == 0
    }
}

/// Options of an apply.
pub struct ApplyOptions<'a> {
    pub parallelism: usize,
    /// Values to mask in messages.
    pub secrets: &'a [String],
    /// Called after each step (progress output).
    pub on_step: &'a (dyn Fn(&StepResult, usize, usize) + Sync),
}

/// Substitutes `${{ env … }}` templates in every string of a body.
fn resolve(v: &Value, env: EnvLookup<'_>, secrets: &mut Vec<String>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) if env::has_template(s) => {
            let (out, found) = env::substitute(s, env)?;
            secrets.extend(found);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| resolve(x, env, secrets))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), resolve(x, env, secrets)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Resolves the templates of every step body before anything is written: a missing variable
/// stops the apply while nothing has changed. Returns the bodies and the secrets found.
pub fn resolve_bodies(
    plan: &Plan,
    env: EnvLookup<'_>,
) -> Result<(Vec<Option<Value>>, Vec<String>), String> {
    let mut secrets = Vec::new();
    let bodies = plan
        .steps
        .iter()
        .map(|s| {
            s.body
                .as_ref()
                .map(|b| resolve(b, env, &mut secrets))
                .transpose()
                .map_err(|e| format!("step {} {} `{}`: {e}", s.action, s.kind, s.name))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((bodies, secrets))
}

/// The indexes of the steps `i` depends on.
fn dependencies(steps: &[Step], i: usize) -> Vec<usize> {
    let s = &steps[i];
    let mut deps = Vec::new();
    for (j, t) in steps.iter().enumerate() {
        if t.stage >= s.stage {
            continue;
        }
        let depends = match (s.kind.as_str(), s.stage) {
            // Instance writes need their plugin's create or update.
            ("plugin", 2) => t.kind == "custom_plugin" && t.name == s.name,
            // A plugin is deleted only after every instance left it.
            ("custom_plugin", 4) => {
                t.kind == "plugin"
                    && ((t.stage == 2 && t.from.as_deref() == Some(s.name.as_str()))
                        || (t.stage == 3 && t.name == s.name))
            }
            _ => false,
        };
        if depends {
            deps.push(j);
        }
    }
    deps
}

fn kind_of(step: &Step) -> Kind {
    if step.kind == "custom_plugin" {
        Kind::CustomPlugin
    } else {
        Kind::Plugin
    }
}

fn run_step(backend: &dyn Backend, step: &Step, body: Option<&Value>) -> Result<(), String> {
    let kind = kind_of(step);
    let id = step.id.clone().unwrap_or_else(|| step.name.clone());
    match step.action.as_str() {
        "delete" => backend.delete(kind, &id).map_err(|e| e.to_string()),
        _ => {
            let body = body.ok_or_else(|| "the plan step has no body".to_string())?;
            backend
                .put(kind, &id, body)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
}

/// Applies the plan's steps. `bodies` come from [`resolve_bodies`].
pub fn apply(
    backend: &dyn Backend,
    plan: &Plan,
    bodies: &[Option<Value>],
    options: &ApplyOptions<'_>,
    stats_before: Stats,
) -> ApplyReport {
    let steps = &plan.steps;
    let results: Vec<Mutex<Option<StepResult>>> = steps.iter().map(|_| Mutex::new(None)).collect();
    let done_count = AtomicUsize::new(0);
    let stages: BTreeSet<u8> = steps.iter().map(|s| s.stage).collect();
    for stage in stages {
        let todo: Vec<usize> = (0..steps.len())
            .filter(|i| steps[*i].stage == stage)
            .collect();
        let next = AtomicUsize::new(0);
        let workers = options.parallelism.max(1).min(todo.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&i) = todo.get(k) else { break };
                    let step = &steps[i];
                    let blocked_by: Vec<String> = dependencies(steps, i)
                        .into_iter()
                        .filter_map(|j| {
                            let r = results[j].lock().unwrap_or_else(|e| e.into_inner());
                            match r.as_ref().map(|r| &r.status) {
                                Some(StepStatus::Done) => None,
                                _ => Some(format!(
                                    "{} {} `{}`",
                                    steps[j].action, steps[j].kind, steps[j].name
                                )),
                            }
                        })
                        .collect();
                    let (status, reason) = if !blocked_by.is_empty() {
                        (
                            StepStatus::Blocked,
                            Some(format!(
                                "blocked: depends on {} which did not succeed",
                                blocked_by.join(", ")
                            )),
                        )
                    } else {
                        match run_step(backend, step, bodies.get(i).and_then(Option::as_ref)) {
                            Ok(()) => (StepStatus::Done, None),
                            Err(e) => (
                                StepStatus::Failed,
                                Some(crate::model::mask_secrets(&e, options.secrets)),
                            ),
                        }
                    };
                    let result = StepResult {
                        stage: step.stage,
                        action: step.action.clone(),
                        kind: step.kind.clone(),
                        name: step.name.clone(),
                        id: step.id.clone(),
                        status,
                        reason,
                    };
                    let n = done_count.fetch_add(1, Ordering::SeqCst) + 1;
                    (options.on_step)(&result, n, steps.len());
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                });
            }
        });
    }
    let steps: Vec<StepResult> = results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every step has a result")
        })
        .collect();
    let mut counts = ApplyCounts::default();
    for r in &steps {
        match r.status {
            StepStatus::Failed => counts.failed += 1,
            StepStatus::Blocked => counts.blocked += 1,
            StepStatus::Done => match r.action.as_str() {
                "create" => counts.created += 1,
                "update" => counts.updated += 1,
                "migrate" => counts.migrated += 1,
                "delete" => counts.deleted += 1,
                _ => {}
            },
        }
    }
    let stats = backend.stats();
    ApplyReport {
        steps,
        counts,
        requests: stats.requests.saturating_sub(stats_before.requests),
        retries: stats.retries.saturating_sub(stats_before.retries),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(stage: u8, action: &str, kind: &str, name: &str, from: Option<&str>) -> Step {
        Step {
            stage,
            action: action.into(),
            kind: kind.into(),
            name: name.into(),
            id: Some(format!("{name}-id")),
            from: from.map(str::to_string),
            body: None,
        }
    }

    #[test]
    fn dependencies_follow_the_plan_policy() {
        let steps = vec![
            step(1, "create", "custom_plugin", "x-v2", None),
            step(2, "migrate", "plugin", "x-v2", Some("x")),
            step(2, "create", "plugin", "y", None),
            step(3, "delete", "plugin", "x", None),
            step(4, "delete", "custom_plugin", "x", None),
            step(4, "delete", "custom_plugin", "z", None),
        ];
        assert_eq!(dependencies(&steps, 0), Vec::<usize>::new());
        assert_eq!(dependencies(&steps, 1), vec![0]);
        assert_eq!(dependencies(&steps, 2), Vec::<usize>::new());
        assert_eq!(dependencies(&steps, 4), vec![1, 3]);
        assert_eq!(dependencies(&steps, 5), Vec::<usize>::new());
    }

    #[test]
    fn templates_resolve_at_apply_and_become_secrets() {
        let env = |n: &str| (n == "PLUGSYNC_T").then(|| "tok".to_string());
        let mut secrets = Vec::new();
        let v = resolve(
            &serde_json::json!({"config": {"k": "Bearer ${{ env \"PLUGSYNC_T\" }}", "n": 1}}),
            &env,
            &mut secrets,
        )
        .unwrap();
        assert_eq!(v["config"]["k"], "Bearer tok");
        assert_eq!(secrets, vec!["tok"]);
        let err = resolve(
            &serde_json::json!("${{ env \"PLUGSYNC_NONE\" }}"),
            &env,
            &mut secrets,
        )
        .unwrap_err();
        assert!(err.contains("PLUGSYNC_NONE"));
    }
}
