//! Apply a plan: resolve the templates, check the bodies against their schemas (a saved
//! plan), run the executor stage by stage up to and through the data-plane rollouts, and wait
//! for the data planes.

use std::time::{Duration, Instant};

use crate::apply::{self, ApplyOptions, ApplyReport};
use crate::backend::{self, Backend, Fetched, Propagation};
use crate::error::{CommandError, ErrorKind};
use crate::lua::SchemaCache;
use crate::model::LiveState;
use crate::ops::Progress;
use crate::plan::file::PlanFileError;
use crate::plan::{Plan, Rollout, Step};

/// How to apply.
pub struct ApplyRequest<'a> {
    /// Steps run at once within a stage.
    pub parallelism: usize,
    /// `--wait`: seconds to wait for the data planes (and for each data-plane rollout).
    pub wait: Option<u64>,
    /// Data-plane rollouts done on every node (`--rolled-out`).
    pub rolled_out: &'a [String],
    /// Values to mask in messages.
    pub secrets: &'a [String],
    /// For a saved plan: the live state it was made against; every instance body is checked
    /// against its schema (evaluated through `schemas`) before the first write.
    pub validate_against: Option<&'a LiveState>,
    pub schemas: &'a SchemaCache,
    /// Looks `${{ env "NAME" }}` up.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// The part of a plan to perform now: the steps up to the first data-plane rollout not yet
/// done, and that rollout. A rollout is done when `rolled_out` names it or every node the
/// target reports holds its bundle.
pub fn until_rollout(
    plan: &Plan,
    backend: &dyn Backend,
    rolled_out: &[String],
) -> Result<(Plan, Option<Step>), CommandError> {
    if !plan.steps.iter().any(Step::is_rollout) {
        return Ok((plan.clone(), None));
    }
    let nodes = backend.node_plugins().map_err(|e| {
        CommandError::new(format!("reading the data plane nodes' plugins failed: {e}"))
    })?;
    let done = |r: &Rollout| {
        rolled_out.contains(&r.id) || nodes.as_deref().is_some_and(|n| r.satisfied_by(n))
    };
    let (now, pending) = crate::plan::rollout::split(&plan.steps, &done);
    let mut part = plan.clone();
    part.steps = now.into_iter().cloned().collect();
    Ok((part, pending.cloned()))
}

/// Where an apply that runs up to the data-plane rollouts stopped.
pub enum RolloutStop {
    /// Every step of the plan was applied (or a step failed: see the report).
    Complete,
    /// Before this rollout, not yet done on the nodes: announce it and exit 0.
    Pending(Step),
    /// `--wait` waited for this rollout and it did not happen in time (the error says what
    /// the nodes lack); reported after the apply's result.
    WaitFailed(CommandError),
}

/// What an apply did.
pub struct Applied<'a> {
    /// The steps applied, as a plan (the plan given, when it holds no rollout).
    pub plan: std::borrow::Cow<'a, Plan>,
    /// One report for all of them.
    pub report: ApplyReport,
    /// Where it stopped.
    pub stop: RolloutStop,
}

