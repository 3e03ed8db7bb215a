//! Konnect hybrid mode end to end: `plugin-schemas` on `plugsync serve` in Konnect's legacy
//! shapes, `sync` stopping at data-plane rollouts, plugin files installed on the simulated
//! node between runs, `dump` and `bundle`.

use std::path::Path;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};

use crate::{run_plugsync, target_flags, Server};

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build the http client")
}

fn send(request: RequestBuilder) -> (u16, Value) {
    let response = request.send().expect("send the request");
    let status = response.status().as_u16();
    let text = response.text().expect("read the body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not json ({e}): {text}"))
    };
    (status, body)
}

const HANDLER_V1: &str =
    "return { PRIORITY = 900, VERSION = \"1.0.0\", access = function(self, conf) end }\n";
const HANDLER_V2: &str =
    "return { PRIORITY = 900, VERSION = \"2.0.0\", access = function(self, conf) end }\n";

/// Version 1: `config.ttl` is required with no default.
fn schema_v1(name: &str) -> String {
    format!(
        "return {{ name = \"{name}\", fields = {{ {{ config = {{ type = \"record\", fields = {{\n  {{ ttl = {{ type = \"integer\", required = true }} }},\n  {{ window = {{ type = \"integer\", default = 60 }} }},\n}} }} }} }} }}\n"
    )
}

/// Version 2: `config.ttl` is gone (CP/DP sync required in place), `config.limit` is new.
fn schema_v2(name: &str) -> String {
    format!(
        "return {{ name = \"{name}\", fields = {{ {{ config = {{ type = \"record\", fields = {{\n  {{ window = {{ type = \"integer\", default = 60 }} }},\n  {{ limit = {{ type = \"integer\", default = 10 }} }},\n}} }} }} }} }}\n"
    )
}

fn write_plugin(dir: &Path, name: &str, handler: &str, schema: &str) {
    let p = dir.join("plugins").join(name);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("handler.lua"), handler).unwrap();
    std::fs::write(p.join("schema.lua"), schema).unwrap();
}

fn state_v1(dir: &Path) {
    write_plugin(dir, "guard", HANDLER_V1, &schema_v1("guard"));
    std::fs::write(
        dir.join("plugsync.yaml"),
        "_format_version: \"3.0\"\ncustom_plugins:\n  - name: guard\n    path: plugins/guard\n    streamed: false\nplugins:\n  - name: guard\n    instance_name: edge-guard\n    config:\n      ttl: 30\n",
    )
    .unwrap();
}

fn state_v2_replaces(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir.join("plugins/guard"));
    write_plugin(dir, "guard-v2", HANDLER_V2, &schema_v2("guard-v2"));
    std::fs::write(
        dir.join("plugsync.yaml"),
        "_format_version: \"3.0\"\ncustom_plugins:\n  - name: guard-v2\n    path: plugins/guard-v2\n    replaces: guard\n    streamed: false\nplugins:\n  - name: guard-v2\n    instance_name: edge-guard\n    config:\n      limit: 5\n",
    )
    .unwrap();
}

/// Installs a plugin's files on the simulated node (a rollout).
fn install(s: &Server, name: &str, handler: &str, schema: &str) {
    let (status, body) = send(
        client()
            .put(s.url(&format!("/_plugsync/dp-plugins/{name}")))
            .json(&json!({"handler": handler, "schema": schema})),
    );
    assert_eq!(status, 200, "{body}");
}

fn remove(s: &Server, name: &str) {
    let (status, body) = send(client().delete(s.url(&format!("/_plugsync/dp-plugins/{name}"))));
    assert_eq!(status, 204, "{body}");
}

fn dp_log(s: &Server) -> Vec<Value> {
    let (status, body) = send(client().get(s.url("/_plugsync/dp-log")));
    assert_eq!(status, 200);
    body.as_array().cloned().unwrap_or_default()
}

