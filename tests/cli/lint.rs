//! `plugsync lint` over the testdata corpus: each case directory of `testdata/lint/` holds a
//! state, optional extra arguments (`args`) and the expected output as an insta snapshot
//! (`expected.txt.snap`: the exit code on the first line, then stdout). One test per case (the
//! table below); a folder missing from the table fails `every_lint_case_has_a_test`.

use std::path::Path;

use crate::{case_folders, copy_dir, plugsync, root, snapshot};

/// Runs the lint of `case` in a repository of its own: a temporary folder marked as a
/// repository root (an empty `.git`) holding copies of `testdata/lint/CASE` and `testdata/lua`
/// at their usual places. Plugin paths may leave the state file's folder only inside a
/// repository (`valid-kong-like` reaches into `testdata/lua`), so the result no longer depends
/// on whether the tests run inside a git checkout; paths in the output are the same.
fn run_case(case: &str) -> (i32, String) {
    let repo = tempfile::tempdir().expect("tempdir");
    let from = root().join("testdata");
    copy_dir(
        &from.join("lint").join(case),
        &repo.path().join("testdata/lint").join(case),
    );
    copy_dir(&from.join("lua"), &repo.path().join("testdata/lua"));
    std::fs::create_dir(repo.path().join(".git")).expect("mkdir .git");
    let mut args = vec![
        "lint".to_string(),
        "-s".to_string(),
        format!("testdata/lint/{case}"),
    ];
    if let Ok(extra) = std::fs::read_to_string(from.join("lint").join(case).join("args")) {
        args.extend(extra.split_whitespace().map(str::to_string));
    }
    let out = plugsync(repo.path())
        .args(&args)
        .output()
        .expect("run plugsync");
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stdout).to_string())
}

fn check_case(case: &str) {
    let (code, stdout) = run_case(case);
    snapshot(
        &root().join("testdata/lint").join(case),
        "expected.txt",
        &format!("exit: {code}\n{stdout}"),
    );
}

/// One test per case of `testdata/lint/`, plus a check that the table lists every folder.
macro_rules! lint_cases {
    ($($test:ident: $case:literal,)*) => {
        mod case {
            $(
                #[test]
                fn $test() {
                    super::check_case($case);
                }
            )*
        }

        #[test]
        fn every_lint_case_has_a_test() {
            let mut listed = vec![$($case.to_string()),*];
            listed.sort();
            let folders = case_folders("lint");
            assert_eq!(
                folders, listed,
                "each folder of testdata/lint/ needs a line in the table of tests/cli/lint.rs"
            );
            assert!(folders.len() >= 17, "one case per rule at least: {folders:?}");
        }
    };
}

lint_cases! {
    duplicate_name: "duplicate-name",
    extra_files: "extra-files",
    file_size: "file-size",
    filesystem: "filesystem",
    handler_shape: "handler-shape",
    hybrid_mode: "hybrid-mode",
    init_worker: "init-worker",
    instance_config: "instance-config",
    instance_scope: "instance-scope",
    instance_unknown_plugin: "instance-unknown-plugin",
    lua_syntax: "lua-syntax",
    replaces: "replaces",
    require: "require",
    schema_custom_validation: "schema-custom-validation",
    schema_invalid: "schema-invalid",
    schema_name_mismatch: "schema-name-mismatch",
    timer: "timer",
    valid_kong_like: "valid-kong-like",
    yaml: "yaml",
}

