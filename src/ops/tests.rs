//! The operations on states built in memory.

use crate::lint::{self, LintOptions};
use crate::lua::SchemaCache;
use crate::model::{DesiredState, LiveState};
use crate::ops::plan;
use crate::state::testkit;

/// `n` custom plugins, each with a schema of its own (distinct bytes).
fn desired(n: usize) -> DesiredState {
    let mut files: Vec<(String, String)> = Vec::new();
    let mut yaml = String::from("_format_version: \"3.0\"\ncustom_plugins:\n");
    for i in 0..n {
        let name = format!("p{i}");
        yaml.push_str(&format!("  - name: {name}\n    path: plugins/{name}\n"));
        files.push((
            format!("plugins/{name}/handler.lua"),
            testkit::handler("1.0.0"),
        ));
        files.push((
            format!("plugins/{name}/schema.lua"),
            format!(
                "return {{ name = \"{name}\", fields = {{ {{ config = {{ type = \"record\", fields = {{ {{ limit = {{ type = \"integer\", default = {i} }} }} }} }} }} }} }}\n"
            ),
        ));
    }
    files.push(("plugsync.yaml".to_string(), yaml));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    testkit::desired(&refs)
}

/// The live state a sync of `desired` leaves.
fn live_of(desired: &DesiredState) -> LiveState {
    let plugins: Vec<serde_json::Value> = desired
        .custom_plugins
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": format!("id-{}", c.name),
                "name": c.name,
                "handler": c.handler.text,
                "schema": c.schema.text,
                "tags": [],
            })
        })
        .collect();
    testkit::live(&serde_json::json!({ "custom_plugins": plugins }))
}

#[test]
fn a_no_op_plan_evaluates_each_schema_once() {
    let desired = desired(1000);
    assert_eq!(desired.custom_plugins.len(), 1000);
    let live = live_of(&desired);
    let cache = SchemaCache::new();
    let diags = lint::lint_with(&desired, &LintOptions::default(), &cache);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    assert_eq!(cache.evaluations(), 1000, "lint evaluates each schema once");
    let schemas = plan::schemas(&desired, &live, &cache);
    assert_eq!(schemas.desired.len(), 1000);
    assert_eq!(schemas.live.len(), 1000);
    assert_eq!(
        cache.evaluations(),
        1000,
        "the plan evaluates nothing again"
    );
    assert_eq!(cache.len(), 1000);
    let mut ids = testkit::ids();
    let made = crate::plan::prepare::prepare(
        &desired,
        &live,
        &schemas,
        crate::plan::TargetInfo {
            kind: crate::model::TargetKind::Local,
            address: "memory".into(),
            control_plane: "default".into(),
        },
        Default::default(),
        &Default::default(),
        &mut ids,
    )
    .expect("a plan");
    assert!(!made.has_changes(), "{:?}", made.summary);
}

#[test]
fn a_changed_live_schema_is_evaluated_at_the_ops_layer() {
    let desired = desired(2);
    let mut live = live_of(&desired);
    live.custom_plugins[0].schema = live.custom_plugins[0]
        .schema
        .replace("default = 0", "default = 7");
    let cache = SchemaCache::new();
    lint::lint_with(&desired, &LintOptions::default(), &cache);
    assert_eq!(cache.evaluations(), 2);
    let schemas = plan::schemas(&desired, &live, &cache);
    assert_eq!(schemas.live.len(), 2);
    assert_eq!(cache.evaluations(), 3, "only the changed live schema");
}

fn checked(state: DesiredState) -> crate::ops::Checked {
    let schemas = SchemaCache::new();
    let diags = lint::lint_with(&state, &LintOptions::default(), &schemas);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    crate::ops::Checked {
        select_tags: state.select_tags.clone(),
        state,
        source: Default::default(),
        schemas,
    }
}

