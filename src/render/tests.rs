//! Renderer tests over hand-built plans.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::diff::FieldChange;
use crate::model::{Action, StepKind};
use crate::plan::{PluginDetail, SourceInfo, Stage, Step, Summary, TargetInfo};
use crate::schema::classify::ChangeKind;

const SECRET_IN_BODY: &str = "SECRET-BODY-VALUE";

fn target() -> TargetInfo {
    TargetInfo {
        kind: crate::model::TargetKind::Local,
        address: ".plugsync/local.db".into(),
        control_plane: "default".into(),
    }
}

fn change(field: &str, kind: ChangeKind, required: bool, path: UpdatePath) -> SchemaChange {
    SchemaChange {
        field: field.into(),
        change: kind,
        required,
        has_default: false,
        update_path: path,
        detail: None,
    }
}

fn fc(path: &str, old: Option<Value>, new: Option<Value>) -> FieldChange {
    FieldChange {
        path: path.into(),
        old,
        new,
    }
}

fn lua_lines(tag: &str, n: usize) -> String {
    (0..n).map(|i| format!("local {tag}_{i} = {i}\n")).collect()
}

fn custom(name: &str, action: &str) -> CustomPluginEntry {
    CustomPluginEntry {
        name: name.into(),
        action: serde_json::from_value(json!(action)).unwrap(),
        replaces: None,
        handler_sha256: None,
        schema_sha256: None,
        live_handler_sha256: None,
        live_schema_sha256: None,
        update_path: UpdatePath::None,
        schema_changes: Vec::new(),
        detail: PluginDetail::default(),
    }
}

fn instance(name: &str, action: &str, id: &str) -> PluginEntry {
    PluginEntry {
        name: name.into(),
        from: None,
        id: id.into(),
        action: serde_json::from_value(json!(action)).unwrap(),
        instance_name: None,
        scope: BTreeMap::new(),
        changed_fields: Vec::new(),
        changes: Vec::new(),
    }
}

fn empty_plan() -> Plan {
    Plan {
        format_version: crate::plan::FORMAT_VERSION,
        target: target(),
        source: SourceInfo::default(),
        fingerprint: "sha256:00".into(),
        maintenance_window: false,
        summary: Summary {
            unchanged: 7,
            ..Summary::default()
        },
        custom_plugins: Vec::new(),
        plugins: Vec::new(),
        steps: Vec::new(),
        select_tags: Vec::new(),
        hybrid_scope: Vec::new(),
    }
}

