//! The planner on states built in memory (`state::testkit`): stage order, summaries, the
//! safety refusals, and what a plan keeps out. Assertions read the plan's JSON (the contract
//! every renderer and plan file shares), not the Rust fields.

use serde_json::{json, Value};

use super::prepare::{prepare, PrepareError};
use super::{PlanError, PlanOptions, SourceInfo, TargetInfo};
use crate::model::{DesiredState, LiveState};
use crate::state::testkit::{self, handler, SCHEMA};

const SERVICE: &str = "5b1a0000-0000-4000-8000-000000000001";

fn target() -> TargetInfo {
    serde_json::from_value(json!({"kind": "local", "address": "test", "control_plane": "default"}))
        .expect("a target")
}

/// `rate-guard` (handler `version`, `schema`) with `instances` (YAML list items, or `[]`).
fn state_with(version: &str, schema: &str, instances: &str) -> DesiredState {
    let yaml = format!(
        "custom_plugins:\n  - name: rate-guard\n    path: plugins/rate-guard\nplugins:\n{instances}"
    );
    let handler = handler(version);
    testkit::desired(&[
        ("plugsync.yaml", &yaml),
        ("plugins/rate-guard/handler.lua", &handler),
        ("plugins/rate-guard/schema.lua", schema),
    ])
}

fn state(instances: &str) -> DesiredState {
    state_with("1.0.0", SCHEMA, instances)
}

const INSTANCE: &str =
    "  - name: rate-guard\n    service: payments\n    config:\n      window: 60\n";

/// The live side: the service, plus `custom_plugins` and `plugins` as given.
fn live(custom_plugins: Value, plugins: Value) -> LiveState {
    testkit::live(&json!({
        "services": [{"id": SERVICE, "name": "payments"}],
        "custom_plugins": custom_plugins,
        "plugins": plugins,
    }))
}

fn live_plugin(id: &str, name: &str, version: &str, schema: &str, tags: Value) -> Value {
    json!({"id": id, "name": name, "handler": handler(version), "schema": schema, "tags": tags})
}

fn live_instance(id: &str, plugin: &str, config: Value) -> Value {
    json!({
        "id": id, "name": plugin, "instance_name": null, "config": config, "enabled": true,
        "protocols": ["grpc", "grpcs", "http", "https"], "service": {"id": SERVICE},
        "route": null, "consumer": null, "consumer_group": null, "condition": null,
        "ordering": null, "tags": null
    })
}

/// rate-guard 1.0.0 with one instance (`window: 60`), as [`state`] with [`INSTANCE`] writes it.
fn live_in_sync() -> LiveState {
    live(
        json!([live_plugin(
            "c-1",
            "rate-guard",
            "1.0.0",
            SCHEMA,
            Value::Null
        )]),
        json!([live_instance(
            "p-1",
            "rate-guard",
            json!({"window": 60, "limit": 100, "header": null})
        )]),
    )
}

fn plan_json(
    desired: &DesiredState,
    live: &LiveState,
    options: &PlanOptions,
) -> Result<Value, PrepareError> {
    let plan = prepare(
        desired,
        live,
        &testkit::schemas(desired, live),
        target(),
        SourceInfo::default(),
        options,
        &mut testkit::ids(),
    )?;
    Ok(serde_json::to_value(&plan).expect("the plan serialises"))
}

fn plan(desired: &DesiredState, live: &LiveState) -> Value {
    plan_json(desired, live, &PlanOptions::default()).unwrap_or_else(|e| panic!("no plan: {e}"))
}

/// `(stage, action, kind, name)` of every step.
fn steps(plan: &Value) -> Vec<(u64, String, String, String)> {
    plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["stage"].as_u64().expect("stage"),
                s["action"].as_str().expect("action").to_string(),
                s["kind"].as_str().expect("kind").to_string(),
                s["name"].as_str().expect("name").to_string(),
            )
        })
        .collect()
}

fn step(stage: u64, action: &str, kind: &str, name: &str) -> (u64, String, String, String) {
    (stage, action.into(), kind.into(), name.into())
}