#[test]
fn plan_and_apply_against_a_control_plane_report_through_progress() {
    use crate::ops::apply::{self, ApplyRequest, RolloutStop};
    use crate::ops::plan::{ControlPlane, PlanRequest};
    use crate::ops::Recording;

    let backend = crate::backend::LocalBackend::open(":memory:").expect("a local control plane");
    let checked = checked(desired(2));
    let source = ControlPlane::new(&backend, &[]);
    let plan = plan::plan(&checked, &source, &PlanRequest::default()).expect("a plan");
    assert_eq!(plan.summary.create, 2);
    assert_eq!(
        checked.schemas.evaluations(),
        2,
        "planning evaluated nothing"
    );
    let progress = Recording::default();
    let request = ApplyRequest {
        parallelism: 2,
        wait: None,
        rolled_out: &[],
        secrets: &[],
        validate_against: None,
        schemas: &checked.schemas,
        env: &|_| None,
    };
    let applied =
        apply::apply_through_rollouts(&backend, &plan, &request, &progress).expect("applied");
    assert!(applied.report.ok());
    assert!(matches!(applied.stop, RolloutStop::Complete));
    let lines = progress.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.starts_with("step ")), "{lines:?}");
    // Planned again: nothing to do.
    let again = plan::plan(&checked, &source, &PlanRequest::default()).expect("a plan");
    assert!(!again.has_changes(), "{:?}", again.summary);
}

#[test]
fn a_git_base_is_a_live_source_like_the_control_plane() {
    use crate::ops::plan::PlanRequest;
    use crate::ops::review::GitBase;

    let head = checked(desired(2));
    let base = GitBase {
        state: desired(1),
        reference: "main".into(),
        commit: "0123abcd".into(),
        select_tags: Vec::new(),
    };
    let plan = plan::plan(&head, &base, &PlanRequest::default()).expect("a plan");
    assert_eq!(plan.target.kind, crate::model::TargetKind::Git);
    assert_eq!(plan.target.control_plane, "main");
    assert_eq!(plan.summary.create, 1);
    assert_eq!(plan.summary.unchanged, 1);
    // The plugin both revisions declare unchanged was evaluated once, by lint.
    assert_eq!(head.schemas.evaluations(), 2);
}

#[test]
fn linting_again_under_another_profile_evaluates_no_schema() {
    let checked = checked(desired(3));
    assert_eq!(checked.schemas.evaluations(), 3);
    let options = LintOptions {
        profile: crate::lua::ProfileName::parse("strict").expect("a profile"),
        ..LintOptions::default()
    };
    let progress = crate::ops::Recording::default();
    crate::ops::check::relint(&checked, &options, &progress).expect("lints clean");
    assert_eq!(checked.schemas.evaluations(), 3);
}

/// Plugins read before the state loaded complete the read; a failure among them is reported
/// like any read failure, masked with the state's secrets (unknown when it was read).
#[test]
fn plugins_read_early_complete_the_plan_and_their_failure_is_masked() {
    use crate::backend::{Backend, TargetError};
    use crate::ops::plan::{ControlPlane, PlanRequest};

    let backend = crate::backend::LocalBackend::open(":memory:").expect("a local control plane");
    let checked = checked(desired(2));
    let early = plan::read_plugins(&backend).expect("an empty control plane reads");
    let source = ControlPlane::new(&backend, &[]).with_plugins(Ok(early));
    let plan = plan::plan(&checked, &source, &PlanRequest::default()).expect("a plan");
    assert_eq!(plan.summary.create, 2);
    assert!(backend.stats().requests > 0);

    let secrets = vec!["hunter2".to_string()];
    let failed = Err(TargetError::Config(
        "the control plane returned a plugin that cannot be read: {\"key\":\"hunter2\"}".into(),
    ));
    let source = ControlPlane::new(&backend, &secrets).with_plugins(failed);
    let err = plan::plan(&checked, &source, &PlanRequest::default()).expect_err("refused");
    assert!(
        err.message.contains("reading the control plane failed"),
        "{err:?}"
    );
    assert!(!err.message.contains("hunter2"), "{err:?}");
}
