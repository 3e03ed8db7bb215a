use super::*;
use serde_json::json;

#[test]
fn field_changes_are_leaf_paths() {
    let old = json!({"name": "x", "config": {"a": 1, "b": {"c": 2}, "d": [1, 2]}, "tags": ["t"]});
    let new = json!({"name": "x", "config": {"a": 1, "b": {"c": 3}, "d": [2, 1], "e": null}, "tags": ["t"]});
    let changes = field_changes(Some(&old), Some(&new));
    let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, vec!["config.b.c", "config.d"]);
    assert_eq!(changes[0].old, Some(json!(2)));
    assert_eq!(changes[0].new, Some(json!(3)));
}

#[test]
fn created_and_deleted_objects_list_their_set_fields() {
    let v = json!({"name": "x", "config": {"a": 1, "b": null}});
    let created: Vec<String> = field_changes(None, Some(&v))
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(created, vec!["config.a", "name"]);
    let deleted: Vec<String> = field_changes(Some(&v), None)
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(deleted, vec!["config.a", "name"]);
}

#[test]
fn families_follow_replaces_through_declared_plugins() {
    let mut state = DesiredState::default();
    let decl = |name: &str, replaces: Option<&str>| CustomPluginDecl {
        name: name.into(),
        handler: crate::model::LuaSource {
            text: "".into(),
            origin: crate::model::LuaOrigin::File(std::sync::Arc::new("h".into())),
        },
        schema: crate::model::LuaSource {
            text: "".into(),
            origin: crate::model::LuaOrigin::File(std::sync::Arc::new("s".into())),
        },
        replaces: replaces.map(str::to_string),
        tags: vec![],
        protected: false,
        streamed: true,
        id: None,
        dir: None,
        extra_files: vec![],
        span: crate::model::Span::file_start(std::sync::Arc::new("f".into())),
        replaces_span: None,
    };
    state.custom_plugins.push(decl("x-v3", Some("x-v2")));
    state.custom_plugins.push(decl("x-v2", Some("x")));
    state.custom_plugins.push(decl("cycle-a", Some("cycle-b")));
    state.custom_plugins.push(decl("cycle-b", Some("cycle-a")));
    let replaces = replaces_map(&state);
    assert_eq!(family_root(&replaces, "x-v3"), "x");
    assert_eq!(family_root(&replaces, "x-v2"), "x");
    assert_eq!(family_root(&replaces, "x"), "x");
    assert_eq!(family_root(&replaces, "other"), "other");
    // A cycle (a lint error) ends instead of looping.
    let root = family_root(&replaces, "cycle-a");
    assert!(root == "cycle-a" || root == "cycle-b");
}

#[test]
fn encrypted_fields_are_masked_in_changes() {
    let schema = testkit::schema(
        r#"return { name = "a", fields = { { config = { type = "record", fields = {
            { token = { type = "string", encrypted = true } },
            { plain = { type = "string" } } } } } } }"#,
    );
    let mut changes = field_changes(
        Some(&json!({"config": {"token": "old-secret", "plain": "x"}})),
        Some(&json!({"config": {"token": "new-secret", "plain": "y"}})),
    );
    mask_encrypted(&mut changes, &[Some(&schema)]);
    assert_eq!(changes[0].path, "config.plain");
    assert_eq!(changes[0].new, Some(json!("y")));
    assert_eq!(changes[1].path, "config.token");
    assert_eq!(changes[1].old, Some(json!("[masked]")));
    assert_eq!(changes[1].new, Some(json!("[masked, changed]")));
}

// Desired against live, built in memory (`state::testkit`): one plugin `rate-guard` and its
// instances on the service `payments`.

use crate::state::testkit::{self, handler, SCHEMA};

const SERVICE: &str = "5b1a0000-0000-4000-8000-000000000001";

/// The state: `rate-guard` (handler `version`) with `instances` (YAML list items).
fn state(version: &str, instances: &str) -> DesiredState {
    let yaml = format!(
        "custom_plugins:\n  - name: rate-guard\n    path: plugins/rate-guard\nplugins:\n{instances}"
    );
    let handler = handler(version);
    testkit::desired(&[
        ("plugsync.yaml", &yaml),
        ("plugins/rate-guard/handler.lua", &handler),
        ("plugins/rate-guard/schema.lua", SCHEMA),
    ])
}

/// An instance on `payments` with `window`.
fn instance(window: u32) -> String {
    format!("  - name: rate-guard\n    service: payments\n    config:\n      window: {window}\n")
}

/// The live control plane: `rate-guard` (handler `version`) and its instance with `config`, or
/// nothing but the service.
fn live(plugin: Option<(&str, Value)>) -> LiveState {
    let mut v = json!({"services": [{"id": SERVICE, "name": "payments"}]});
    if let Some((version, config)) = plugin {
        v["custom_plugins"] = json!([{"id": "c-1", "name": "rate-guard", "handler": handler(version), "schema": SCHEMA, "tags": null}]);
        v["plugins"] = json!([{
            "id": "p-1", "name": "rate-guard", "instance_name": null, "config": config,
            "enabled": true, "protocols": ["grpc", "grpcs", "http", "https"],
            "service": {"id": SERVICE}, "route": null, "consumer": null, "consumer_group": null,
            "condition": null, "ordering": null, "tags": null
        }]);
    }
    testkit::live(&v)
}

