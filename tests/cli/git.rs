//! Git integration end to end: `--git-ref` on lint, diff, plan and sync, the offline review
//! `diff --base/--head` over a temporary repository with several commits, its errors, and
//! `source` in saved plans.

use std::path::Path;

use serde_json::Value;

use crate::{git, git_commit, plugsync, Server};

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

fn handler(version: &str, header: &str) -> String {
    format!(
        "local P = {{ PRIORITY = 900, VERSION = \"{version}\" }}\n\n\
         function P:access(conf)\n  kong.service.request.set_header(\"{header}\", conf.value)\nend\n\n\
         return P\n"
    )
}

fn schema(name: &str, extra_fields: &str) -> String {
    format!(
        "return {{\n  name = \"{name}\",\n  fields = {{\n    {{ config = {{\n      type = \"record\",\n      fields = {{\n        {{ value = {{ type = \"string\", required = true, default = \"on\" }} }},\n{extra_fields}      }},\n    }} }},\n  }},\n}}\n"
    )
}

const STATE_1: &str = r#"_format_version: "3.0"
custom_plugins:
  - name: guard
    path: plugins/guard
  - name: header
    path: plugins/header
plugins:
  - name: guard
    service: payments
    config:
      value: strict
      window: 30
  - name: header
    instance_name: add-header
    config:
      value: x
"#;

const STATE_2: &str = r#"_format_version: "3.0"
custom_plugins:
  - name: guard
    path: plugins/guard
  - name: header
    path: plugins/header
  - name: tagger
    path: plugins/tagger
plugins:
  - name: guard
    service: payments
    config:
      value: strict
      window: 30
  - name: header
    instance_name: add-header
    config:
      value: x
  - name: tagger
    instance_name: tag-all
    config:
      value: team-a
"#;

const STATE_3: &str = r#"_format_version: "3.0"
custom_plugins:
  - name: guard-v2
    path: plugins/guard-v2
    replaces: guard
  - name: header
    path: plugins/header
  - name: tagger
    path: plugins/tagger
plugins:
  - name: guard-v2
    service: payments
    config:
      value: strict
      window: 30
      limit: 100
  - name: header
    instance_name: add-header
    config:
      value: x
  - name: tagger
    instance_name: tag-all
    config:
      value: team-a
"#;

const STATE_5: &str = r#"_format_version: "3.0"
custom_plugins:
  - name: guard-v2
    path: plugins/guard-v2
    replaces: guard
  - name: tagger
    path: plugins/tagger
plugins:
  - name: guard-v2
    service: payments
    config:
      value: strict
      window: 30
      limit: 100
  - name: tagger
    instance_name: tag-all
    config:
      value: team-a
"#;

const WINDOW: &str =
    "        { window = { type = \"integer\", required = true, default = 60 } },\n";
const LIMIT: &str = "        { limit = { type = \"integer\", required = true } },\n";

/// The commits of the history the tests review, oldest first.
struct History {
    dir: tempfile::TempDir,
    /// Two plugins (`guard` on service `payments`, `header`) and their instances.
    initial: String,
    /// `tagger` added, with an instance.
    added: String,
    /// `guard-v2` replaces `guard`, adding a required field without a default (long).
    breaking: String,
    /// Only `tagger`'s handler changes (update path none).
    handler_only: String,
    /// `header` and its instance deleted.
    deleted: String,
}

fn history() -> History {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    git(root, &["init", "-q"]);
    write(root, "plugsync.yaml", STATE_1);
    write(
        root,
        "plugins/guard/handler.lua",
        &handler("1.0.0", "X-Guard"),
    );
    write(root, "plugins/guard/schema.lua", &schema("guard", WINDOW));
    write(
        root,
        "plugins/header/handler.lua",
        &handler("1.0.0", "X-Header"),
    );
    write(root, "plugins/header/schema.lua", &schema("header", ""));
    let initial = git_commit(root, "two plugins");

    write(root, "plugsync.yaml", STATE_2);
    write(
        root,
        "plugins/tagger/handler.lua",
        &handler("1.0.0", "X-Tag"),
    );
    write(root, "plugins/tagger/schema.lua", &schema("tagger", ""));
    let added = git_commit(root, "add tagger");

    write(root, "plugsync.yaml", STATE_3);
    std::fs::remove_dir_all(root.join("plugins/guard")).expect("rm guard");
    write(
        root,
        "plugins/guard-v2/handler.lua",
        &handler("2.0.0", "X-Guard"),
    );
    write(
        root,
        "plugins/guard-v2/schema.lua",
        &schema("guard-v2", &format!("{WINDOW}{LIMIT}")),
    );
    let breaking = git_commit(root, "guard-v2 replaces guard");

    write(
        root,
        "plugins/tagger/handler.lua",
        &handler("1.0.1", "X-Team-Tag"),
    );
    let handler_only = git_commit(root, "tagger handler only");

    write(root, "plugsync.yaml", STATE_5);
    std::fs::remove_dir_all(root.join("plugins/header")).expect("rm header");
    let deleted = git_commit(root, "drop header");
    History {
        dir,
        initial,
        added,
        breaking,
        handler_only,
        deleted,
    }
}