/// A new version with `replaces`, an in-place update, a plain creation, a deletion, and one
/// instance of every action.
fn full_plan() -> Plan {
    let old_handler = "local H = {}\nH.PRIORITY = 900\nH.VERSION = \"1.0.0\"\nfunction H:access(conf)\n  kong.log.info(conf.limit)\nend\nreturn H\n";
    let new_handler = old_handler.replace("conf.limit", "conf.window");

    let mut v2 = custom("rate-guard-v2", "create");
    v2.replaces = Some("rate-guard".into());
    v2.handler_sha256 = Some("aa".repeat(32));
    v2.schema_sha256 = Some("bb".repeat(32));
    v2.update_path = UpdatePath::Long;
    v2.schema_changes = vec![
        change("config.window", ChangeKind::Added, true, UpdatePath::Long),
        SchemaChange {
            detail: Some("10 → 20".into()),
            has_default: true,
            ..change(
                "config.limit",
                ChangeKind::DefaultChanged,
                false,
                UpdatePath::Short,
            )
        },
    ];
    v2.detail = PluginDetail {
        handler: Some((old_handler.to_string(), new_handler)),
        schema: None,
        tags: None,
        compared_with: Some("rate-guard".into()),
    };

    let mut header = custom("add-header", "update");
    header.update_path = UpdatePath::Short;
    header.live_handler_sha256 = Some("cc".repeat(32));
    header.schema_changes = vec![change(
        "config.prefix",
        ChangeKind::Added,
        false,
        UpdatePath::Short,
    )];
    header.detail = PluginDetail {
        handler: Some((
            "return {\n  PRIORITY = 900,\n  VERSION = \"1.0.0\",\n}\n".into(),
            "return {\n  PRIORITY = 901,\n  VERSION = \"1.1.0\",\n}\n".into(),
        )),
        schema: Some((lua_lines("s", 8), lua_lines("s", 9))),
        tags: Some((
            vec!["payments".into()],
            vec!["payments".into(), "team-a".into()],
        )),
        compared_with: None,
    };

    let mut audit = custom("audit", "create");
    audit.handler_sha256 = Some("dd".repeat(32));
    audit.schema_sha256 = Some("ee".repeat(32));
    audit.detail = PluginDetail {
        handler: Some((String::new(), lua_lines("short_handler_line", 5))),
        schema: Some((String::new(), lua_lines("long_schema_line", 30))),
        tags: None,
        compared_with: None,
    };

    let old = custom("rate-guard", "delete");

    let mut migrate = instance(
        "rate-guard-v2",
        "migrate",
        "11111111-1111-4111-8111-111111111111",
    );
    migrate.from = Some("rate-guard".into());
    migrate.instance_name = Some("payments-guard".into());
    migrate.scope.insert("service".into(), "payments".into());
    migrate.changed_fields = vec!["config.limit".into(), "config.window".into()];
    migrate.changes = vec![
        fc("config.limit", Some(json!(10)), Some(json!(20))),
        fc("config.window", None, Some(json!(60))),
    ];

    let mut create = instance(
        "add-header",
        "create",
        "22222222-2222-4222-8222-222222222222",
    );
    create.changes = vec![
        fc("config.name", None, Some(json!("X-Foo"))),
        fc("config.value", None, Some(json!("[masked]"))),
        fc("enabled", None, Some(json!(true))),
    ];

    let mut update = instance(
        "add-header",
        "update",
        "33333333-3333-4333-8333-333333333333",
    );
    update.instance_name = Some("orders|header".into());
    update.scope.insert("service".into(), "orders".into());
    update.scope.insert("route".into(), "checkout".into());
    update.changed_fields = vec!["config.redis".into(), "config.value".into()];
    update.changes = vec![
        fc(
            "config.redis",
            Some(Value::Null),
            Some(json!({"host": "h", "port": 6379})),
        ),
        fc("config.value", Some(json!("a")), Some(json!("b"))),
    ];

    let mut delete = instance(
        "rate-guard",
        "delete",
        "44444444-4444-4444-8444-444444444444",
    );
    delete.scope.insert("route".into(), "legacy".into());
    delete.changes = vec![fc("config.limit", Some(json!(10)), None)];

    let steps = vec![
        Step {
            stage: Stage::try_from(1).unwrap(),
            action: Action::Create,
            kind: StepKind::CustomPlugin,
            name: "rate-guard-v2".into(),
            id: Some("55555555-5555-4555-8555-555555555555".into()),
            from: None,
            body: Some(json!({"name": "rate-guard-v2", "handler": SECRET_IN_BODY})),
            rollout: None,
        },
        Step {
            stage: Stage::try_from(2).unwrap(),
            action: Action::Migrate,
            kind: StepKind::Plugin,
            name: "rate-guard-v2".into(),
            id: Some(migrate.id.clone()),
            from: Some("rate-guard".into()),
            body: Some(json!({"config": {"api_key": "${{ env \"PLUGSYNC_KEY\" }}"}})),
            rollout: None,
        },
        Step {
            stage: Stage::try_from(4).unwrap(),
            action: Action::Delete,
            kind: StepKind::CustomPlugin,
            name: "rate-guard".into(),
            id: Some("66666666-6666-4666-8666-666666666666".into()),
            from: None,
            body: None,
            rollout: None,
        },
    ];

    Plan {
        source: SourceInfo {
            git_commit: Some("0123abcd".into()),
            dirty: true,
        },
        summary: Summary {
            create: 3,
            update: 2,
            migrate: 1,
            delete: 2,
            unchanged: 7,
        },
        custom_plugins: vec![v2, header, audit, old],
        plugins: vec![migrate, create, update, delete],
        steps,
        select_tags: vec!["team-a".into()],
        ..empty_plan()
    }
}