/// Applies `plan` up to the first data-plane rollout not yet done. With `wait` on a target
/// that reports the plugins installed on its nodes, waits (up to `wait` seconds per rollout)
/// for every node to hold the rollout's bundle and goes on with the steps after it, so one run
/// does a whole hybrid-mode upgrade while the operator rolls out.
pub fn apply_through_rollouts<'a>(
    backend: &dyn Backend,
    plan: &'a Plan,
    request: &ApplyRequest<'_>,
    progress: &dyn Progress,
) -> Result<Applied<'a>, CommandError> {
    // Without a rollout the whole plan is one part: applied as it is, not copied.
    if !plan.steps.iter().any(Step::is_rollout) {
        return Ok(Applied {
            report: apply_plan(backend, plan, request, progress)?,
            plan: std::borrow::Cow::Borrowed(plan),
            stop: RolloutStop::Complete,
        });
    }
    let mut rest = plan.clone();
    let mut applied = plan.clone();
    applied.steps.clear();
    let mut report: Option<ApplyReport> = None;
    loop {
        let (now, rollout) = until_rollout(&rest, backend, request.rolled_out)?;
        let part = apply_plan(backend, &now, request, progress)?;
        applied.steps.extend(now.steps.iter().cloned());
        let ok = part.ok();
        report = Some(match report.take() {
            None => part,
            Some(mut all) => {
                all.counts.add(&part.counts);
                all.steps.extend(part.steps);
                // Requests are counted over the whole run: the last part has them all.
                all.requests = part.requests;
                all.retries = part.retries;
                all
            }
        });
        let done = |stop| {
            Ok(Applied {
                plan: std::borrow::Cow::Owned(applied.clone()),
                report: report.clone().unwrap_or_default(),
                stop,
            })
        };
        let Some(step) = rollout.filter(|_| ok) else {
            return done(RolloutStop::Complete);
        };
        let (Some(secs), Some(r)) = (request.wait, step.rollout.as_ref()) else {
            return done(RolloutStop::Pending(step));
        };
        match wait_for_rollout(backend, r, Duration::from_secs(secs), progress) {
            Ok(true) => {}
            Ok(false) => {
                progress.status(
                    "--wait cannot wait for a data-plane rollout here: the target does not report the plugins installed on its nodes",
                );
                return done(RolloutStop::Pending(step));
            }
            Err(e) => return done(RolloutStop::WaitFailed(e)),
        }
        let at = rest.steps.iter().position(|s| *s == step).unwrap_or(0);
        rest.steps.drain(..=at);
    }
}