fn rejections(log: &[Value]) -> Vec<String> {
    log.iter()
        .filter(|e| e["accepted"] == false)
        .map(|e| e["error"].as_str().unwrap_or("").to_string())
        .collect()
}

fn sync(dir: &Path, s: &Server, extra: &[&str]) -> (i32, String, String) {
    let mut flags = target_flags(s, true, "t");
    flags.extend(extra.iter().map(|x| x.to_string()));
    run_plugsync(dir, &["sync"], &flags)
}

fn diff_exit(dir: &Path, s: &Server) -> (i32, String) {
    let (code, out, err) = run_plugsync(dir, &["diff", "--exit-code"], &target_flags(s, true, "t"));
    (code, format!("{out}{err}"))
}

#[test]
fn plugin_schemas_are_served_in_konnects_legacy_shapes() {
    let s = Server::start(":memory:", &[]);
    let c = client();
    let base = s.v2("/plugin-schemas");
    let (st, body) = send(
        c.post(&base)
            .json(&json!({"lua_schema": schema_v1("guard")})),
    );
    assert_eq!(st, 201, "{body}");
    assert_eq!(body["item"]["name"], "guard");
    assert_eq!(body["item"]["lua_schema"], schema_v1("guard"));
    assert!(body["item"]["created_at"].is_i64() && body["item"].get("id").is_none());
    let (st, body) = send(
        c.post(&base)
            .json(&json!({"lua_schema": schema_v1("guard")})),
    );
    assert_eq!(st, 409, "{body}");
    assert!(body["message"].is_string());
    let (st, body) = send(c.get(&base));
    assert_eq!(st, 200);
    assert_eq!(body["page"]["total_count"], 1, "{body}");
    assert_eq!(body["items"][0]["name"], "guard");
    let (st, body) = send(
        c.put(format!("{base}/guard"))
            .json(&json!({"lua_schema": schema_v2("guard")})),
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["item"]["lua_schema"], schema_v2("guard"));
    let (st, body) = send(
        c.put(format!("{base}/other"))
            .json(&json!({"lua_schema": schema_v2("guard")})),
    );
    assert_eq!(st, 400, "a schema named otherwise than its path: {body}");
    // Instances of a hybrid plugin validate against the control plane's schema.
    let (st, body) = send(
        c.post(s.v2("/plugins"))
            .json(&json!({"name": "guard", "config": {"nope": 1}})),
    );
    assert_eq!(st, 400, "{body}");
    let (st, _) = send(
        c.post(s.v2("/plugins"))
            .json(&json!({"name": "guard", "config": {}})),
    );
    assert_eq!(st, 201);
    let (st, body) = send(c.delete(format!("{base}/guard")));
    assert_eq!(st, 400, "in use: {body}");
    let (st, body) = send(c.get(format!("{base}/missing")));
    assert_eq!((st, body), (404, json!({"message": "Not Found"})));
    let (st, _) = send(c.delete(format!("{base}/missing")));
    assert_eq!(st, 404);
    // A streamed custom plugin may not take a hybrid plugin's name.
    let (st, _) = send(c.post(s.v2("/custom-plugins")).json(&json!({
        "name": "guard", "handler": HANDLER_V1, "schema": schema_v1("guard")
    })));
    assert_eq!(st, 400);
    // The node has not installed `guard`: the instance's payload was rejected.
    let log = dp_log(&s);
    let rejected = rejections(&log);
    assert!(
        rejected
            .last()
            .is_some_and(|e| e.contains("plugin 'guard' not enabled")),
        "{log:?}"
    );
}

