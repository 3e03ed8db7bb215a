//! The reconciler end to end: `plugsync sync`, `diff`, `plan`/`apply` and `dump` run as
//! processes against a real `plugsync serve`, in the Konnect shape and the Admin API shape.

use std::path::Path;

use reqwest::blocking::Client;
use serde_json::Value;

use crate::{copy_dir, root, run_plugsync as run, target_flags, Server};

/// Target flags for `server` with this suite's token.
fn target(server: &Server, konnect: bool) -> Vec<String> {
    target_flags(server, konnect, TOKEN)
}

const TOKEN: &str = "e2e-token-not-a-secret-of-anyone";

/// A work directory with copies of the examples, in a git repository of its own.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir.path())
        .status()
        .expect("run git init");
    assert!(status.success());
    for ex in ["quickstart", "quickstart-v2"] {
        copy_dir(&root().join("examples").join(ex), &dir.path().join(ex));
    }
    dir
}

fn client() -> Client {
    Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

/// GETs a JSON document from the server with the token, retrying injected faults.
fn get(server: &Server, path: &str) -> Value {
    let c = client();
    for _ in 0..50 {
        if let Ok(r) = c.get(server.url(path)).bearer_auth(TOKEN).send() {
            if r.status().is_success() {
                return r.json().expect("json");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("GET {path} kept failing");
}

/// Every entity of a core-entities list (all pages).
fn list(server: &Server, kind: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut offset: Option<String> = None;
    loop {
        let mut path = format!(
            "/v2/control-planes/{}/core-entities/{kind}?size=1000",
            server.cp
        );
        if let Some(o) = &offset {
            path.push_str(&format!("&offset={o}"));
        }
        let v = get(server, &path);
        out.extend(v["data"].as_array().cloned().unwrap_or_default());
        match v["offset"].as_str() {
            Some(o) if !o.is_empty() => offset = Some(o.to_string()),
            _ => return out,
        }
    }
}

fn names(items: &[Value]) -> Vec<String> {
    let mut n: Vec<String> = items
        .iter()
        .map(|v| v["name"].as_str().unwrap_or_default().to_string())
        .collect();
    n.sort();
    n
}

fn data_file(dir: &Path) -> String {
    dir.join("cp.db").to_string_lossy().to_string()
}

fn sync_is_idempotent_and_dump_round_trips(konnect: bool) {
    let dir = workdir();
    let server = Server::start(&data_file(dir.path()), &["--token", TOKEN]);
    let t = target(&server, konnect);
    let (code, _, err) = run(dir.path(), &["sync", "-s", "quickstart"], &t);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("created 4, updated 0, migrated 0, deleted 0, failed 0, blocked 0"),
        "{err}"
    );
    assert!(!err.contains(TOKEN), "the token leaked: {err}");

    let (code, out, err) = run(dir.path(), &["diff", "-s", "quickstart", "--exit-code"], &t);
    assert_eq!(code, 0, "a re-run shows changes:\n{out}\n{err}");
    assert!(out.contains("No changes"), "{out}");

    let (code, _, err) = run(dir.path(), &["dump", "--dir", "dumped"], &t);
    assert_eq!(code, 0, "{err}");
    let dumped = std::fs::read_to_string(dir.path().join("dumped/plugsync.yaml")).expect("dump");
    assert!(dumped.contains("request-tagger"), "{dumped}");
    let (code, out, err) = run(dir.path(), &["sync", "-s", "dumped"], &t);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("No changes"),
        "a sync of the dump is not a no-op:\n{out}"
    );
    assert!(
        err.contains("created 0, updated 0, migrated 0, deleted 0"),
        "{err}"
    );
}

#[test]
fn konnect_shape_sync_is_idempotent_and_dump_round_trips() {
    sync_is_idempotent_and_dump_round_trips(true);
}

#[test]
fn admin_api_shape_sync_is_idempotent_and_dump_round_trips() {
    sync_is_idempotent_and_dump_round_trips(false);
}

#[test]
fn a_breaking_upgrade_through_replaces_never_breaks_the_data_plane() {
    let dir = workdir();
    let server = Server::start(&data_file(dir.path()), &["--token", TOKEN]);
    let t = target(&server, true);
    assert_eq!(run(dir.path(), &["sync", "-s", "quickstart"], &t).0, 0);
    let before: Vec<Value> = list(&server, "plugins");
    let tagger_id = before
        .iter()
        .find(|p| p["instance_name"] == "tag-every-request")
        .and_then(|p| p["id"].as_str())
        .expect("instance")
        .to_string();

    // Changing the plugin in place is refused: it would break the live instance. (The v2
    // state with the plugin keeping its old name.)
    let inplace = dir.path().join("inplace");
    copy_dir(&dir.path().join("quickstart"), &inplace);
    for file in ["schema.lua", "handler.lua"] {
        let v2 = std::fs::read_to_string(
            dir.path()
                .join("quickstart-v2/plugins/request-tagger-v2")
                .join(file),
        )
        .expect("read");
        std::fs::write(
            inplace.join("plugins/request-tagger").join(file),
            v2.replace("request-tagger-v2", "request-tagger"),
        )
        .expect("write");
    }
    let state =
        std::fs::read_to_string(dir.path().join("quickstart-v2/plugsync.yaml")).expect("read");
    std::fs::write(
        inplace.join("plugsync.yaml"),
        state
            .replace("    replaces: request-tagger\n", "")
            .replace("request-tagger-v2", "request-tagger"),
    )
    .expect("write");
    let (code, _, err) = run(dir.path(), &["diff", "-s", "inplace"], &t);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("update path `long`") && err.contains("replaces: request-tagger"),
        "{err}"
    );

    // The new version moves the instance, keeping its id, then deletes the old plugin.
    let (code, out, err) = run(
        dir.path(),
        &["sync", "-s", "quickstart-v2", "--wait=20"],
        &t,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("created 1, updated 0, migrated 1, deleted 1, failed 0, blocked 0"),
        "{err}"
    );
    assert!(
        err.contains("data plane node(s) report config hash"),
        "{err}"
    );
    assert_eq!(
        names(&list(&server, "custom-plugins")),
        vec!["maintenance-window", "request-tagger-v2"]
    );
    let after = list(&server, "plugins");
    let moved = after
        .iter()
        .find(|p| p["instance_name"] == "tag-every-request")
        .expect("instance kept");
    assert_eq!(moved["id"], tagger_id.as_str());
    assert_eq!(moved["name"], "request-tagger-v2");
    assert_eq!(moved["config"]["mode"], "replace");

    // The data plane accepted every payload of both syncs.
    let log = get(&server, "/_plugsync/dp-log");
    let log = log.as_array().expect("dp log");
    assert!(log.len() >= 7, "{log:?}");
    let rejected: Vec<&Value> = log.iter().filter(|e| e["accepted"] != true).collect();
    assert!(rejected.is_empty(), "payloads were rejected: {rejected:?}");
    assert_eq!(
        run(
            dir.path(),
            &["diff", "-s", "quickstart-v2", "--exit-code"],
            &t
        )
        .0,
        0
    );
}

#[test]
fn applying_a_stale_plan_exits_3_and_writes_nothing() {
    let dir = workdir();
    let server = Server::start(&data_file(dir.path()), &["--token", TOKEN]);
    let t = target(&server, false);
    let (code, out, err) = run(
        dir.path(),
        &[
            "plan",
            "-s",
            "quickstart",
            "--out",
            "plan.json",
            "--exit-code",
        ],
        &t,
    );
    assert_eq!(code, 2, "{out}\n{err}");
    let plan: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("plan.json")).expect("plan file"),
    )
    .expect("plan JSON");
    assert_eq!(plan["format_version"], 1);
    assert_eq!(plan["summary"]["create"], 4);

    // Someone else changes the control plane.
    let body = serde_json::json!({
        "name": "intruder",
        "handler": "return { PRIORITY = 1, VERSION = \"1.0.0\" }",
        "schema": "return { name = \"intruder\", fields = { { config = { type = \"record\", fields = {} } } } }",
        "tags": ["quickstart"],
    });
    let r = client()
        .post(server.url("/custom-plugins"))
        .header("Kong-Admin-Token", TOKEN)
        .json(&body)
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 201);
    let before = list(&server, "custom-plugins");

    let (code, _, err) = run(dir.path(), &["apply", "plan.json"], &t);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("stale"), "{err}");
    assert_eq!(
        list(&server, "custom-plugins"),
        before,
        "apply wrote something"
    );
    assert!(list(&server, "plugins").is_empty());

    // A fresh plan applies, and removes the undeclared plugin in scope.
    let (code, _, err) = run(
        dir.path(),
        &["plan", "-s", "quickstart", "--out", "plan.json"],
        &t,
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(dir.path(), &["apply", "plan.json"], &t);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("created 4, updated 0, migrated 0, deleted 1"),
        "{err}"
    );
    assert_eq!(
        names(&list(&server, "custom-plugins")),
        vec!["maintenance-window", "request-tagger"]
    );
}

