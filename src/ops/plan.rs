//! Plan a checked state against a live source: fetch (or build) the live state, look the
//! schemas up (evaluating only live ones lint did not see), diff and apply the policy.

use crate::backend::{self, Backend, Fetched};
use crate::error::CommandError;
use crate::lint::LintOptions;
use crate::lua::SchemaCache;
use crate::model::{DesiredState, LiveState, SourceInfo, TargetInfo};
use crate::ops::{check, Checked, Progress};
use crate::plan::prepare::{self, PrepareError, Schemas};
use crate::plan::{Plan, PlanOptions};

/// The policy flags of a plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanRequest {
    /// Allow a `long` or `cp_dp_sync` schema change in place (a maintenance window).
    pub allow_in_place: bool,
    /// Allow an empty state to delete everything in scope.
    pub allow_empty: bool,
}

/// What a plan is made against: the live side.
pub trait LiveSource {
    /// What the plan names as its target.
    fn target(&self) -> TargetInfo;
    /// The live state in scope of `checked`'s select tags (and the instances outside it).
    /// Schemas it needs are evaluated through `checked.schemas`.
    fn read(&self, checked: &Checked) -> Result<Fetched, CommandError>;
    /// Ids for the entities the plan creates.
    fn new_ids(&self) -> Box<dyn FnMut() -> String>;
    /// How a refused plan is reported.
    fn plan_error(&self, e: PrepareError, checked: &Checked) -> CommandError;
}

/// A control plane, read through its backend.
pub struct ControlPlane<'a> {
    pub backend: &'a dyn Backend,
    /// Values to mask in messages (tokens, the state's secrets).
    pub secrets: &'a [String],
    /// Its plugins, when they were read already ([`read_plugins`], while the state loaded):
    /// the read completes from there instead of starting over. Taken by the first read. A
    /// failure is kept as it came, to be masked with the state's secrets too.
    pub plugins: std::sync::Mutex<Option<Result<LiveState, backend::TargetError>>>,
}

impl<'a> ControlPlane<'a> {
    /// A control plane read from the start.
    pub fn new(backend: &'a dyn Backend, secrets: &'a [String]) -> ControlPlane<'a> {
        ControlPlane {
            backend,
            secrets,
            plugins: std::sync::Mutex::new(None),
        }
    }

    /// A control plane whose plugins were read already (see [`read_plugins`]).
    pub fn with_plugins(
        self,
        plugins: Result<LiveState, backend::TargetError>,
    ) -> ControlPlane<'a> {
        ControlPlane {
            plugins: std::sync::Mutex::new(Some(plugins)),
            ..self
        }
    }
}

/// The plugins part of a read of the control plane ([`backend::read_plugins`]), which needs
/// no state: a command starts it while the state loads and lints, and hands the result to
/// [`ControlPlane::with_plugins`] (which reports a failure, masked with the state's secrets).
pub fn read_plugins(backend: &dyn Backend) -> Result<LiveState, backend::TargetError> {
    backend::read_plugins(backend)
}

fn read_error(backend: &dyn Backend, e: backend::TargetError, secrets: &[String]) -> CommandError {
    let hint = backend::auth_hint(backend.info().kind, e.status());
    CommandError::from(e)
        .context("reading the control plane failed")
        .masked(secrets)
        .with_hint_opt(hint)
}

impl LiveSource for ControlPlane<'_> {
    fn target(&self) -> TargetInfo {
        self.backend.info()
    }

    fn read(&self, checked: &Checked) -> Result<Fetched, CommandError> {
        let early = self.plugins.lock().ok().and_then(|mut p| p.take());
        let fetched = match early {
            Some(plugins) => plugins
                .and_then(|plugins| {
                    backend::finish_fetch(
                        self.backend,
                        plugins,
                        &checked.select_tags,
                        Some(&checked.state),
                        &[],
                    )
                })
                .map_err(|e| read_error(self.backend, e, self.secrets))?,
            None => fetch(
                self.backend,
                &checked.select_tags,
                Some(&checked.state),
                self.secrets,
            )?,
        };
        let hybrid: Vec<&str> = checked
            .state
            .custom_plugins
            .iter()
            .filter(|c| !c.streamed)
            .map(|c| c.name.as_str())
            .collect();
        if !hybrid.is_empty() && !self.backend.supports_plugin_schemas() {
            return Err(CommandError::new(format!(
                "the state declares hybrid-mode plugins (`streamed: false`): {}; a {} target cannot hold them",
                hybrid.join(", "),
                self.backend.info().kind
            ))
            .with_hint("hybrid mode is Konnect's: target a Konnect control plane (or the local one). Self-managed Kong loads custom plugins from each node's files; stream them instead (`streamed: true`, Kong 3.15+)"));
        }
        Ok(fetched)
    }

    fn new_ids(&self) -> Box<dyn FnMut() -> String> {
        Box::new(|| uuid::Uuid::new_v4().to_string())
    }

    fn plan_error(&self, e: PrepareError, checked: &Checked) -> CommandError {
        // The message is masked; the hint and entities name plugins, not values.
        let mut err = CommandError::from(e).context("cannot plan");
        err.message = checked.state.mask(&err.message);
        err
    }
}