/// An in-place `cp_dp_sync` update allowed by `--allow-in-place`.
fn in_place_plan() -> Plan {
    let mut guard = custom("guard", "update");
    guard.update_path = UpdatePath::CpDpSync;
    guard.schema_changes = vec![SchemaChange {
        detail: Some("integer → string".into()),
        ..change(
            "config.limit",
            ChangeKind::TypeChanged,
            false,
            UpdatePath::CpDpSync,
        )
    }];
    let mut inst = instance("guard", "update", "77777777-7777-4777-8777-777777777777");
    inst.changes = vec![fc("config.limit", Some(json!(10)), Some(json!("10")))];
    Plan {
        maintenance_window: true,
        summary: Summary {
            update: 2,
            ..Summary::default()
        },
        custom_plugins: vec![guard],
        plugins: vec![inst],
        steps: vec![Step {
            stage: Stage::try_from(1).unwrap(),
            action: Action::Update,
            kind: StepKind::CustomPlugin,
            name: "guard".into(),
            id: None,
            from: None,
            body: None,
            rollout: None,
        }],
        ..empty_plan()
    }
}

fn plain(plan: &Plan) -> String {
    text(plan, &TextOptions { color: false })
}

/// The plan as it comes back from its file: the people-only fields are not in it.
fn without_detail(plan: &Plan) -> Plan {
    let mut p = plan.clone();
    for c in &mut p.custom_plugins {
        c.detail = PluginDetail::default();
    }
    for i in &mut p.plugins {
        i.changes.clear();
    }
    p
}

#[test]
fn json_round_trips_into_the_same_plan() {
    for plan in [full_plan(), in_place_plan(), empty_plan()] {
        let s = json(&plan);
        assert!(s.ends_with("}\n"), "{s}");
        let back: Plan = serde_json::from_str(&s).expect("the plan JSON parses back");
        assert_eq!(back, without_detail(&plan));
    }
}

#[test]
fn json_has_the_contract_shape() {
    let v: Value = serde_json::from_str(&json(&full_plan())).expect("valid JSON");
    let keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "format_version",
        "target",
        "source",
        "fingerprint",
        "maintenance_window",
        "summary",
        "custom_plugins",
        "plugins",
        "steps",
        "select_tags",
    ] {
        assert!(keys.contains(&key), "missing {key} in {keys:?}");
    }
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["custom_plugins"][0]["update_path"], "long");
    assert_eq!(
        v["custom_plugins"][0]["schema_changes"][0]["change"],
        "added"
    );
    assert_eq!(v["custom_plugins"][0]["live_handler_sha256"], Value::Null);
    assert_eq!(v["plugins"][0]["from"], "rate-guard");
    assert_eq!(v["plugins"][0]["scope"]["service"], "payments");
    // People-only fields stay out of the file.
    assert!(v["custom_plugins"][0].get("detail").is_none());
    assert!(v["plugins"][0].get("changes").is_none());
    // A template in a step body is kept as written.
    assert_eq!(
        v["steps"][1]["body"]["config"]["api_key"],
        "${{ env \"PLUGSYNC_KEY\" }}"
    );
}

#[test]
fn text_shows_header_symbols_and_update_paths() {
    let t = plain(&full_plan());
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines[0],
        "Plan for local control plane \"default\" at .plugsync/local.db"
    );
    assert_eq!(
        lines[1],
        "State from commit 0123abcd (with uncommitted changes); select tags: team-a"
    );
    for expected in [
        "  + rate-guard-v2 (replaces rate-guard)",
        "      update path: long",
        "      schema changes (against rate-guard):",
        "        config.window: added (required, no default) → long",
        "        config.limit: default_changed (optional, with default) → short — 10 → 20",
        "  ~ add-header",
        "      update path: short",
        "      tags: [\"payments\"] → [\"payments\",\"team-a\"]",
        "  + audit",
        "  - rate-guard",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in\n{t}");
    }
    // A plain creation has no update path to show.
    let audit = t.find("  + audit").expect("audit is listed");
    let next = t[audit..].find("update path").map(|i| i + audit);
    let delete = t.find("  - rate-guard\n").expect("rate-guard is deleted");
    assert!(next.is_none_or(|i| i > delete), "{t}");
}