#[test]
fn a_sync_through_faults_converges_without_duplicates() {
    let dir = workdir();
    let data = data_file(dir.path());
    {
        let server = Server::start(
            &data,
            &[
                "--token",
                TOKEN,
                "--fault-rate",
                "0.2",
                "--fault-seed",
                "11",
            ],
        );
        let t = target(&server, true);
        let (code, out, err) = run(
            dir.path(),
            &["sync", "-s", "quickstart", "--parallelism", "4"],
            &t,
        );
        assert_eq!(code, 0, "{out}\n{err}");
        let (code, _, err) = run(dir.path(), &["sync", "-s", "quickstart-v2"], &t);
        assert_eq!(code, 0, "{err}");
        let (code, out, err) = run(
            dir.path(),
            &["diff", "-s", "quickstart-v2", "--exit-code"],
            &t,
        );
        assert_eq!(code, 0, "{out}\n{err}");
    }
    // Read back without faults: exactly the declared entities, no duplicates.
    let server = Server::start(&data, &["--token", TOKEN]);
    assert_eq!(
        names(&list(&server, "custom-plugins")),
        vec!["maintenance-window", "request-tagger-v2"]
    );
    assert_eq!(
        names(&list(&server, "plugins")),
        vec!["maintenance-window", "request-tagger-v2"]
    );
}