/// The expected output of every case (the snapshots' contents).
fn expected_outputs() -> Vec<String> {
    case_folders("lint")
        .iter()
        .map(|case| {
            let p = root()
                .join("testdata/lint")
                .join(case)
                .join("expected.txt.snap");
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

#[test]
fn every_rule_fires_in_at_least_one_case() {
    let outputs = expected_outputs();
    let missing: Vec<&str> = plugsync::lint::rules::RULES
        .iter()
        .map(|rule| rule.id)
        .filter(|id| {
            !outputs.iter().any(|t| {
                t.contains(&format!("error[{id}]")) || t.contains(&format!("warning[{id}]"))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "rules with no failing corpus case: {missing:?}"
    );
}

#[test]
fn every_rule_is_documented() {
    let doc = std::fs::read_to_string(root().join("docs/lints.md")).expect("docs/lints.md");
    for rule in plugsync::lint::rules::RULES {
        assert!(
            doc.contains(&format!("| <a id=\"{0}\"></a>`{0}` |", rule.id)),
            "docs/lints.md lacks a row for {} with its anchor (SARIF help links point at it)",
            rule.id
        );
    }
}

#[test]
fn quickstart_lints_clean() {
    let out = plugsync(&root())
        .args(["lint", "-s", "examples/quickstart"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("linted 2 custom plugins and 2 instances: 0 errors, 0 warnings"),
        "{err}"
    );
}

/// The lint cache never changes an answer: a cold cache, the warm one, `--no-cache` and
/// `PLUGSYNC_NO_CACHE=1` give the same exit code and output; the last two write nothing.
#[test]
fn the_lint_cache_changes_no_answer_and_can_be_bypassed() {
    let cache = tempfile::tempdir().expect("tempdir");
    let unused = tempfile::tempdir().expect("tempdir");
    let run = |dir: &Path, flag: Option<&str>, env: Option<&str>| {
        let mut cmd = plugsync(&root());
        cmd.env("PLUGSYNC_CACHE_DIR", dir).args([
            "lint",
            "-s",
            "testdata/lint/require",
            "-s",
            "testdata/lint/handler-shape",
        ]);
        cmd.args(flag);
        if let Some(v) = env {
            cmd.env("PLUGSYNC_NO_CACHE", v);
        }
        let out = cmd.output().expect("run plugsync");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let files = |dir: &Path| {
        walk(dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .count()
    };
    let cold = run(cache.path(), None, None);
    assert!(cold.1.contains("error"), "{}", cold.1);
    let stored = files(cache.path());
    assert!(stored >= 2, "{stored} entries");
    assert_eq!(run(cache.path(), None, None), cold, "warm");
    assert_eq!(
        run(unused.path(), Some("--no-cache"), None),
        cold,
        "--no-cache"
    );
    assert_eq!(
        run(unused.path(), None, Some("1")),
        cold,
        "PLUGSYNC_NO_CACHE=1"
    );
    assert_eq!(files(unused.path()), 0, "bypassed caches write nothing");
    assert_eq!(files(cache.path()), stored);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn json_format_is_machine_readable() {
    let out = plugsync(&root())
        .args([
            "lint",
            "-s",
            "testdata/lint/instance-config",
            "--format",
            "json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["format_version"], 1);
    let diags = v["diagnostics"].as_array().expect("diagnostics");
    assert!(!diags.is_empty());
    for d in diags {
        assert_eq!(d["rule"], "instance-config");
        assert_eq!(d["severity"], "error");
        assert!(d["line"].as_u64().unwrap() > 0);
        assert!(d["file"].as_str().unwrap().ends_with("plugsync.yaml"));
    }
    assert_eq!(
        v["summary"]["errors"].as_u64().unwrap() as usize,
        diags.len()
    );
}

#[test]
fn env_values_never_appear_in_output() {
    for format in ["text", "json", "markdown"] {
        let out = plugsync(&root())
            .args([
                "lint",
                "-s",
                "testdata/lint/instance-config",
                "--format",
                format,
            ])
            .output()
            .expect("run");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("hunter2"), "{format}: {all}");
        assert!(all.contains("[masked]"), "{format}: {all}");
    }
}

#[test]
fn usage_errors_exit_1_not_2() {
    let out = plugsync(&root())
        .args(["lint", "--no-such-flag"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let out = plugsync(&root())
        .args(["frobnicate"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let out = plugsync(&root()).args(["--help"]).output().expect("run");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn deck_compat_files_lint_clean() {
    let deck = crate::deck::corpus();
    for entry in std::fs::read_dir(&deck).expect("compat dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".yaml") || name.contains("update-plugin-config") {
            continue;
        }
        let out = plugsync(&root())
            .args(["lint", "-s"])
            .arg(&path)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // Instances only: lints together with the file that declares their plugin.
    let out = plugsync(&root())
        .args(["lint", "-s"])
        .arg(deck.join("apply--014-custom-plugin-definitions--update-cpd.yaml"))
        .arg("-s")
        .arg(deck.join("apply--014-custom-plugin-definitions--update-plugin-config.yaml"))
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let alone = plugsync(&root())
        .args(["lint", "-s"])
        .arg(deck.join("apply--014-custom-plugin-definitions--update-plugin-config.yaml"))
        .output()
        .expect("run");
    assert_eq!(alone.status.code(), Some(1));
}