#[test]
fn text_shows_unified_lua_diffs() {
    let t = plain(&full_plan());
    for expected in [
        "        --- live/rate-guard/handler.lua",
        "        +++ desired/rate-guard-v2/handler.lua",
        "        -  kong.log.info(conf.limit)",
        "        +  kong.log.info(conf.window)",
        "        --- live/add-header/handler.lua",
        "        +++ desired/add-header/handler.lua",
        "        -  PRIORITY = 900,",
        "        +  PRIORITY = 901,",
        "        --- live/add-header/schema.lua",
        "        +local s_8 = 8",
    ] {
        assert!(
            t.lines().any(|l| l == expected),
            "missing {expected:?} in\n{t}"
        );
    }
    // Three lines of context: the first schema line is far from the change.
    assert!(!t.contains("local s_0 = 0"), "{t}");
    assert!(t.contains("@@ -6,3 +6,4 @@"), "{t}");
}

#[test]
fn text_shows_new_files_by_size_and_only_short_ones_in_full() {
    let t = plain(&full_plan());
    let handler = lua_lines("short_handler_line", 5);
    let schema = lua_lines("long_schema_line", 30);
    assert!(t.contains(&format!(
        "      handler.lua: new file, {} bytes, 5 lines, sha256 {}\n",
        handler.len(),
        "dd".repeat(32)
    )));
    assert!(t.contains("        --- /dev/null\n        +++ desired/audit/handler.lua\n"));
    assert!(t.contains("        +local short_handler_line_4 = 4\n"));
    assert!(t.contains(&format!(
        "      schema.lua: new file, {} bytes, 30 lines, sha256 {}\n",
        schema.len(),
        "ee".repeat(32)
    )));
    assert!(!t.contains("long_schema_line"), "{t}");
}

#[test]
fn text_shows_instances_field_by_field() {
    let t = plain(&full_plan());
    for expected in [
        "  ± rate-guard-v2 ← rate-guard (instance payments-guard, service=payments, id 11111111-1111-4111-8111-111111111111)",
        "      config.limit: 10 → 20",
        "      config.window: (unset) → 60",
        "  + add-header (global, id 22222222-2222-4222-8222-222222222222)",
        "      config.name = \"X-Foo\"",
        "      config.value = \"[masked]\"",
        "      enabled = true",
        "  ~ add-header (instance orders|header, route=checkout, service=orders, id 33333333-3333-4333-8333-333333333333)",
        "      config.redis.host: (unset) → \"h\"",
        "      config.redis.port: (unset) → 6379",
        "      config.value: \"a\" → \"b\"",
        "  - rate-guard (route=legacy, id 44444444-4444-4444-8444-444444444444)",
    ] {
        assert!(t.lines().any(|l| l == expected), "missing {expected:?} in\n{t}");
    }
    // Never a whole object for an update, nothing but the line for a delete.
    assert!(!t.contains("{\"host\""), "{t}");
    assert!(!t.contains("config.limit: 10 → (unset)"), "{t}");
}

#[test]
fn text_ends_with_banners_and_the_summary() {
    let t = plain(&full_plan());
    assert!(t.contains("│ Warning: this plan deletes 1 custom plugin and 1 plugin instance\n"));
    assert!(t.contains("│   - custom plugin rate-guard\n"));
    assert!(t.contains(
        "│   - instance of rate-guard (route=legacy, id 44444444-4444-4444-8444-444444444444)\n"
    ));
    assert!(t.contains("│ Warning: rate-guard-v2 has update path long\n"));
    assert!(t.contains("rate-guard-v2 is a new version of rate-guard"));
    assert!(t.contains("│   - config.window: added (required, no default) → long\n"));
    // Only long and cp_dp_sync changes get a banner.
    assert!(!t.contains("Warning: add-header"));
    assert!(!t.contains("maintenance window"));
    assert!(
        t.ends_with("\nPlan: 3 to create, 2 to update, 1 to migrate, 2 to delete, 7 unchanged.\n")
    );
    // Banners come after the instances.
    let instances = t.find("Plugin instances:").expect("instances");
    assert!(t.find("Warning:").is_some_and(|w| w > instances));
}

