//! `plugsync lint` over the testdata corpus: each case directory of `testdata/lint/` holds a
//! state, optional extra arguments (`args`) and the expected output (`expected.txt`: the exit
//! code on the first line, then stdout).

use crate::{golden, plugsync, root};

fn run_case(case: &str) -> (i32, String) {
    let dir = root().join("testdata/lint").join(case);
    let mut args = vec![
        "lint".to_string(),
        "-s".to_string(),
        format!("testdata/lint/{case}"),
    ];
    if let Ok(extra) = std::fs::read_to_string(dir.join("args")) {
        args.extend(extra.split_whitespace().map(str::to_string));
    }
    let out = plugsync(&root())
        .args(&args)
        .output()
        .expect("run plugsync");
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stdout).to_string())
}

#[test]
fn corpus_matches_golden_output() {
    let mut cases: Vec<String> = std::fs::read_dir(root().join("testdata/lint"))
        .expect("testdata/lint exists")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .to_string()
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 17, "one case per rule at least: {cases:?}");
    for case in cases {
        let (code, stdout) = run_case(&case);
        golden(
            &root()
                .join("testdata/lint")
                .join(&case)
                .join("expected.txt"),
            &format!("exit: {code}\n{stdout}"),
        );
    }
}

#[test]
fn every_rule_fires_in_at_least_one_case() {
    let mut missing = Vec::new();
    for rule in plugsync::lint::rules::RULES {
        let found = std::fs::read_dir(root().join("testdata/lint"))
            .expect("testdata/lint")
            .any(|e| {
                let p = e.expect("entry").path().join("expected.txt");
                std::fs::read_to_string(p)
                    .map(|t| {
                        t.contains(&format!("error[{}]", rule.id))
                            || t.contains(&format!("warning[{}]", rule.id))
                    })
                    .unwrap_or(false)
            });
        if !found {
            missing.push(rule.id);
        }
    }
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
    let deck = root().join("../shared/compat/deck");
    if !deck.exists() {
        eprintln!("skipped: ../shared/compat/deck is not beside the repository");
        return;
    }
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