fn run(
    desired: &DesiredState,
    live: &LiveState,
    select_tags: &[String],
) -> Result<Diff, Vec<DiffError>> {
    let schemas = testkit::schemas(desired, live);
    let desired_schemas = schemas
        .desired
        .into_iter()
        .map(|(name, s)| (name, s.expect("the schema evaluates")))
        .collect();
    let input = DiffInput {
        desired,
        desired_schemas: &desired_schemas,
        live,
        live_schemas: &schemas.live,
        select_tags,
    };
    diff(&input, &mut testkit::ids())
}

fn live_config(window: u32) -> Value {
    json!({"window": window, "limit": 100, "header": null})
}

#[test]
fn a_first_sync_creates_the_plugin_and_its_instance_with_new_ids() {
    let d = run(&state("1.0.0", &instance(60)), &live(None), &[]).unwrap();
    assert_eq!(d.plugins.len(), 1);
    assert_eq!(d.plugins[0].action, Action::Create);
    assert_eq!(d.plugins[0].id, "00000000-0000-4000-8000-000000000001");
    assert!(d.plugins[0].live.is_none());
    assert_eq!(d.instances.len(), 1);
    let i = &d.instances[0];
    assert_eq!((i.action, i.name.as_str()), (Action::Create, "rate-guard"));
    assert_eq!(i.id, "00000000-0000-4000-8000-000000000002");
    // A created instance lists every field it sets, defaults filled by the schema.
    let paths: Vec<&str> = i.changes.iter().map(|c| c.path.as_str()).collect();
    assert!(
        paths.contains(&"config.window") && paths.contains(&"config.limit"),
        "{paths:?}"
    );
}

#[test]
fn the_same_state_again_is_unchanged_with_defaults_filled() {
    let d = run(
        &state("1.0.0", &instance(60)),
        &live(Some(("1.0.0", live_config(60)))),
        &[],
    )
    .unwrap();
    assert_eq!(d.plugins[0].action, Action::Unchanged);
    assert_eq!(d.plugins[0].id, "c-1");
    assert_eq!(d.instances[0].action, Action::Unchanged);
    assert_eq!(d.instances[0].id, "p-1");
    assert!(d.instances[0].changes.is_empty());
}

#[test]
fn a_new_handler_updates_the_plugin_and_leaves_the_instance_alone() {
    let d = run(
        &state("1.0.1", &instance(60)),
        &live(Some(("1.0.0", live_config(60)))),
        &[],
    )
    .unwrap();
    let p = &d.plugins[0];
    assert_eq!(p.action, Action::Update);
    assert!(p.handler_changed && !p.schema_changed && !p.tags_changed);
    assert!(p.schema_changes.is_empty());
    assert_eq!(d.instances[0].action, Action::Unchanged);
}

#[test]
fn a_changed_config_updates_the_instance_with_the_field_that_changed() {
    let d = run(
        &state("1.0.0", &instance(30)),
        &live(Some(("1.0.0", live_config(60)))),
        &[],
    )
    .unwrap();
    assert_eq!(d.plugins[0].action, Action::Unchanged);
    let i = &d.instances[0];
    assert_eq!(i.action, Action::Update);
    assert_eq!(
        i.changes,
        vec![FieldChange {
            path: "config.window".into(),
            old: Some(json!(60)),
            new: Some(json!(30)),
        }]
    );
}

#[test]
fn an_instance_gone_from_the_state_is_deleted() {
    let d = run(
        &state("1.0.0", "  []\n"),
        &live(Some(("1.0.0", live_config(60)))),
        &[],
    )
    .unwrap();
    assert_eq!(d.plugins[0].action, Action::Unchanged);
    assert_eq!(d.instances.len(), 1);
    let i = &d.instances[0];
    assert_eq!(
        (i.action, i.id.as_str(), i.declared),
        (Action::Delete, "p-1", false)
    );
}

#[test]
fn select_tags_join_the_tags_of_what_is_written() {
    let tags = vec!["team-a".to_string()];
    let d = run(&state("1.0.0", &instance(60)), &live(None), &tags).unwrap();
    assert_eq!(d.plugins[0].tags, tags);
    // The live plugin lacks the tag: the plugin is updated for its tags alone.
    let d = run(
        &state("1.0.0", &instance(60)),
        &live(Some(("1.0.0", live_config(60)))),
        &tags,
    )
    .unwrap();
    let p = &d.plugins[0];
    assert_eq!(p.action, Action::Update);
    assert!(p.tags_changed && !p.handler_changed && !p.schema_changed);
}

#[test]
fn an_instance_on_a_service_the_control_plane_lacks_is_an_error() {
    let yaml = "  - name: rate-guard\n    service: billing\n    config:\n      window: 60\n";
    let errors = run(&state("1.0.0", yaml), &live(None), &[]).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        matches!(&errors[0], DiffError::Unresolved { kind, name, .. } if *kind == "service" && name == "billing"),
        "{errors:?}"
    );
    assert_eq!(errors[0].entity()["reason"], "unresolved_scope");
}

#[test]
fn two_instances_at_one_scope_are_an_error() {
    let two = format!(
        "{}  - name: rate-guard\n    instance_name: second\n    service: {SERVICE}\n    config:\n      window: 30\n",
        instance(60)
    );
    let errors = run(&state("1.0.0", &two), &live(None), &[]).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, DiffError::SameScope { plugin, .. } if plugin == "rate-guard")),
        "{errors:?}"
    );
}

#[test]
fn a_config_the_schema_refuses_is_an_error() {
    let errors = run(&state("1.0.0", &instance(0)), &live(None), &[]).unwrap_err();
    assert!(
        matches!(&errors[0], DiffError::InvalidConfig { plugin, .. } if plugin == "rate-guard"),
        "{errors:?}"
    );
}