#[test]
fn text_explains_the_maintenance_window() {
    let t = plain(&in_place_plan());
    assert!(t.contains("      update path: cp_dp_sync\n"));
    assert!(t.contains("│ Warning: guard has update path cp_dp_sync\n"));
    assert!(t.contains("changed in place (allowed by --allow-in-place)"));
    assert!(t.contains(
        "│   - config.limit: type_changed (optional, no default) → cp_dp_sync — integer → string\n"
    ));
    assert!(t.contains("│ Maintenance window: this plan needs a maintenance window\n"));
    assert!(t.contains("│   - guard is changed in place\n"));
    assert!(t.contains("      config.limit: 10 → \"10\"\n"));
    assert!(
        t.ends_with("Plan: 0 to create, 2 to update, 0 to migrate, 0 to delete, 0 unchanged.\n")
    );
}

#[test]
fn text_of_an_empty_plan_says_no_changes() {
    let t = plain(&empty_plan());
    assert_eq!(
        t,
        "Plan for local control plane \"default\" at .plugsync/local.db\n\n\
         No changes. The control plane matches the state.\n"
    );
}

#[test]
fn text_is_coloured_only_when_asked() {
    let plan = full_plan();
    let bare = plain(&plan);
    assert!(!bare.contains('\x1b'));
    let coloured = text(&plan, &TextOptions { color: true });
    for painted in [
        "\x1b[32m+\x1b[0m rate-guard-v2",
        "\x1b[33m~\x1b[0m add-header",
        "\x1b[36m±\x1b[0m rate-guard-v2",
        "\x1b[31m-\x1b[0m rate-guard",
        "\x1b[1mWarning: this plan deletes",
        "\x1b[1mPlan: 3 to create",
    ] {
        assert!(coloured.contains(painted), "missing {painted:?}");
    }
    assert!(!plain(&empty_plan()).contains('\x1b'));
}

#[test]
fn text_escapes_control_characters() {
    let mut plan = full_plan();
    plan.custom_plugins[0].name = "evil\x1b[2Jname".into();
    let t = plain(&plan);
    assert!(!t.contains('\x1b'));
    assert!(t.contains("evil\\u{1b}[2Jname"));
}

#[test]
fn renderings_never_show_step_bodies() {
    let plan = full_plan();
    let md = markdown(&plan, &MarkdownOptions::default());
    for out in [plain(&plan), md.clone()] {
        assert!(!out.contains(SECRET_IN_BODY));
        assert!(!out.contains("PLUGSYNC_KEY"));
    }
    // Masked values stay masked.
    assert!(plain(&plan).contains("\"[masked]\""));
    assert!(md.contains("\"[masked]\""));
}