fn plan_errors(result: Result<Value, PrepareError>) -> Vec<PlanError> {
    match result {
        Err(PrepareError::Plan(errors)) => errors,
        Err(other) => panic!("not a plan error: {other}"),
        Ok(plan) => panic!("a plan was made: {plan}"),
    }
}

#[test]
fn a_first_sync_creates_the_plugin_in_stage_1_and_its_instance_in_stage_2() {
    let p = plan(&state(INSTANCE), &live(json!([]), json!([])));
    assert_eq!(
        steps(&p),
        vec![
            step(1, "create", "custom_plugin", "rate-guard"),
            step(2, "create", "plugin", "rate-guard"),
        ]
    );
    assert_eq!(
        p["summary"],
        json!({"create": 2, "update": 0, "migrate": 0, "delete": 0, "unchanged": 0})
    );
    let plugin = &p["steps"][0];
    assert_eq!(plugin["id"], "00000000-0000-4000-8000-000000000001");
    assert_eq!(plugin["body"]["schema"], SCHEMA);
    let instance = &p["steps"][1]["body"];
    assert_eq!(instance["config"], json!({"window": 60}));
    assert_eq!(instance["service"], json!({"id": SERVICE}));
    assert_eq!(p["target"]["kind"], "local");
    assert_eq!(p["maintenance_window"], false);
}

#[test]
fn a_state_in_sync_plans_nothing() {
    let p = plan(&state(INSTANCE), &live_in_sync());
    assert!(steps(&p).is_empty());
    assert_eq!(
        p["summary"],
        json!({"create": 0, "update": 0, "migrate": 0, "delete": 0, "unchanged": 2})
    );
    // Only changes are listed; the unchanged are counted.
    assert_eq!(p["custom_plugins"], json!([]));
    assert_eq!(p["plugins"], json!([]));
}

#[test]
fn a_new_handler_is_one_update_with_update_path_none() {
    let p = plan(&state_with("1.0.1", SCHEMA, INSTANCE), &live_in_sync());
    assert_eq!(
        steps(&p),
        vec![step(1, "update", "custom_plugin", "rate-guard")]
    );
    assert_eq!(p["steps"][0]["id"], "c-1");
    assert_eq!(p["custom_plugins"][0]["update_path"], "none");
}

#[test]
fn deletes_come_last_instances_before_their_plugin() {
    let live = live(
        json!([
            live_plugin("c-1", "rate-guard", "1.0.0", SCHEMA, Value::Null),
            live_plugin(
                "c-2",
                "old-guard",
                "0.9.0",
                &SCHEMA.replace("rate-guard", "old-guard"),
                Value::Null
            ),
        ]),
        json!([
            live_instance(
                "p-1",
                "rate-guard",
                json!({"window": 60, "limit": 100, "header": null})
            ),
            live_instance(
                "p-2",
                "old-guard",
                json!({"window": 5, "limit": 100, "header": null})
            ),
        ]),
    );
    let p = plan(&state(INSTANCE), &live);
    assert_eq!(
        steps(&p),
        vec![
            step(3, "delete", "plugin", "old-guard"),
            step(4, "delete", "custom_plugin", "old-guard"),
        ]
    );
    assert_eq!(p["steps"][0]["id"], "p-2");
    assert!(p["steps"][0].get("body").is_none(), "a delete has no body");
}

#[test]
fn an_empty_state_against_a_full_control_plane_is_refused_unless_allowed() {
    let empty = testkit::desired(&[("plugsync.yaml", "custom_plugins: []\nplugins: []\n")]);
    let errors = plan_errors(plan_json(&empty, &live_in_sync(), &PlanOptions::default()));
    assert!(
        matches!(
            errors.as_slice(),
            [PlanError::EmptyState {
                live: 1,
                instances: 1
            }]
        ),
        "{errors:?}"
    );
    let options = PlanOptions {
        allow_empty: true,
        ..PlanOptions::default()
    };
    let p = plan_json(&empty, &live_in_sync(), &options).unwrap();
    assert_eq!(
        steps(&p),
        vec![
            step(3, "delete", "plugin", "rate-guard"),
            step(4, "delete", "custom_plugin", "rate-guard"),
        ]
    );
}