#[test]
fn a_hybrid_plugin_syncs_through_plugin_schemas_and_round_trips_through_dump() {
    let s = Server::start(":memory:", &[]);
    let dir = tempfile::tempdir().unwrap();
    state_v1(dir.path());

    // A new plugin: the bundle goes to the data planes first; nothing is written yet.
    let (code, out, err) = sync(dir.path(), &s, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("stopped before the data-plane rollout `expand`"),
        "{err}"
    );
    assert!(err.contains("plugsync bundle --out DIR"), "{err}");
    assert!(out.contains("roll out bundle"), "{out}");
    let (st, body) = send(client().get(s.v2("/plugin-schemas")));
    assert_eq!((st, body["page"]["total_count"].clone()), (200, json!(0)));

    install(&s, "guard", HANDLER_V1, &schema_v1("guard"));
    let (code, out, err) = sync(dir.path(), &s, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (st, body) = send(client().get(s.v2("/plugin-schemas/guard")));
    assert_eq!(st, 200);
    assert_eq!(body["item"]["lua_schema"], schema_v1("guard"));
    let (code, text) = diff_exit(dir.path(), &s);
    assert_eq!(code, 0, "a re-diff is clean: {text}");
    assert!(rejections(&dp_log(&s)).is_empty(), "{:?}", dp_log(&s));

    // The Admin API shape (self-managed Kong) refuses hybrid-mode plugins.
    let (code, _, err) = run_plugsync(dir.path(), &["diff"], &target_flags(&s, false, "t"));
    assert_eq!(code, 1);
    assert!(
        err.contains("hybrid-mode plugins (`streamed: false`): guard"),
        "{err}"
    );

    // dump → the dumped state diffs clean.
    let dumped = tempfile::tempdir().unwrap();
    let out_dir = dumped.path().join("d");
    let mut flags = target_flags(&s, true, "t");
    flags.extend(["--dir".to_string(), out_dir.display().to_string()]);
    let (code, out, err) = run_plugsync(dir.path(), &["dump"], &flags);
    assert_eq!(code, 0, "{out}{err}");
    let yaml = std::fs::read_to_string(out_dir.join("plugsync.yaml")).unwrap();
    assert!(yaml.contains("streamed: false"), "{yaml}");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("plugins/guard/schema.lua")).unwrap(),
        schema_v1("guard")
    );
    let (code, text) = diff_exit(&out_dir, &s);
    assert_eq!(code, 0, "the dump diffs clean: {text}");
}

