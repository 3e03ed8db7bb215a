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

use crate::backend::{Backend, Stats};
use crate::model::{Action, EntityKind, StepKind};
use crate::plan::{order, Plan, Stage, Step};
use crate::state::env::{self, EnvLookup};

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
    pub stage: Stage,
    pub action: Action,
    pub kind: StepKind,
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
    /// Adds the counts of another part of the same apply.
    pub fn add(&mut self, other: &ApplyCounts) {
        self.created += other.created;
        self.updated += other.updated;
        self.migrated += other.migrated;
        self.deleted += other.deleted;
        self.failed += other.failed;
        self.blocked += other.blocked;
    }

    /// `created N, updated N, migrated N, deleted N, failed N, blocked N`.
    pub fn line(&self) -> String {
        format!(
            "created {}, updated {}, migrated {}, deleted {}, failed {}, blocked {}",
            self.created, self.updated, self.migrated, self.deleted, self.failed, self.blocked
        )
    }
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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

    /// The results as Markdown (after the plan in a PR comment or step summary): a banner when
    /// the apply did not complete, the counts, and a table of the steps.
    pub fn markdown(&self) -> String {
        let mut s = String::from("\n### Apply\n\n");
        if !self.ok() {
            s.push_str("> **Error**: the apply did not complete: the steps that failed or were blocked left the rest unchanged. Fix the cause and run again: done steps are not repeated.\n\n");
        }
        s.push_str(&format!("{}\n", self.counts.line()));
        if !self.steps.is_empty() {
            s.push_str("\n| stage | action | kind | name | result | reason |\n|---:|---|---|---|---|---|\n");
            let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
            for r in &self.steps {
                let status = match r.status {
                    StepStatus::Done => "done",
                    StepStatus::Failed => "**failed**",
                    StepStatus::Blocked => "**blocked**",
                };
                s.push_str(&format!(
                    "| {} | {} | {} | `{}` | {status} | {} |\n",
                    r.stage,
                    r.action,
                    r.kind.as_str().replace('_', " "),
                    cell(&r.name),
                    cell(r.reason.as_deref().unwrap_or(""))
                ));
            }
        }
        s
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

/// Validates every resolved instance body against the schema it will run under — the schema
/// of the plan's custom plugin write of that name, else the live plugin's — before anything is
/// written. A template resolved at apply may hold a value that breaks the schema although the
/// value it held at plan time did not. Messages name the step and field, never the value.
/// `evaluate` turns a `schema.lua` source into its schema (`None`: it does not evaluate); the
/// executor runs no Lua itself (`crate::ops::apply` passes the run's schema cache).
pub fn validate_bodies(
    plan: &Plan,
    bodies: &[Option<Value>],
    live: &crate::model::LiveState,
    evaluate: &dyn Fn(&str) -> Option<std::sync::Arc<crate::schema::PluginSchema>>,
) -> Result<(), Vec<String>> {
    use crate::schema::validate;
    let mut schemas: std::collections::HashMap<
        &str,
        Option<std::sync::Arc<crate::schema::PluginSchema>>,
    > = std::collections::HashMap::new();
    let mut errors = Vec::new();
    for (step, body) in plan.steps.iter().zip(bodies) {
        let Some(body) = body.as_ref().filter(|_| step.kind == StepKind::Plugin) else {
            continue;
        };
        let schema = schemas.entry(step.name.as_str()).or_insert_with(|| {
            let text = plan
                .steps
                .iter()
                .filter(|t| t.kind == StepKind::CustomPlugin && t.name == step.name)
                .find_map(|t| t.body.as_ref()?.get("schema")?.as_str().map(str::to_string))
                .or_else(|| live.custom_plugin(&step.name).map(|c| c.schema.clone()))?;
            evaluate(&text)
        });
        // Without a schema there is nothing to check against; the write reports it.
        let Some(schema) = schema.as_ref() else {
            continue;
        };
        let bound: Vec<&str> = ["service", "route", "consumer", "consumer_group"]
            .into_iter()
            .filter(|k| body.get(*k).is_some_and(|v| !v.is_null()))
            .collect();
        let protocols = body.get("protocols").filter(|v| !v.is_null());
        if let Err(errs) = validate::validate_plugin(schema, body.get("config"), protocols, &bound)
        {
            let label = match body.get("instance_name").and_then(Value::as_str) {
                Some(n) => format!("{} ({n})", step.name),
                None => step.name.clone(),
            };
            errors.push(format!(
                "step {} plugin {label}: the config is invalid under the schema of `{}`: {}",
                step.action,
                step.name,
                validate::summary(&errs)
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The indexes of the steps `i` depends on ([`order::depends_on`]).
#[cfg(test)]
fn dependencies(steps: &[Step], i: usize) -> Vec<usize> {
    dependency_lists(steps).swap_remove(i)
}

/// The indexes of the steps each step depends on ([`order::depends_on`]), in order. A step
/// only ever depends on steps about the same plugin (an instance write on its plugin's write,
/// a plugin's delete on the instances that leave it), so candidates are looked up by name
/// instead of comparing every pair: a plan of 50,000 instance writes is not 2.5 billion checks.
fn dependency_lists(steps: &[Step]) -> Vec<Vec<usize>> {
    use std::collections::HashMap;
    let mut plugins: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut instances: HashMap<&str, Vec<usize>> = HashMap::new();
    for (j, s) in steps.iter().enumerate() {
        match s.kind {
            StepKind::CustomPlugin | StepKind::PluginSchema => {
                plugins.entry(s.name.as_str()).or_default().push(j);
            }
            StepKind::Plugin => {
                instances.entry(s.name.as_str()).or_default().push(j);
                if let Some(from) = s.from.as_deref().filter(|f| *f != s.name) {
                    instances.entry(from).or_default().push(j);
                }
            }
            StepKind::Rollout => {}
        }
    }
    steps
        .iter()
        .map(|s| {
            let candidates = match s.kind {
                StepKind::Plugin => plugins.get(s.name.as_str()),
                StepKind::CustomPlugin | StepKind::PluginSchema => instances.get(s.name.as_str()),
                StepKind::Rollout => None,
            };
            let mut found: Vec<usize> = candidates
                .into_iter()
                .flatten()
                .copied()
                .filter(|&j| order::depends_on(s, &steps[j]))
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        })
        .collect()
}

fn run_step(backend: &dyn Backend, step: &Step, body: Option<&Value>) -> Result<(), String> {
    let entity = match step.kind {
        StepKind::CustomPlugin => EntityKind::CustomPlugin,
        StepKind::Plugin => EntityKind::Plugin,
        StepKind::PluginSchema => EntityKind::PluginSchema,
        StepKind::Rollout => {
            return Err("a data-plane rollout is not performed by plugsync".to_string())
        }
    };
    let put = match step.action {
        Action::Create | Action::Update | Action::Migrate => true,
        Action::Delete => false,
        Action::Rollout => {
            return Err(format!(
                "a {} step cannot have the rollout action",
                step.kind
            ))
        }
    };
    if entity == EntityKind::PluginSchema {
        return if put {
            let schema = body
                .and_then(|b| b.get("lua_schema"))
                .and_then(Value::as_str)
                .ok_or_else(|| "the plan step has no lua_schema".to_string())?;
            backend
                .put_plugin_schema(&step.name, schema)
                .map_err(|e| e.to_string())
        } else {
            backend
                .delete_plugin_schema(&step.name)
                .map_err(|e| e.to_string())
        };
    }
    let id = step.id.clone().unwrap_or_else(|| step.name.clone());
    if put {
        let body = body.ok_or_else(|| "the plan step has no body".to_string())?;
        backend
            .put(entity, &id, body)
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else {
        backend.delete(entity, &id).map_err(|e| e.to_string())
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
    let stages: BTreeSet<Stage> = steps.iter().map(|s| s.stage).collect();
    let dependencies = dependency_lists(steps);
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
                    let blocked_by: Vec<String> = dependencies[i]
                        .iter()
                        .filter_map(|&j| {
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
                    let (status, reason) = if let Some(why) = backend.unreachable() {
                        (
                            StepStatus::Blocked,
                            Some(crate::model::mask_secrets(
                                &format!("not attempted: the target is unreachable ({why})"),
                                options.secrets,
                            )),
                        )
                    } else if !blocked_by.is_empty() {
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
                        action: step.action,
                        kind: step.kind,
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
            StepStatus::Done => match r.action {
                Action::Create => counts.created += 1,
                Action::Update => counts.updated += 1,
                Action::Migrate => counts.migrated += 1,
                Action::Delete => counts.deleted += 1,
                Action::Rollout => {}
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

    use crate::backend::Kind;

    fn step(stage: u8, action: &str, kind: &str, name: &str, from: Option<&str>) -> Step {
        Step {
            stage: Stage::try_from(stage).unwrap(),
            action: serde_json::from_value(serde_json::json!(action)).unwrap(),
            kind: serde_json::from_value(serde_json::json!(kind)).unwrap(),
            name: name.into(),
            id: Some(format!("{name}-id")),
            from: from.map(str::to_string),
            body: None,
            rollout: None,
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

    /// The lookup by name finds exactly what comparing every pair finds.
    #[test]
    fn dependency_lists_equal_every_pair_compared() {
        let mut steps = Vec::new();
        for (stage, action, kind) in [
            (1, "create", "custom_plugin"),
            (1, "update", "custom_plugin"),
            (2, "create", "plugin"),
            (2, "update", "plugin"),
            (2, "migrate", "plugin"),
            (3, "delete", "plugin"),
            (4, "delete", "custom_plugin"),
        ] {
            for name in ["a", "b", "a-v2"] {
                let from = (action == "migrate").then_some(if name == "a-v2" { "a" } else { "b" });
                steps.push(step(stage, action, kind, name, from));
            }
        }
        let lists = dependency_lists(&steps);
        for (i, s) in steps.iter().enumerate() {
            let every: Vec<usize> = (0..steps.len())
                .filter(|&j| order::depends_on(s, &steps[j]))
                .collect();
            assert_eq!(lists[i], every, "step {i}");
        }
        assert!(lists.iter().any(|l| l.len() > 1));
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

    /// A backend that records writes and fails the ones whose id is listed.
    struct FakeBackend {
        fail: Vec<String>,
        writes: std::sync::Mutex<Vec<String>>,
    }

    impl Backend for FakeBackend {
        fn info(&self) -> crate::plan::TargetInfo {
            crate::plan::TargetInfo {
                kind: crate::model::TargetKind::Local,
                address: "fake".into(),
                control_plane: "default".into(),
            }
        }
        fn for_each_page(
            &self,
            _: Kind,
            _: Option<&str>,
            _: &mut dyn FnMut(Vec<Value>) -> Result<(), crate::backend::TargetError>,
        ) -> Result<(), crate::backend::TargetError> {
            Ok(())
        }
        fn put(
            &self,
            kind: Kind,
            id: &str,
            _: &Value,
        ) -> Result<Value, crate::backend::TargetError> {
            self.write("PUT", kind, id)
        }
        fn delete(&self, kind: Kind, id: &str) -> Result<(), crate::backend::TargetError> {
            self.write("DELETE", kind, id).map(|_| ())
        }
        fn propagation(
            &self,
        ) -> Result<Option<crate::backend::Propagation>, crate::backend::TargetError> {
            Ok(None)
        }
        fn stats(&self) -> Stats {
            Stats::default()
        }
    }

    impl FakeBackend {
        fn write(
            &self,
            method: &str,
            kind: Kind,
            id: &str,
        ) -> Result<Value, crate::backend::TargetError> {
            self.writes
                .lock()
                .unwrap()
                .push(format!("{method} {} {id}", kind.path()));
            if self.fail.iter().any(|f| f == id) {
                return Err(crate::backend::TargetError::Api {
                    method: method.into(),
                    url: format!("fake:{}/{id}", kind.path()),
                    status: 400,
                    message: "refused with hunter2 inside".into(),
                });
            }
            Ok(Value::Null)
        }
    }

    #[test]
    fn a_failed_migration_blocks_the_old_plugins_delete_and_nothing_else() {
        let mut steps = vec![
            step(1, "create", "custom_plugin", "x-v2", None),
            step(2, "migrate", "plugin", "x-v2", Some("x")),
            step(2, "create", "plugin", "y", None),
            step(4, "delete", "custom_plugin", "x", None),
            step(4, "delete", "custom_plugin", "z", None),
        ];
        steps[1].id = Some("m1".into());
        for s in &mut steps {
            if s.action != Action::Delete {
                s.body = Some(serde_json::json!({}));
            }
        }
        let plan = Plan {
            format_version: 1,
            target: crate::plan::TargetInfo {
                kind: crate::model::TargetKind::Local,
                address: "fake".into(),
                control_plane: "default".into(),
            },
            source: Default::default(),
            fingerprint: String::new(),
            maintenance_window: false,
            summary: Default::default(),
            custom_plugins: Vec::new(),
            plugins: Vec::new(),
            steps,
            select_tags: Vec::new(),
            hybrid_scope: Vec::new(),
        };
        let backend = FakeBackend {
            fail: vec!["m1".into()],
            writes: Default::default(),
        };
        let bodies: Vec<Option<Value>> = plan.steps.iter().map(|s| s.body.clone()).collect();
        let secrets = vec!["hunter2".to_string()];
        let report = apply(
            &backend,
            &plan,
            &bodies,
            &ApplyOptions {
                parallelism: 3,
                secrets: &secrets,
                on_step: &|_, _, _| {},
            },
            Stats::default(),
        );
        let status: Vec<(&str, &StepStatus)> = report
            .steps
            .iter()
            .map(|r| (r.name.as_str(), &r.status))
            .collect();
        assert_eq!(
            status,
            vec![
                ("x-v2", &StepStatus::Done),
                ("x-v2", &StepStatus::Failed),
                ("y", &StepStatus::Done),
                ("x", &StepStatus::Blocked),
                ("z", &StepStatus::Done),
            ]
        );
        assert!(report.steps[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("[masked]"));
        assert!(!report.steps[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("hunter2"));
        assert!(report.steps[3]
            .reason
            .as_deref()
            .unwrap()
            .contains("migrate plugin `x-v2`"));
        assert_eq!(
            report.counts.line(),
            "created 2, updated 0, migrated 0, deleted 1, failed 1, blocked 1"
        );
        let writes = backend.writes.lock().unwrap();
        assert!(
            !writes
                .iter()
                .any(|w| w.ends_with(" x-id") && w.starts_with("DELETE")),
            "{writes:?}"
        );
    }
}