/// `plugsync diff --base BASE --head HEAD --format FORMAT`: (exit code, stdout, stderr).
fn review(h: &History, base: &str, head: &str, format: &str) -> (i32, String, String) {
    let out = plugsync(h.dir.path())
        .args(["diff", "--base", base, "--head", head, "--exit-code"])
        .args(["--format", format])
        .output()
        .expect("run plugsync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn review_json(h: &History, base: &str, head: &str) -> Value {
    let (code, stdout, stderr) = review(h, base, head, "json");
    assert_eq!(code, 2, "changes exit 2; stderr:\n{stderr}");
    serde_json::from_str(&stdout).expect("the review is JSON")
}

fn plugin<'v>(plan: &'v Value, name: &str) -> &'v Value {
    plan["custom_plugins"]
        .as_array()
        .expect("custom_plugins")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no custom plugin {name} in {plan:#}"))
}

#[test]
fn review_of_an_added_plugin() {
    let h = history();
    let plan = review_json(&h, &h.initial, &h.added);
    assert_eq!(plan["format_version"], 1);
    assert_eq!(plan["target"]["kind"], "git");
    assert_eq!(plan["target"]["address"], h.initial.as_str());
    assert_eq!(plan["source"]["git_commit"], h.added.as_str());
    assert_eq!(plan["source"]["dirty"], false);
    assert_eq!(plan["summary"]["create"], 2);
    assert_eq!(plan["summary"]["unchanged"], 4);
    let tagger = plugin(&plan, "tagger");
    assert_eq!(tagger["action"], "create");
    assert_eq!(tagger["update_path"], "none");
    assert_eq!(tagger["live_handler_sha256"], Value::Null);
    let instances = plan["plugins"].as_array().expect("plugins");
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0]["action"], "create");
    assert_eq!(instances[0]["instance_name"], "tag-all");
}

#[test]
fn review_of_a_breaking_change_with_replaces() {
    let h = history();
    let plan = review_json(&h, &h.added, &h.breaking);
    let v2 = plugin(&plan, "guard-v2");
    assert_eq!(v2["action"], "create");
    assert_eq!(v2["replaces"], "guard");
    assert_eq!(v2["update_path"], "long");
    let changes = v2["schema_changes"].as_array().expect("schema changes");
    let limit = changes
        .iter()
        .find(|c| c["field"] == "config.limit")
        .unwrap_or_else(|| panic!("config.limit in {changes:#?}"));
    assert_eq!(limit["change"], "added");
    assert_eq!(limit["required"], true);
    assert_eq!(limit["has_default"], false);
    assert_eq!(limit["update_path"], "long");
    assert_eq!(plugin(&plan, "guard")["action"], "delete");
    let migrate = plan["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .find(|p| p["action"] == "migrate")
        .expect("a migration");
    assert_eq!(migrate["name"], "guard-v2");
    assert_eq!(migrate["from"], "guard");
    assert_eq!(migrate["scope"]["service"], "payments");
    assert!(migrate["changed_fields"]
        .as_array()
        .expect("changed fields")
        .iter()
        .any(|f| f == "config.limit"));
    let steps: Vec<(u64, &str, &str)> = plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["stage"].as_u64().unwrap_or(0),
                s["action"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (1, "create", "guard-v2"),
            (2, "migrate", "guard-v2"),
            (4, "delete", "guard"),
        ]
    );

    let (code, md, stderr) = review(&h, &h.added, &h.breaking, "markdown");
    assert_eq!(code, 2, "{stderr}");
    assert!(md.contains("## plugsync review against"), "{md}");
    assert!(md.contains(&format!("Base commit: `{}`", h.added)), "{md}");
    assert!(
        md.contains("> **Warning**: `guard-v2` has update path long"),
        "the long-path banner: {md}"
    );
    assert!(
        md.contains("> **Warning**: this plan deletes 1 custom plugin"),
        "the deletion banner: {md}"
    );
    assert!(
        md.contains("| `+` | `guard-v2` (replaces `guard`) | create | **long** |"),
        "{md}"
    );
    assert!(
        md.contains("| `config.limit` | added | yes | no | long |"),
        "{md}"
    );
    assert!(
        md.contains("<details><summary><code>+</code> <b>guard-v2</b>"),
        "{md}"
    );
    assert!(
        md.contains("| `±` migrate | `guard-v2` ← `guard` |"),
        "{md}"
    );

    let (code, text, _) = review(&h, &h.added, &h.breaking, "text");
    assert_eq!(code, 2);
    assert!(text.contains("± guard-v2 ← guard"), "{text}");
    assert!(
        text.contains("config.limit: added (required, no default) → long"),
        "{text}"
    );
    assert!(text.contains("- guard"), "{text}");
}