#[test]
fn a_hybrid_replaces_upgrade_in_plugsyncs_order_never_has_a_payload_rejected() {
    let s = Server::start(":memory:", &[]);
    let dir = tempfile::tempdir().unwrap();
    state_v1(dir.path());
    install(&s, "guard", HANDLER_V1, &schema_v1("guard"));
    let (code, out, err) = sync(dir.path(), &s, &[]);
    assert_eq!(code, 0, "{out}{err}");

    state_v2_replaces(dir.path());
    // The plan: expand rollout, create guard-v2, migrate, delete guard, contract rollout.
    let (code, out, err) = run_plugsync(
        dir.path(),
        &["diff", "--format", "json"],
        &target_flags(&s, true, "t"),
    );
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let order: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| {
            format!(
                "{} {} {}",
                st["action"].as_str().unwrap(),
                st["kind"].as_str().unwrap(),
                st["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "rollout rollout expand",
            "create plugin_schema guard-v2",
            "migrate plugin guard-v2",
            "delete plugin_schema guard",
            "rollout rollout contract",
        ],
        "{out}"
    );
    let expand = &plan["steps"][0]["rollout"];
    let names: Vec<&str> = expand["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["guard", "guard-v2"],
        "the expand bundle keeps both versions"
    );
    let contract = &plan["steps"][4]["rollout"];
    assert_eq!(contract["removes"], json!(["guard"]));

    // Run 1 stops before anything: the node does not hold guard-v2 yet.
    let before = dp_log(&s).len();
    let (code, _, err) = sync(dir.path(), &s, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("rollout `expand`"), "{err}");
    assert_eq!(dp_log(&s).len(), before, "nothing was written");

    // Roll out the bundle with both versions, then run 2 goes up to the contract rollout.
    install(&s, "guard-v2", HANDLER_V2, &schema_v2("guard-v2"));
    let (code, _, err) = sync(dir.path(), &s, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("rollout `contract`"), "{err}");
    assert!(err.contains("removes guard"), "{err}");
    let (st, _) = send(client().get(s.v2("/plugin-schemas/guard")));
    assert_eq!(st, 404, "the old schema is deleted");

    remove(&s, "guard");
    let (code, text) = diff_exit(dir.path(), &s);
    assert_eq!(code, 0, "converged: {text}");
    let log = dp_log(&s);
    assert!(
        rejections(&log).is_empty(),
        "no payload was rejected: {log:?}"
    );
    assert!(log.len() > before, "payloads were sent: {log:?}");
}

#[test]
fn the_same_change_in_the_naive_order_makes_the_node_reject_with_required_field_missing() {
    let s = Server::start(":memory:", &[]);
    let dir = tempfile::tempdir().unwrap();
    state_v1(dir.path());
    install(&s, "guard", HANDLER_V1, &schema_v1("guard"));
    let (code, out, err) = sync(dir.path(), &s, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(rejections(&dp_log(&s)).is_empty());

    // The naive order: the new schema on the control plane and the instance moved to it in
    // place, before any data plane holds the new files.
    write_plugin(dir.path(), "guard", HANDLER_V2, &schema_v2("guard"));
    std::fs::write(
        dir.path().join("plugsync.yaml"),
        "_format_version: \"3.0\"\ncustom_plugins:\n  - name: guard\n    path: plugins/guard\n    streamed: false\nplugins:\n  - name: guard\n    instance_name: edge-guard\n    config:\n      limit: 5\n",
    )
    .unwrap();
    // plugsync refuses it in place…
    let (code, _, err) = sync(dir.path(), &s, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cp_dp_sync"), "{err}");
    // …and in the maintenance window it says the rollout comes last, as the docs do; the
    // node rejects the payload until then, with the docs' message.
    let (code, _, err) = sync(dir.path(), &s, &["--allow-in-place"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("rollout `contract`"), "{err}");
    let rejected = rejections(&dp_log(&s));
    assert!(
        rejected
            .iter()
            .any(|e| e.contains("in 'config': in 'ttl': required field missing")),
        "{rejected:?}"
    );
    install(&s, "guard", HANDLER_V2, &schema_v2("guard"));
    let last = dp_log(&s).last().cloned().unwrap();
    assert_eq!(last["accepted"], true, "the rollout heals the node: {last}");
}

fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn bundle_writes_the_lua_tree_and_configmaps_byte_identically() {
    let dir = tempfile::tempdir().unwrap();
    state_v1(dir.path());
    // A streamed plugin is not part of the bundle.
    write_plugin(dir.path(), "streamer", HANDLER_V1, &schema_v1("streamer"));
    let yaml = std::fs::read_to_string(dir.path().join("plugsync.yaml")).unwrap();
    std::fs::write(
        dir.path().join("plugsync.yaml"),
        yaml.replace(
            "custom_plugins:\n",
            "custom_plugins:\n  - name: streamer\n    path: plugins/streamer\n",
        ),
    )
    .unwrap();

    let (code, out, err) = run_plugsync(dir.path(), &["bundle", "--out", "b1"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "KONG_PLUGINS=bundled,guard\n");
    let tree = read_tree(&dir.path().join("b1"));
    let names: Vec<&str> = tree.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "MANIFEST",
            "kong/plugins/guard/handler.lua",
            "kong/plugins/guard/schema.lua"
        ]
    );
    assert_eq!(tree[1].1, HANDLER_V1.as_bytes());
    assert_eq!(tree[2].1, schema_v1("guard").as_bytes());
    let (code, _, _) = run_plugsync(dir.path(), &["bundle", "--out", "b2"], &[]);
    assert_eq!(code, 0);
    assert_eq!(
        read_tree(&dir.path().join("b2")),
        tree,
        "byte-identical across runs"
    );

    let (code, _, err) = run_plugsync(
        dir.path(),
        &["bundle", "--out", "c1", "--format", "configmap"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let cm =
        std::fs::read_to_string(dir.path().join("c1/kong-plugin-guard.configmap.yaml")).unwrap();
    assert!(cm.contains("kind: ConfigMap\n"), "{cm}");
    assert!(cm.contains("plugsync.io/content-hash: "), "{cm}");
    assert!(
        cm.contains("  handler.lua: |\n    return { PRIORITY = 900"),
        "{cm}"
    );
    let values = std::fs::read_to_string(dir.path().join("c1/values.yaml")).unwrap();
    assert!(
        values.contains("- pluginName: \"guard\"\n      name: kong-plugin-guard"),
        "{values}"
    );
    assert!(values.contains("plugins: \"bundled,guard\""), "{values}");
    // The ConfigMap is valid YAML whose data holds the files' exact bytes.
    let doc = &yaml_rust2::YamlLoader::load_from_str(&cm).unwrap()[0];
    assert_eq!(
        doc["data"]["schema.lua"].as_str(),
        Some(schema_v1("guard").as_str())
    );
    assert_eq!(doc["data"]["handler.lua"].as_str(), Some(HANDLER_V1));
    let (code, _, _) = run_plugsync(
        dir.path(),
        &["bundle", "--out", "c2", "--format", "configmap"],
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(
        read_tree(&dir.path().join("c2")),
        read_tree(&dir.path().join("c1"))
    );
    // A changed handler changes the content-hash label.
    write_plugin(dir.path(), "guard", HANDLER_V2, &schema_v1("guard"));
    run_plugsync(
        dir.path(),
        &["bundle", "--out", "c3", "--format", "configmap"],
        &[],
    );
    let cm3 =
        std::fs::read_to_string(dir.path().join("c3/kong-plugin-guard.configmap.yaml")).unwrap();
    let label = |s: &str| {
        s.lines()
            .find(|l| l.contains("content-hash"))
            .unwrap()
            .to_string()
    };
    assert_ne!(label(&cm), label(&cm3));
}

#[test]
fn sync_wait_waits_for_each_rollout_where_the_node_reports_its_plugins() {
    let s = Server::start(":memory:", &[]);
    let dir = tempfile::tempdir().unwrap();
    state_v1(dir.path());
    install(&s, "guard", HANDLER_V1, &schema_v1("guard"));
    let (code, out, err) = sync(dir.path(), &s, &[]);
    assert_eq!(code, 0, "{out}{err}");
    state_v2_replaces(dir.path());

    // Too short a wait: the expand rollout never happens, so nothing is written and the
    // command fails naming the rollout and what the node lacks.
    let before = dp_log(&s).len();
    let (code, _, err) = sync(dir.path(), &s, &["--wait=1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("rollout `expand`"), "{err}");
    assert!(err.contains("lacks guard-v2"), "{err}");
    assert_eq!(dp_log(&s).len(), before, "nothing was written");

    // One run does the whole upgrade while an operator rolls out: the expand bundle, then
    // (once the old schema is gone) the contract bundle.
    let operator = {
        let url = s.url("");
        let schemas = s.v2("/plugin-schemas/guard");
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            let (st, body) = send(
                client()
                    .put(format!("{url}/_plugsync/dp-plugins/guard-v2"))
                    .json(&json!({"handler": HANDLER_V2, "schema": schema_v2("guard-v2")})),
            );
            assert_eq!(st, 200, "{body}");
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while send(client().get(&schemas)).0 != 404 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the old schema stayed"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            let (st, body) = send(client().delete(format!("{url}/_plugsync/dp-plugins/guard")));
            assert_eq!(st, 204, "{body}");
        })
    };
    let (code, out, err) = sync(dir.path(), &s, &["--wait=30"]);
    operator.join().expect("the operator thread");
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("waiting up to"), "{err}");
    assert!(!err.contains("stopped before"), "{err}");
    let (code, text) = diff_exit(dir.path(), &s);
    assert_eq!(code, 0, "converged in one run: {text}");
    let log = dp_log(&s);
    assert!(
        rejections(&log).is_empty(),
        "no payload was rejected: {log:?}"
    );
}