/// [`SCHEMA`] plus a required field without a default: a `long` change for live instances.
fn schema_with_burst() -> String {
    SCHEMA.replace(
        "{ header = { type = \"string\" } },",
        "{ header = { type = \"string\" } },\n          { burst = { type = \"integer\", required = true } },",
    )
}

#[test]
fn a_long_change_in_place_is_refused_while_instances_use_the_plugin() {
    let instance = format!("{INSTANCE}      burst: 10\n");
    let desired = state_with("1.1.0", &schema_with_burst(), &instance);
    let errors = plan_errors(plan_json(
        &desired,
        &live_in_sync(),
        &PlanOptions::default(),
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].to_string(),
        "custom plugin `rate-guard` changes in place with update path `long` while 1 live instance(s) use it (fields: config.burst)"
    );
}

#[test]
fn allow_in_place_turns_a_long_change_into_a_maintenance_window() {
    let instance = format!("{INSTANCE}      burst: 10\n");
    let desired = state_with("1.1.0", &schema_with_burst(), &instance);
    let options = PlanOptions {
        allow_in_place: true,
        ..PlanOptions::default()
    };
    let p = plan_json(&desired, &live_in_sync(), &options).unwrap();
    assert_eq!(p["maintenance_window"], true);
    assert_eq!(p["custom_plugins"][0]["update_path"], "long");
    assert_eq!(
        steps(&p),
        vec![
            step(1, "update", "custom_plugin", "rate-guard"),
            step(2, "update", "plugin", "rate-guard"),
        ]
    );
}

#[test]
fn a_protected_live_plugin_is_never_deleted() {
    let live = live(
        json!([
            live_plugin("c-1", "rate-guard", "1.0.0", SCHEMA, Value::Null),
            live_plugin(
                "c-2",
                "keep-me",
                "1.0.0",
                &SCHEMA.replace("rate-guard", "keep-me"),
                json!(["plugsync-protected"])
            ),
        ]),
        json!([live_instance(
            "p-1",
            "rate-guard",
            json!({"window": 60, "limit": 100, "header": null})
        )]),
    );
    let p = plan(&state(INSTANCE), &live);
    assert!(steps(&p).is_empty(), "{:?}", steps(&p));
}

#[test]
fn the_fingerprint_follows_the_live_state() {
    let desired = state(INSTANCE);
    let a = plan(&desired, &live_in_sync());
    let b = plan(&desired, &live_in_sync());
    assert_eq!(a["fingerprint"], b["fingerprint"]);
    assert!(a["fingerprint"].as_str().unwrap().starts_with("sha256:"));
    let changed = live(
        json!([live_plugin(
            "c-1",
            "rate-guard",
            "1.0.0",
            SCHEMA,
            Value::Null
        )]),
        json!([live_instance(
            "p-1",
            "rate-guard",
            json!({"window": 30, "limit": 100, "header": null})
        )]),
    );
    assert_ne!(plan(&desired, &changed)["fingerprint"], a["fingerprint"]);
}

#[test]
fn values_from_the_environment_stay_out_of_the_plan() {
    let instance = "  - name: rate-guard\n    service: payments\n    config:\n      window: 60\n      header: \"Bearer ${{ env \\\"PLUGSYNC_TOKEN\\\" }}\"\n";
    let yaml = format!(
        "custom_plugins:\n  - name: rate-guard\n    path: plugins/rate-guard\nplugins:\n{instance}"
    );
    let handler = handler("1.0.0");
    let desired = testkit::desired_with_env(
        &[
            ("plugsync.yaml", &yaml),
            ("plugins/rate-guard/handler.lua", &handler),
            ("plugins/rate-guard/schema.lua", SCHEMA),
        ],
        &[("PLUGSYNC_TOKEN", "s3cr3t-value")],
    );
    let p = plan(&desired, &live(json!([]), json!([])));
    let text = p.to_string();
    assert!(!text.contains("s3cr3t-value"), "{text}");
    // The step body keeps the template: apply resolves it anew.
    assert_eq!(
        p["steps"][1]["body"]["config"]["header"],
        "Bearer ${{ env \"PLUGSYNC_TOKEN\" }}"
    );
}
