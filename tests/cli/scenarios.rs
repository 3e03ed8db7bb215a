//! Plan scenarios: each folder of `testdata/scenarios/` holds a desired state (`state/`), a
//! live control plane (`live.json`, in the API's JSON shapes; `handler_file` and `schema_file`
//! keys read Lua from files beside it), optional `options.json` (`allow_in_place`,
//! `allow_empty`, `select_tags`, `env`), and the expected results as insta snapshots:
//! `plan.json.snap`, `plan.txt.snap` and `plan.md.snap` (the plan as `--format
//! json|text|markdown` print it) or `error.txt.snap` (why no plan was made).
//!
//! One test per scenario and rendering (the table at the end), so one failure hides no other;
//! a folder missing from the table fails `every_scenario_folder_has_a_test`. New output is
//! accepted with `cargo insta review` after reading the diff (CONTRIBUTING.md).

use std::collections::BTreeMap;
use std::path::Path;

use plugsync::model::LiveState;
use plugsync::ops::plan::prepare;
use plugsync::plan::{PlanOptions, SourceInfo, TargetInfo};
use serde_json::Value;

use crate::{case_folders, root, snapshot};

fn read_live(dir: &Path) -> LiveState {
    let text = std::fs::read_to_string(dir.join("live.json")).unwrap_or_else(|_| "{}".into());
    let mut v: Value = serde_json::from_str(&text).expect("live.json parses");
    // `handler_file`/`schema_file` name Lua files beside live.json.
    if let Some(list) = v.get_mut("custom_plugins").and_then(Value::as_array_mut) {
        for c in list {
            for (file_key, key) in [("handler_file", "handler"), ("schema_file", "schema")] {
                if let Some(f) = c.get(file_key).and_then(Value::as_str) {
                    let text = std::fs::read_to_string(dir.join(f)).expect("lua file");
                    c[key] = Value::String(text);
                }
            }
        }
    }
    LiveState::from_json(&v).expect("live.json holds a live state")
}

/// The plan as JSON, text and Markdown, or the error.
fn run(dir: &Path) -> Result<(String, String, String), String> {
    let options: Value = std::fs::read_to_string(dir.join("options.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).expect("options.json parses"))
        .unwrap_or(Value::Null);
    let env: BTreeMap<String, String> = options
        .get("env")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let lookup = |name: &str| env.get(name).cloned();
    let loaded = plugsync::state::load(&[dir.join("state")], &plugsync::state::WorkTree, &lookup);
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert!(errors.is_empty(), "{}: {errors:?}", dir.display());
    let mut select_tags: Vec<String> = loaded.state.select_tags.clone();
    if let Some(extra) = options.get("select_tags").and_then(Value::as_array) {
        select_tags.extend(extra.iter().filter_map(Value::as_str).map(str::to_string));
    }
    select_tags.sort();
    select_tags.dedup();
    let (live, unmanaged) = read_live(dir).into_scope(&select_tags, None);
    let opts = PlanOptions {
        allow_in_place: options
            .get("allow_in_place")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        allow_empty: options
            .get("allow_empty")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        select_tags,
        unmanaged_references: unmanaged,
    };
    let mut n = 0u32;
    let mut new_id = || {
        n += 1;
        format!("00000000-0000-4000-8000-{n:012}")
    };
    let target = TargetInfo {
        kind: plugsync::model::TargetKind::Local,
        address: "scenario".into(),
        control_plane: "default".into(),
    };
    let result = match prepare(
        &loaded.state,
        &live,
        target,
        SourceInfo::default(),
        &opts,
        &mut new_id,
    ) {
        Ok(plan) => Ok((
            plugsync::render::json(&plan),
            plugsync::render::text(&plan, &plugsync::render::TextOptions { color: false }),
            plugsync::render::markdown(&plan, &plugsync::render::MarkdownOptions::default()),
        )),
        Err(e) => Err(e.to_string() + "\n"),
    };
    // Values from the environment are secrets: never in a plan, a rendering or an error.
    let all = match &result {
        Ok((a, b, c)) => format!("{a}{b}{c}"),
        Err(t) => t.clone(),
    };
    for value in env.values() {
        assert!(
            !all.contains(value.as_str()),
            "{}: a secret leaked",
            dir.display()
        );
    }
    result
}

/// The scenario folder `case`, its plan rendered (JSON, text, Markdown) or the error.
fn scenario(case: &str) -> (std::path::PathBuf, Result<(String, String, String), String>) {
    let dir = root().join("testdata/scenarios").join(case);
    let result = run(&dir);
    (dir, result)
}

/// Which rendering a plan test checks.
#[derive(Clone, Copy)]
enum Rendering {
    Json,
    Text,
    Markdown,
}

fn check_plan(case: &str, rendering: Rendering) {
    let (dir, result) = scenario(case);
    assert!(
        !dir.join("error.txt.snap").exists(),
        "{case}: error.txt.snap says no plan is made, and the table lists it as a plan"
    );
    let (json, text, markdown) = result.unwrap_or_else(|e| panic!("{case}: no plan: {e}"));
    match rendering {
        Rendering::Json => snapshot(&dir, "plan.json", &json),
        Rendering::Text => snapshot(&dir, "plan.txt", &text),
        Rendering::Markdown => snapshot(&dir, "plan.md", &markdown),
    }
}

fn check_error(case: &str) {
    let (dir, result) = scenario(case);
    assert!(
        !dir.join("plan.json.snap").exists(),
        "{case}: plan.json.snap says a plan is made, and the table lists it as an error"
    );
    match result {
        Ok((json, _, _)) => panic!("{case}: expected an error, got a plan:\n{json}"),
        Err(err) => snapshot(&dir, "error.txt", &err),
    }
}

/// One module per scenario: `plan` scenarios get a test per rendering, `error` ones a test of
/// the error; plus a check that the table lists every folder.
macro_rules! scenarios {
    ($($outcome:ident $module:ident: $case:literal,)*) => {
        $(scenarios!(@one $outcome $module $case);)*

        #[test]
        fn every_scenario_folder_has_a_test() {
            let mut listed = vec![$($case.to_string()),*];
            listed.sort();
            assert_eq!(
                case_folders("scenarios"),
                listed,
                "each folder of testdata/scenarios/ needs a line in the table of tests/cli/scenarios.rs"
            );
        }
    };
    (@one plan $module:ident $case:literal) => {
        mod $module {
            use super::{check_plan, Rendering};

            #[test]
            fn json() {
                check_plan($case, Rendering::Json);
            }

            #[test]
            fn text() {
                check_plan($case, Rendering::Text);
            }

            #[test]
            fn markdown() {
                check_plan($case, Rendering::Markdown);
            }
        }
    };
    (@one error $module:ident $case:literal) => {
        mod $module {
            #[test]
            fn error() {
                super::check_error($case);
            }
        }
    };
}

scenarios! {
    plan classification_table: "classification-table",
    plan first_sync: "first-sync",
    plan handler_only: "handler-only",
    plan in_place_long_allowed: "in-place-long-allowed",
    error in_place_long_refused: "in-place-long-refused",
    plan protected: "protected",
    plan replaces_migration: "replaces-migration",
    plan secrets: "secrets",
    plan select_tags: "select-tags",
}