/// Fetches the live state in scope.
pub fn fetch(
    backend: &dyn Backend,
    select_tags: &[String],
    state: Option<&DesiredState>,
    secrets: &[String],
) -> Result<Fetched, CommandError> {
    backend::fetch(backend, select_tags, state).map_err(|e| read_error(backend, e, secrets))
}

/// Both sides' schemas for the planner. The declared ones come from lint's evaluation; a
/// live one is evaluated only when its source differs from every schema seen in this run.
pub fn schemas(desired: &DesiredState, live: &LiveState, cache: &SchemaCache) -> Schemas {
    Schemas {
        desired: desired
            .custom_plugins
            .iter()
            .map(|c| {
                let s = cache.evaluate(&c.schema.text).map_err(|e| e.to_string());
                (c.name.clone(), s)
            })
            .collect(),
        live: live
            .custom_plugins
            .iter()
            .filter_map(|c| Some((c.name.clone(), cache.evaluate(&c.schema).ok()?)))
            .collect(),
    }
}

/// Plans `checked` against `source`.
pub fn plan(
    checked: &Checked,
    source: &dyn LiveSource,
    request: &PlanRequest,
) -> Result<Plan, CommandError> {
    let fetched = source.read(checked)?;
    let options = PlanOptions {
        allow_in_place: request.allow_in_place,
        allow_empty: request.allow_empty,
        select_tags: checked.select_tags.clone(),
        unmanaged_references: fetched.unmanaged_references,
    };
    let schemas = schemas(&checked.state, &fetched.live, &checked.schemas);
    let mut new_id = source.new_ids();
    prepare::prepare(
        &checked.state,
        &fetched.live,
        &schemas,
        source.target(),
        checked.source.clone(),
        &options,
        &mut new_id,
    )
    .map_err(|e| source.plan_error(e, checked))
}

/// [`prepare::prepare`] with the schemas evaluated here, for callers that hold no checked
/// state (the scenario snapshots, the benches).
pub fn prepare(
    desired: &DesiredState,
    live: &LiveState,
    target: TargetInfo,
    source: SourceInfo,
    options: &PlanOptions,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Plan, PrepareError> {
    let schemas = schemas(desired, live, &SchemaCache::new());
    prepare::prepare(desired, live, &schemas, target, source, options, new_id)
}

/// The sandbox profile a plan checks the state under.
pub struct ProfileRequest {
    /// The options the state was linted with.
    pub linted: LintOptions,
    /// Whether the flags chose the profile (then the target is not asked).
    pub explicit: bool,
}

/// The sandbox profile for this target: the flags' when they chose one, else what the target
/// reports (`GET /` on a Kong Admin API: `configuration.untrusted_lua`, then `version`), else
/// the default. Reported as a status line. When it differs from the profile the state was
/// linted with, the state is linted again under it (with the schemas already evaluated).
pub fn target_profile(
    checked: &Checked,
    request: &ProfileRequest,
    backend: &dyn Backend,
    secrets: &[String],
    progress: &dyn Progress,
) -> Result<(), CommandError> {
    let linted = &request.linted;
    if request.explicit {
        progress.status(&format!(
            "sandbox profile: {} (from the flags)",
            linted.profile
        ));
        return Ok(());
    }
    let reported = match backend.node_info() {
        Ok(Some(info)) => crate::lua::profile::profile_from_node_info(&info),
        Ok(None) => None,
        Err(e) => {
            progress.warn(&crate::model::mask_secrets(
                &format!(
                    "cannot read the target's Kong version ({e}); checking plugins with the default sandbox profile"
                ),
                secrets,
            ));
            None
        }
    };
    let (profile, why) = match reported {
        Some(Ok(found)) => found,
        Some(Err(e)) => {
            return Err(CommandError::new(e).with_hint(
                "check the target's untrusted_lua setting, or pass --sandbox-profile to check plugins anyway",
            ))
        }
        None => {
            progress.status(&format!(
                "sandbox profile: {} (default; pass --kong-version or --sandbox-profile to match your gateways)",
                linted.profile
            ));
            return Ok(());
        }
    };
    progress.status(&format!("sandbox profile: {profile} ({why})"));
    if profile != linted.profile {
        let options = LintOptions {
            profile,
            ..linted.clone()
        };
        check::relint(checked, &options, progress)?;
    }
    Ok(())
}