/// Waits until every node the target reports holds rollout `r`'s bundle. `Ok(false)` when the
/// target does not report its nodes' plugins; an error naming what each node lacks on timeout.
fn wait_for_rollout(
    backend: &dyn Backend,
    r: &Rollout,
    timeout: Duration,
    progress: &dyn Progress,
) -> Result<bool, CommandError> {
    let deadline = Instant::now() + timeout;
    progress.status(&format!(
        "waiting up to {}s for the data-plane rollout `{}` ({}) on every node…",
        timeout.as_secs(),
        r.phase,
        r.describe()
    ));
    loop {
        let nodes = backend.node_plugins().map_err(|e| {
            CommandError::new(format!("reading the data plane nodes' plugins failed: {e}"))
        })?;
        let Some(nodes) = nodes else {
            return Ok(false);
        };
        if r.satisfied_by(&nodes) {
            progress.status(&format!(
                "data-plane rollout `{}` done on every node",
                r.phase
            ));
            return Ok(true);
        }
        if Instant::now() >= deadline {
            let behind = r.shortfall(&nodes).join("; ");
            return Err(CommandError::new(format!(
                "the data-plane rollout `{}` was not done in {}s: {}",
                r.phase,
                timeout.as_secs(),
                if behind.is_empty() {
                    "no data plane node is connected".to_string()
                } else {
                    behind
                }
            ))
            .with_kind(ErrorKind::Wait)
            .with_hint(format!(
                "roll out {} ({}), then run the command again",
                r.describe(),
                r.command
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Applies a plan, reporting each step through `progress`. With `validate_against` (a saved
/// plan: its templates were resolved again), every instance config is checked against its
/// schema before the first write.
pub fn apply_plan(
    backend: &dyn Backend,
    plan: &Plan,
    request: &ApplyRequest<'_>,
    progress: &dyn Progress,
) -> Result<ApplyReport, CommandError> {
    let (bodies, found) = apply::resolve_bodies(plan, request.env)
        .map_err(|e| CommandError::new(format!("nothing was applied: {e}")))?;
    let mut secrets = request.secrets.to_vec();
    secrets.extend(found);
    if let Some(live) = request.validate_against {
        let evaluate = |text: &str| request.schemas.evaluate(text).ok();
        apply::validate_bodies(plan, &bodies, live, &evaluate).map_err(|errors| {
            CommandError::new(crate::model::mask_secrets(
                &format!(
                    "nothing was applied: the values resolved now break the schema\n{}",
                    errors.join("\n")
                ),
                &secrets,
            ))
            .with_hint(
                "fix the environment values (or the state, then make a new plan) and apply again",
            )
        })?;
    }
    progress.apply_started(plan.steps.len());
    let on_step = |r: &apply::StepResult, n: usize, total: usize| progress.step_done(r, n, total);
    // The report counts every request of the run, the fetches before the apply included
    // (`ApplyReport::requests`): retries while reading the live state are retries too.
    let before = backend::Stats::default();
    let report = apply::apply(
        backend,
        plan,
        &bodies,
        &ApplyOptions {
            parallelism: request.parallelism,
            secrets: &secrets,
            on_step: &on_step,
        },
        before,
    );
    progress.apply_finished();
    Ok(report)
}

/// With `wait`: checks, before anything is written, that the target reports data plane
/// status, and returns what the nodes report now (the baseline where the target has no
/// expected hash). Without: nothing.
pub fn wait_baseline(
    backend: &dyn Backend,
    wait: Option<u64>,
) -> Result<Option<Propagation>, CommandError> {
    if wait.is_none() {
        return Ok(None);
    }
    match backend.propagation() {
        Ok(Some(p)) => Ok(Some(p)),
        Ok(None) => Err(CommandError::new(
            "--wait: this target reports no data plane status (a Kong Admin API without /clustering/data-planes, i.e. not a hybrid-mode control plane); nothing was written",
        )
        .with_hint("drop --wait, or point --kong-addr at the hybrid-mode control plane")
        .with_kind(ErrorKind::Target)),
        Err(e) => Err(CommandError::of_kind(
            ErrorKind::Target,
            format!("--wait: cannot read the data plane status: {e}; nothing was written"),
        )),
    }
}

/// Waits for the data planes when `wait` is given; a timeout is an error that names the
/// nodes behind and the reasons they report. `baseline` is what [`wait_baseline`] returned
/// (pass `None` for it when nothing was written).
pub fn wait(
    backend: &dyn Backend,
    wait: Option<u64>,
    baseline: Option<&Propagation>,
    progress: &dyn Progress,
) -> Result<(), CommandError> {
    if let Some(secs) = wait {
        progress.status(&format!(
            "waiting up to {secs}s for data plane nodes to take the new configuration…"
        ));
        let p = backend::wait_for_propagation(backend, Duration::from_secs(secs), baseline)
            .map_err(|e| {
                CommandError::of_kind(ErrorKind::Wait, format!("the changes were applied, but {e}"))
                    .with_hint("fix what the nodes report (a rejected configuration keeps the node on its last good one), then run again")
            })?;
        let hash = p
            .nodes
            .first()
            .and_then(|(_, h)| h.clone())
            .unwrap_or_default();
        progress.status(&format!(
            "all {} data plane node(s) report config hash {hash}",
            p.nodes.len()
        ));
    }
    Ok(())
}

/// Reads a plan file written by `plugsync plan --out`.
pub fn read_saved(path: &std::path::Path) -> Result<Plan, CommandError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CommandError::io("read the plan", path, e))?;
    crate::plan::file::parse(&text).map_err(|e| match e {
        PlanFileError::Invalid(why) => {
            CommandError::new(format!("{} is not a plugsync plan: {why}", path.display()))
        }
        PlanFileError::Version(_) => CommandError::new(e.to_string()),
    })
}

/// Checks a saved plan against the target before anything is written: the same target, and
/// a live state unchanged since the plan was made. Returns the live state in the plan's scope.
pub fn check_saved(
    plan: &Plan,
    backend: &dyn Backend,
    secrets: &[String],
) -> Result<Fetched, CommandError> {
    let info = backend.info();
    if info.kind != plan.target.kind || info.control_plane != plan.target.control_plane {
        return Err(CommandError::new(format!(
            "the plan was made for {} control plane \"{}\" but the target is {} control plane \"{}\"",
            plan.target.kind, plan.target.control_plane, info.kind, info.control_plane
        ))
        .with_hint("pass the same target flags as when the plan was made"));
    }
    let fetched = backend::fetch_with_hybrid(backend, &plan.select_tags, None, &plan.hybrid_scope)
        .map_err(|e| {
            CommandError::new(crate::model::mask_secrets(
                &format!("reading the control plane failed: {e}"),
                secrets,
            ))
        })?;
    let now = crate::model::hash::fingerprint(&fetched.live);
    if now != plan.fingerprint {
        return Err(CommandError::of_kind(
            ErrorKind::StalePlan,
            format!(
                "the plan is stale: the control plane changed since it was made ({} now, {} in the plan); nothing was written",
                now, plan.fingerprint
            ),
        )
        .with_hint("make a new plan with `plugsync plan --out FILE` and review it"));
    }
    Ok(fetched)
}