#[test]
fn markdown_has_summary_banners_tables_and_details() {
    let md = markdown(&full_plan(), &MarkdownOptions::default());
    assert!(md.starts_with("## plugsync plan for local control plane `default`\n"));
    assert!(md.contains(
        "Target: `.plugsync/local.db` · State: commit `0123abcd` (with uncommitted changes) · Select tags: `team-a`\n"
    ));
    assert!(md.contains(
        "| create | update | migrate | delete | unchanged |\n|---:|---:|---:|---:|---:|\n| 3 | 2 | 1 | 2 | 7 |\n"
    ));
    assert!(md.contains("> **Warning**: this plan deletes 1 custom plugin and 1 plugin instance\n"));
    assert!(md.contains("> - custom plugin `rate-guard`\n"));
    assert!(md.contains("> **Warning**: `rate-guard-v2` has update path long\n"));
    assert!(md.contains("### Custom plugins\n"));
    assert!(md.contains("| `+` | `rate-guard-v2` (replaces `rate-guard`) | create | **long** |\n"));
    assert!(md.contains("| `~` | `add-header` | update | short |\n"));
    assert!(md.contains("| `+` | `audit` | create | — |\n"));
    assert!(md.contains("| `-` | `rate-guard` | delete | — |\n"));
    assert!(md.contains("### Plugin instances\n"));
    assert!(md.contains(
        "| `±` migrate | `rate-guard-v2` ← `rate-guard` | `payments-guard` | service=payments | `11111111-1111-4111-8111-111111111111` | `config.limit`: `10` → `20`<br>`config.window`: `(unset)` → `60` |\n"
    ));
    // `|` is escaped in cells, also inside code spans.
    assert!(md.contains("| `orders\\|header` |"));
    assert!(md.contains("`config.redis.host`: `(unset)` → `\"h\"`"));
    assert!(md.contains("| `-` delete | `rate-guard` | — | route=legacy |"));
    // One details block per plugin with something to show (not the deletion).
    assert_eq!(md.matches("<details>").count(), 3);
    assert_eq!(md.matches("</details>").count(), 3);
    assert!(md.contains(
        "<details><summary><code>+</code> <b>rate-guard-v2</b>: create, replaces <b>rate-guard</b>, update path <b>long</b></summary>\n"
    ));
    assert!(md.contains("**Schema changes** (against `rate-guard`)\n"));
    assert!(md.contains("| `config.window` | added | yes | no | long |  |\n"));
    assert!(md.contains("| `config.limit` | default\\_changed | no | yes | short | 10 → 20 |\n"));
    assert!(md.contains(
        "```diff\n--- live/rate-guard/handler.lua\n+++ desired/rate-guard-v2/handler.lua\n"
    ));
    assert!(md.contains("**Tags**: `[\"payments\"]` → `[\"payments\",\"team-a\"]`\n"));
    assert!(md.contains("**schema.lua**: new file, "));
    assert!(!md.contains("long_schema_line"));
    assert!(!md.contains("truncated"));
    // The tables come before the bulky details.
    let details = md.find("<details>").expect("details");
    assert!(md.find("### Plugin instances").is_some_and(|i| i < details));
}

#[test]
fn markdown_of_an_empty_plan_says_no_changes() {
    let md = markdown(&empty_plan(), &MarkdownOptions::default());
    assert!(md.contains("| 0 | 0 | 0 | 0 | 7 |\n"));
    assert!(md.ends_with("**No changes.** The control plane matches the state.\n"));
    assert!(!md.contains("> **Warning**"));
    assert!(!md.contains("<details>"));
}

#[test]
fn markdown_maintenance_window_banner() {
    let md = markdown(&in_place_plan(), &MarkdownOptions::default());
    assert!(md.contains("> **Important**: this plan needs a maintenance window\n"));
    assert!(md.contains("> **Warning**: `guard` has update path cp_dp_sync\n"));
    assert!(md.contains("| `guard` | update | **cp\\_dp\\_sync** |"));
}

#[test]
fn entity_checks_have_no_field_attributes() {
    let mut plan = in_place_plan();
    plan.custom_plugins[0].schema_changes.push(SchemaChange {
        detail: Some("at_least_one_of gained \"b\"".into()),
        ..change(
            "config.@entity",
            ChangeKind::ConstraintChanged,
            false,
            UpdatePath::Long,
        )
    });
    let t = plain(&plan);
    assert!(t.contains(
        "        config.@entity: constraint_changed → long — at_least_one_of gained \"b\"\n"
    ));
    let md = markdown(&plan, &MarkdownOptions::default());
    assert!(md.contains("| `config.@entity` | constraint\\_changed | — | — | long |"));
}

#[test]
fn markdown_fences_cannot_be_closed_by_lua() {
    let mut plan = empty_plan();
    let mut c = custom("fence", "update");
    c.detail.handler = Some(("-- ```\nreturn {}\n".into(), "-- ````\nreturn {}\n".into()));
    plan.custom_plugins.push(c);
    plan.summary.update = 1;
    let md = markdown(&plan, &MarkdownOptions::default());
    assert!(md.contains("\n`````diff\n"), "{md}");
    assert!(md.contains("\n`````\n"), "{md}");
}