#[test]
fn review_of_a_handler_only_change() {
    let h = history();
    let plan = review_json(&h, &h.breaking, &h.handler_only);
    let tagger = plugin(&plan, "tagger");
    assert_eq!(tagger["action"], "update");
    assert_eq!(tagger["update_path"], "none");
    assert_eq!(tagger["schema_changes"], serde_json::json!([]));
    assert_ne!(tagger["handler_sha256"], tagger["live_handler_sha256"]);
    assert_eq!(tagger["schema_sha256"], tagger["live_schema_sha256"]);
    assert_eq!(plan["plugins"], serde_json::json!([]));
    assert_eq!(plan["summary"]["update"], 1);

    let (code, md, _) = review(&h, &h.breaking, &h.handler_only, "markdown");
    assert_eq!(code, 2);
    // The Lua diff of the handler, line by line.
    assert!(
        md.contains("-local P = { PRIORITY = 900, VERSION = \"1.0.0\" }"),
        "{md}"
    );
    assert!(
        md.contains("+local P = { PRIORITY = 900, VERSION = \"1.0.1\" }"),
        "{md}"
    );
    assert!(md.contains("X-Team-Tag"), "{md}");
    assert!(md.contains("| `~` | `tagger` | update | none |"), "{md}");
    assert!(!md.contains("has update path"), "no breaking banner: {md}");
}

#[test]
fn review_of_a_deleted_plugin() {
    let h = history();
    let plan = review_json(&h, &h.handler_only, &h.deleted);
    assert_eq!(plugin(&plan, "header")["action"], "delete");
    let deleted = plan["plugins"].as_array().expect("plugins");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["action"], "delete");
    assert_eq!(deleted[0]["instance_name"], "add-header");
    assert_eq!(plan["summary"]["delete"], 2);
    let (code, md, _) = review(&h, &h.handler_only, &h.deleted, "markdown");
    assert_eq!(code, 2);
    assert!(md.contains("header"), "{md}");
    assert!(md.contains("| - |") || md.contains("delete"), "{md}");
    assert!(
        md.to_lowercase().contains("deletes"),
        "a deletion banner: {md}"
    );
}

#[test]
fn review_without_changes_and_against_the_working_tree() {
    let h = history();
    let (code, text, stderr) = review(&h, &h.deleted, "HEAD", "text");
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains("No changes"), "{text}");
    assert!(stderr.contains("no control plane is read"), "{stderr}");

    // Without --head the working tree is the head, and its changes show.
    write(
        h.dir.path(),
        "plugins/tagger/handler.lua",
        &handler("1.0.2", "X-Tag-3"),
    );
    let out = plugsync(h.dir.path())
        .args(["diff", "--base", "HEAD", "--format", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(plugin(&plan, "tagger")["action"], "update");
    assert_eq!(plan["source"]["git_commit"], h.deleted.as_str());
    assert_eq!(plan["source"]["dirty"], true);

    // A whole history at once: the first commit against the last.
    let plan = review_json(&h, &h.initial, &h.deleted);
    assert_eq!(plugin(&plan, "guard-v2")["update_path"], "long");
    assert_eq!(plugin(&plan, "header")["action"], "delete");
    assert_eq!(plugin(&plan, "tagger")["action"], "create");
}

#[test]
fn review_of_a_state_new_at_head_compares_with_nothing() {
    let h = history();
    write(h.dir.path(), "new/plugsync.yaml", STATE_2);
    for p in ["guard", "header", "tagger"] {
        write(
            h.dir.path(),
            &format!("new/plugins/{p}/handler.lua"),
            &handler("1.0.0", "X-A"),
        );
        write(
            h.dir.path(),
            &format!("new/plugins/{p}/schema.lua"),
            &schema(p, if p == "guard" { WINDOW } else { "" }),
        );
    }
    let out = plugsync(h.dir.path())
        .args([
            "diff",
            "--base",
            "HEAD",
            "-s",
            "new/plugsync.yaml",
            "--format",
            "json",
        ])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("does not exist at base"), "{stderr}");
    let plan: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(plan["summary"]["create"], 6);
}

