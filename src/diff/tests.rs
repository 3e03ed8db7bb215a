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
            text: String::new(),
            origin: crate::model::LuaOrigin::File(std::sync::Arc::new("h".into())),
        },
        schema: crate::model::LuaSource {
            text: String::new(),
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
    let schema = crate::lua::evaluate_schema(
        r#"return { name = "a", fields = { { config = { type = "record", fields = {
            { token = { type = "string", encrypted = true } },
            { plain = { type = "string" } } } } } } }"#,
    )
    .unwrap();
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