fn big_plan(plugins: usize) -> Plan {
    let mut plan = empty_plan();
    for i in 0..plugins {
        let mut c = custom(&format!("plugin-{i:02}"), "update");
        c.update_path = UpdatePath::Short;
        c.detail.handler = Some((lua_lines("old", 200), lua_lines("new", 200)));
        plan.custom_plugins.push(c);
        let mut inst = instance(&format!("plugin-{i:02}"), "update", &format!("id-{i}"));
        inst.changes = vec![fc("config.x", Some(json!(1)), Some(json!(2)))];
        plan.plugins.push(inst);
    }
    plan.summary.update = plugins * 2;
    plan
}

#[test]
fn markdown_is_cut_between_blocks_with_a_note() {
    let plan = big_plan(40);
    let full = markdown(
        &plan,
        &MarkdownOptions {
            max_chars: usize::MAX,
        },
    );
    assert!(full.len() > 60_000);
    assert!(!full.contains("truncated"));

    for max in [60_000, 20_000, 5_000, 800] {
        let md = markdown(&plan, &MarkdownOptions { max_chars: max });
        assert!(md.len() <= max, "{} > {max}", md.len());
        assert!(md.contains(&format!(
            "> **Note**: this report was truncated to fit {max} characters: "
        )));
        assert!(md.contains(" sections (") || md.contains(" section ("));
        assert!(md.ends_with("hold the full plan.\n"));
        // Cut at a block boundary: every details block that starts also ends, no fence is open.
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count()
        );
        assert_eq!(md.matches("```").count() % 2, 0);
        // What is kept is a prefix of the full report.
        let note = md.rfind("\n> **Note**").expect("the note");
        assert!(full.starts_with(&md[..note]));
    }
    // The summary survives a small limit.
    let md = markdown(&plan, &MarkdownOptions { max_chars: 5_000 });
    assert!(md.contains("| 0 | 80 | 0 | 0 | 7 |"));
}

#[test]
fn markdown_note_counts_what_was_left_out() {
    let plan = big_plan(3);
    let full = markdown(
        &plan,
        &MarkdownOptions {
            max_chars: usize::MAX,
        },
    );
    let max = full.len() - 1;
    let md = markdown(&plan, &MarkdownOptions { max_chars: max });
    assert!(md.len() <= max);
    let note = md.rfind("\n> **Note**").expect("the note");
    let left_out = full.len() - note;
    assert!(
        md.contains(&format!("1 section ({left_out} characters) was left out")),
        "{}",
        &md[note..]
    );
}

#[test]
fn markdown_respects_even_a_tiny_limit() {
    for max in [0, 1, 10, 50] {
        let md = markdown(&full_plan(), &MarkdownOptions { max_chars: max });
        assert!(md.len() <= max);
    }
}

#[test]
fn objects_are_expanded_to_leaves() {
    let mut p = instance("x", "update", "id");
    p.changes = vec![
        fc(
            "config.r",
            Some(json!({"a": 1, "b": {"c": 2}, "same": true})),
            Some(json!({"a": 1, "b": {"c": 3}, "same": true, "d": null})),
        ),
        fc("config.list", Some(json!([1, 2])), Some(json!([2]))),
        fc("config.gone", Some(json!({"k": "v"})), None),
    ];
    let leaves: Vec<(String, String, String)> = leaf_changes(&p)
        .into_iter()
        .map(|l| (l.path, compact(l.old.as_ref()), compact(l.new.as_ref())))
        .collect();
    let expected = [
        ("config.r.b.c", "2", "3"),
        ("config.list", "[1,2]", "[2]"),
        ("config.gone.k", "\"v\"", "(unset)"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(leaves, expected);
}

#[test]
fn renderings_are_deterministic() {
    let plan = full_plan();
    assert_eq!(plain(&plan), plain(&plan.clone()));
    assert_eq!(
        markdown(&plan, &MarkdownOptions::default()),
        markdown(&plan.clone(), &MarkdownOptions::default())
    );
    assert_eq!(json(&plan), json(&plan.clone()));
}