#[test]
fn git_ref_reads_an_older_commit() {
    let h = history();
    // The working tree has no `header` any more; the first commit does.
    let out = plugsync(h.dir.path())
        .args(["lint", "--git-ref", &h.initial, "--format", "json"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = h.dir.path().join(".plugsync-test.db");
    let server = Server::start(data.to_str().expect("utf-8 path"), &[]);
    let created = reqwest::blocking::Client::new()
        .post(server.url("/services"))
        .json(&serde_json::json!({"name": "payments", "host": "payments.internal"}))
        .send()
        .expect("create service");
    assert!(created.status().is_success(), "{}", created.status());
    let target = ["--kong-addr", server.base.as_str()];

    let out = plugsync(h.dir.path())
        .args(["plan", "--git-ref", &h.initial, "--out", "old.json", "-q"])
        .args(target)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value =
        serde_json::from_slice(&std::fs::read(h.dir.path().join("old.json")).expect("plan file"))
            .expect("json");
    assert_eq!(plan["source"]["git_commit"], h.initial.as_str());
    assert_eq!(plan["source"]["dirty"], false);
    let names: Vec<&str> = plan["custom_plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, vec!["guard", "header"]);

    // sync from that commit; then the same commit has nothing to do, and the working tree does.
    let out = plugsync(h.dir.path())
        .args(["sync", "--git-ref", &h.initial, "-q"])
        .args(target)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diff = |extra: &[&str]| {
        plugsync(h.dir.path())
            .args(["diff", "--exit-code"])
            .args(extra)
            .args(target)
            .output()
            .expect("run")
    };
    let same = diff(&["--git-ref", &h.initial]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    let later = diff(&["--git-ref", &h.breaking, "--format", "json"]);
    assert_eq!(later.status.code(), Some(2));
    let plan: Value = serde_json::from_slice(&later.stdout).expect("json");
    assert_eq!(plan["source"]["git_commit"], h.breaking.as_str());
    assert_eq!(plugin(&plan, "guard-v2")["update_path"], "long");
    assert_eq!(plugin(&plan, "tagger")["action"], "create");
    assert_eq!(diff(&[]).status.code(), Some(2));
    server.stop();
}

#[test]
fn plan_records_the_working_tree_commit_and_dirtiness() {
    let h = history();
    let db = h.dir.path().join(".plugsync").join("t.db");
    let db = db.to_str().expect("utf-8 path").to_string();
    // Only tagger: no service to resolve on the empty local control plane.
    write(
        h.dir.path(),
        "only/plugsync.yaml",
        "_format_version: \"3.0\"\ncustom_plugins:\n  - name: tagger\n    path: ../plugins/tagger\n",
    );
    let head = git_commit(h.dir.path(), "only tagger");
    let plan_at = |name: &str| -> Value {
        let out = plugsync(h.dir.path())
            .args(["plan", "-s", "only", "--local", &db, "--out", name, "-q"])
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&std::fs::read(h.dir.path().join(name)).expect("plan"))
            .expect("json")
    };
    // The plan files and the database are untracked, but outside the state: still clean.
    let clean = plan_at("clean.json");
    assert_eq!(clean["source"]["git_commit"], head.as_str());
    assert_eq!(clean["source"]["dirty"], false);
    // A change inside a plugin directory the state reads makes it dirty.
    write(
        h.dir.path(),
        "plugins/tagger/handler.lua",
        &handler("9.9.9", "X-Dirty"),
    );
    let dirty = plan_at("dirty.json");
    assert_eq!(dirty["source"]["git_commit"], head.as_str());
    assert_eq!(dirty["source"]["dirty"], true);
    // Text and Markdown say so.
    let out = plugsync(h.dir.path())
        .args(["diff", "-s", "only", "--local", &db, "--format", "markdown"])
        .output()
        .expect("run");
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains(&head), "{md}");
    assert!(md.contains("uncommitted changes"), "{md}");
}

#[test]
fn errors_for_a_missing_repository_an_unknown_ref_and_a_missing_state_file() {
    let h = history();
    let run = |dir: &Path, args: &[&str]| {
        let out = plugsync(dir).args(args).output().expect("run");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(h.dir.path(), &["diff", "--base", "no-such-branch"]);
    assert_eq!(code, 1);
    assert!(err.contains("`no-such-branch` is not a commit"), "{err}");
    // The command run and git's own message.
    assert!(
        err.contains("`git rev-parse --verify no-such-branch^{commit}` failed: fatal: "),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(err.contains("fetch-depth: 0"), "{err}");

    let (code, err) = run(h.dir.path(), &["lint", "--git-ref", "v9.9"]);
    assert_eq!(code, 1);
    assert!(err.contains("`v9.9` is not a commit"), "{err}");

    let (code, err) = run(
        h.dir.path(),
        &["plan", "--git-ref", &h.initial, "-s", "other.yaml"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("state path `other.yaml` does not exist at"),
        "{err}"
    );
    let (code, err) = run(
        h.dir.path(),
        &[
            "diff",
            "--base",
            &h.initial,
            "--head",
            "HEAD",
            "-s",
            "other.yaml",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("does not exist at `HEAD`"), "{err}");

    let outside = tempfile::tempdir().expect("tempdir");
    write(outside.path(), "plugsync.yaml", STATE_1);
    let (code, err) = run(outside.path(), &["diff", "--base", "HEAD"]);
    assert_eq!(code, 1);
    assert!(err.contains("no git repository holds"), "{err}");
    let (code, err) = run(outside.path(), &["sync", "--git-ref", "main"]);
    assert_eq!(code, 1);
    assert!(err.contains("no git repository holds"), "{err}");

    // --head needs --base (a usage error: exit 1, never 2).
    let (code, err) = run(h.dir.path(), &["diff", "--head", "HEAD"]);
    assert_eq!(code, 1);
    assert!(err.contains("--base"), "{err}");
}

#[test]
fn errors_without_the_git_command() {
    let h = history();
    // A PATH with no `git` on it.
    let empty = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = plugsync(h.dir.path())
            .env("PATH", empty.path())
            .args(args)
            .output()
            .expect("run");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for args in [
        &["diff", "--base", "HEAD"][..],
        &["lint", "--git-ref", "HEAD"],
    ] {
        let (code, err) = run(args);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("`git rev-parse --show-toplevel` could not run"),
            "{err}"
        );
        assert!(err.contains("no `git` program was found on PATH"), "{err}");
        assert!(err.contains("hint: install git"), "{err}");
    }
    // The working tree needs no git: its plan only records no commit.
    let (code, err) = run(&["lint"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn review_refuses_an_in_place_breaking_change_like_a_plan() {
    let h = history();
    // `guard-v2` changes in place: a required field without a default, while an instance uses it.
    write(
        h.dir.path(),
        "plugins/guard-v2/schema.lua",
        &schema(
            "guard-v2",
            &format!(
                "{WINDOW}{LIMIT}        {{ burst = {{ type = \"integer\", required = true }} }},\n"
            ),
        ),
    );
    let state = STATE_5.replace("      limit: 100\n", "      limit: 100\n      burst: 5\n");
    write(h.dir.path(), "plugsync.yaml", &state);
    let out = plugsync(h.dir.path())
        .args(["diff", "--base", "HEAD"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("guard-v2"), "{err}");
    assert!(err.contains("config.burst"), "{err}");
    assert!(err.contains("replaces: guard-v2"), "{err}");
    let out = plugsync(h.dir.path())
        .args([
            "diff",
            "--base",
            "HEAD",
            "--allow-in-place",
            "--format",
            "json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(plan["maintenance_window"], true);
    assert_eq!(plugin(&plan, "guard-v2")["update_path"], "long");
}
