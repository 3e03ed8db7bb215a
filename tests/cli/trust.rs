//! Issue 12: every plan that lints must apply, and every refusal must explain itself. Each test
//! reproduces one gap a new user met (D1…D12) against `plugsync serve` or the embedded target.

use std::path::Path;

use serde_json::{json, Value};

use crate::reliability::{client, get, rejected_payloads, run, target, TOKEN};
use crate::Server;

/// A custom plugin `name` whose config has the fields in `fields` (Lua field definitions).
fn plugin_yaml(name: &str, fields: &str) -> String {
    format!(
        "  - name: {name}\n    handler: 'return {{ PRIORITY = 1, VERSION = \"1.0.0\" }}'\n    schema: 'return {{ name = \"{name}\", fields = {{ {{ config = {{ type = \"record\", fields = {{ {fields} }} }} }} }} }}'\n"
    )
}

/// Writes `plugsync.yaml` in `dir`.
fn write_state(dir: &Path, text: &str) {
    std::fs::write(dir.join("plugsync.yaml"), text).expect("write the state");
}

fn start(dir: &Path) -> Server {
    Server::start(&dir.join("cp.db").to_string_lossy(), &["--token", TOKEN])
}

/// POSTs `body` to a core-entities list of the `default` control plane; returns the status.
fn post(server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(server.v2(path))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .expect("post");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

// D1: the in-place guard counts instances outside the select tags and names their owners.
#[test]
fn d1_an_in_place_breaking_change_is_refused_when_another_team_uses_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let head = "_format_version: \"3.0\"\n_info:\n  select_tags: [owner]\ncustom_plugins:\n";
    write_state(
        d,
        &format!(
            "{head}{}",
            plugin_yaml(
                "shared-guard",
                "{ window = { type = \"number\", default = 60 } }"
            )
        ),
    );
    let server = start(d);
    for konnect in [true, false] {
        let t = target(&server, konnect);
        if konnect {
            let (code, _, err) = run(d, &["sync"], &t);
            assert_eq!(code, 0, "{err}");
            let (status, body) = post(
                &server,
                "/plugins",
                &json!({"name": "shared-guard", "config": {}, "tags": ["other-team"]}),
            );
            assert_eq!(status, 201, "{body}");
            write_state(
                d,
                &format!(
                    "{head}{}",
                    plugin_yaml(
                        "shared-guard",
                        "{ window = { type = \"number\", default = 60 } }, { key = { type = \"string\", required = true } }"
                    )
                ),
            );
        }
        for args in [&["diff"][..], &["sync"], &["sync", "--allow-in-place"]] {
            let (code, out, err) = run(d, args, &t);
            assert_eq!(code, 1, "{args:?} was not refused:\n{out}\n{err}");
            assert!(
                err.contains("shared-guard") && err.contains("other-team"),
                "{args:?}: the refusal does not say whose instances break:\n{err}"
            );
            assert!(err.contains("outside the select tags"), "{err}");
        }
    }
    assert!(
        rejected_payloads(&server).is_empty(),
        "the data plane was sent a config it rejects"
    );
    let custom = get(
        &server,
        &format!(
            "/v2/control-planes/{}/core-entities/custom-plugins/shared-guard",
            server.cp
        ),
    );
    assert!(
        !custom["schema"]
            .as_str()
            .unwrap_or_default()
            .contains("key"),
        "the breaking schema was written: {custom}"
    );
}

/// Runs plugsync on the embedded target at `DIR/local.db`.
fn local(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let db = dir.join("local.db").to_string_lossy().to_string();
    run(dir, args, &["--local".to_string(), db])
}

// D2: Kong's uniqueness is (plugin, scope) whatever the instance_name.
#[test]
fn d2_two_instances_at_one_scope_are_refused_by_lint_and_plan_and_a_rename_converges() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plugin = plugin_yaml("hdr", "{ value = { type = \"string\", default = \"x\" } }");
    // Lint: one named, one not, both global; and two differently named at one service.
    write_state(
        d,
        &format!(
            "_format_version: \"3.0\"\ncustom_plugins:\n{plugin}plugins:\n  - name: hdr\n    instance_name: first\n  - name: hdr\n  - name: hdr\n    service: s\n    instance_name: a\n  - name: hdr\n    service: s\n    instance_name: b\n"
        ),
    );
    let (code, out, err) = run(d, &["lint"], &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("plugsync.yaml:9:5") && out.contains("plugsync.yaml:7:5"),
        "both locations of the global pair: {out}"
    );
    assert!(
        out.contains("plugsync.yaml:13:5") && out.contains("plugsync.yaml:10:5"),
        "both locations of the service pair: {out}"
    );
    assert_eq!(out.matches("error[duplicate-name]").count(), 2, "{out}");

    // The plan: one service named once by name and once by id (the lint cannot know).
    let server = start(d);
    let (status, svc) = post(
        &server,
        "/services",
        &json!({"name": "s", "host": "example.com"}),
    );
    assert_eq!(status, 201, "{svc}");
    let id = svc["id"].as_str().unwrap().to_string();
    write_state(
        d,
        &format!(
            "_format_version: \"3.0\"\ncustom_plugins:\n{plugin}plugins:\n  - name: hdr\n    service: s\n    instance_name: a\n  - name: hdr\n    service: {id}\n"
        ),
    );
    let (code, out, err) = run(d, &["lint"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let t = target(&server, true);
    let (code, out, err) = run(d, &["sync"], &t);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("same scope"), "{err}");
    assert!(err.contains("hdr (a)"), "{err}");
    assert!(err.contains("merge the two instances"), "{err}");

    // Renaming an instance (same plugin, same scope) updates it in place: the create of the
    // new name beside the old one would be refused.
    let state = |name: &str| {
        format!(
            "_format_version: \"3.0\"\ncustom_plugins:\n{plugin}plugins:\n  - name: hdr\n    instance_name: {name}\n"
        )
    };
    write_state(d, &state("before"));
    let (code, _, err) = local(d, &["sync"]);
    assert_eq!(code, 0, "{err}");
    write_state(d, &state("after"));
    let (code, out, err) = local(d, &["sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("created 0, updated 1"), "{err}");
    let (code, out, err) = local(d, &["diff", "--exit-code"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

// D6: `apply FILE` validates every re-resolved config before the first write.
#[test]
fn d6_apply_refuses_a_resolved_secret_that_breaks_the_schema_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_state(
        d,
        &format!(
            "_format_version: \"3.0\"\ncustom_plugins:\n{}plugins:\n  - name: regional\n    config:\n      region: ${{{{ env \"PLUGSYNC_T12_REGION\" }}}}\n",
            plugin_yaml(
                "regional",
                "{ region = { type = \"string\", required = true, one_of = { \"eu-west-1\", \"us-east-1\" } } }"
            )
        ),
    );
    let db = d.join("local.db").to_string_lossy().to_string();
    let out = crate::plugsync(d)
        .args(["plan", "--out", "plan.json", "--local", &db])
        .env("PLUGSYNC_T12_REGION", "eu-west-1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = crate::plugsync(d)
        .args(["apply", "plan.json", "--local", &db])
        .env("PLUGSYNC_T12_REGION", "mars-north-7")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nothing was applied"), "{err}");
    assert!(err.contains("config.region"), "{err}");
    assert!(!err.contains("mars-north-7"), "the secret leaked: {err}");
    // Nothing was written: the same plan still applies once the value is fixed.
    let out = crate::plugsync(d)
        .args(["apply", "plan.json", "--local", &db])
        .env("PLUGSYNC_T12_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// A hand-edited plan file with an action plugsync does not know is refused as it is read, before
// the target is reached: the error names the file, the entry, the value and what is allowed.
#[test]
fn apply_refuses_a_plan_with_an_unknown_action_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_state(
        d,
        &format!(
            "_format_version: \"3.0\"\ncustom_plugins:\n{}",
            plugin_yaml("edited", "")
        ),
    );
    let db = d.join("local.db").to_string_lossy().to_string();
    let out = crate::plugsync(d)
        .args(["plan", "--out", "plan.json", "--local", &db])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["steps"][0]["action"], "create");
    plan["steps"][0]["action"] = json!("frobnicate");
    std::fs::write(d.join("plan.json"), plan.to_string()).unwrap();

    let out = crate::plugsync(d)
        .args(["apply", "plan.json", "--local", &db])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("plan.json is not a plugsync plan: steps[0].action: unknown variant `frobnicate`, expected one of `create`, `update`, `migrate`, `delete`, `rollout`"),
        "{err}"
    );
    let out = crate::plugsync(d)
        .args(["apply", "plan.json", "--local", &db, "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["exit_code"], 1);
    assert_eq!(report["error"]["kind"], "error");
    // Nothing was written: the local control plane holds no custom plugin.
    let (code, out, err) = local(d, &["diff", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let diff: Value = serde_json::from_str(&out).expect("diff JSON");
    assert_eq!(diff["summary"]["create"], 1, "{out}");
}

// D8: a refused plan still writes its report; `sync --format markdown` shows the step results.
#[test]
fn d8_a_refused_plan_writes_a_json_and_a_markdown_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let state = |fields: &str, config: &str| {
        format!(
            "_format_version: \"3.0\"\ncustom_plugins:\n{}plugins:\n  - name: guard\n    config: {config}\n",
            plugin_yaml("guard", fields)
        )
    };
    write_state(
        d,
        &state("{ window = { type = \"number\", default = 60 } }", "{}"),
    );
    let (code, out, err) = local(d, &["sync", "--format", "markdown"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("### Apply"), "{out}");
    assert!(out.contains("created 2, updated 0"), "{out}");
    assert!(
        out.contains("| 1 | create | custom plugin | `guard` | done |"),
        "{out}"
    );

    write_state(
        d,
        &state(
            "{ window = { type = \"number\", default = 60 } }, { key = { type = \"string\", required = true } }",
            "{ key: k }",
        ),
    );
    for cmd in ["diff", "plan", "sync"] {
        let (code, out, err) = local(d, &[cmd, "--format", "json"]);
        assert_eq!(code, 1, "{out}\n{err}");
        let v: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{cmd} --format json printed no JSON report ({e}):\n{out}"));
        assert_eq!(v["error"]["kind"], "plan_refused", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("guard"),
            "{v}"
        );
        assert!(
            v["error"]["hint"].as_str().unwrap().contains("guard-v2"),
            "{v}"
        );
        assert_eq!(v["error"]["entities"][0]["name"], "guard", "{v}");
        assert_eq!(v["error"]["entities"][0]["fields"][0], "config.key", "{v}");
        assert_eq!(v["exit_code"], 1, "{v}");

        let (code, out, _) = local(d, &[cmd, "--format", "markdown"]);
        assert_eq!(code, 1);
        assert!(out.contains("> **Error** (plan_refused)"), "{out}");
        assert!(out.contains("guard-v2"), "{out}");
    }
    // Lint errors too.
    write_state(d, "custom_plugins: 3\n");
    let (code, out, _) = local(d, &["diff", "--format", "json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).expect("a JSON report");
    assert_eq!(v["error"]["kind"], "lint", "{v}");
    assert!(v["error"]["entities"][0]["location"]
        .as_str()
        .unwrap()
        .starts_with("plugsync.yaml:1:"));
}

/// A custom plugin body for the API: `name` with the config fields in `fields`.
fn custom_plugin_body(name: &str, fields: &str, tags: &[&str]) -> Value {
    json!({
        "name": name,
        "handler": "return { PRIORITY = 1, VERSION = \"1.0.0\" }",
        "schema": format!("return {{ name = \"{name}\", fields = {{ {{ config = {{ type = \"record\", fields = {{ {fields} }} }} }} }} }}"),
        "tags": tags,
    })
}

// D3: `--wait` waits for real in both API shapes, and a rejection carries the node's reason.
#[test]
fn d3_wait_follows_the_data_plane_in_both_shapes_and_reports_a_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = start(d);
    let state = |n: usize| {
        let mut s = "_format_version: \"3.0\"\n_info:\n  select_tags: [mine]\ncustom_plugins:\n"
            .to_string();
        for i in 0..n {
            s.push_str(&plugin_yaml(
                &format!("mine{i}"),
                "{ a = { type = \"string\" } }",
            ));
        }
        s
    };
    // The Admin API shape: /clustering/data-planes, no expected hash.
    write_state(d, &state(1));
    let (code, out, err) = run(d, &["sync", "--wait=20"], &target(&server, false));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("all 1 data plane node(s) report config hash"),
        "{err}"
    );

    // Another team's plugin gets a breaking schema behind plugsync's back: the data plane
    // rejects every payload from now on.
    let (status, body) = post(
        &server,
        "/custom-plugins",
        &custom_plugin_body("theirs", "{ a = { type = \"string\" } }", &["other"]),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(
        &server,
        "/plugins",
        &json!({"name": "theirs", "config": {}, "tags": ["other"]}),
    );
    assert_eq!(status, 201, "{body}");
    let r = client()
        .put(server.v2("/custom-plugins/theirs"))
        .bearer_auth(TOKEN)
        .json(&custom_plugin_body(
            "theirs",
            "{ a = { type = \"string\" } }, { key = { type = \"string\", required = true } }",
            &["other"],
        ))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text());

    for (n, konnect) in [(2, true), (3, false)] {
        write_state(d, &state(n));
        let (code, out, err) = run(d, &["sync", "--wait=3"], &target(&server, konnect));
        assert_eq!(code, 1, "konnect={konnect}: {out}\n{err}");
        assert!(err.contains("the changes were applied, but"), "{err}");
        assert!(
            err.contains("required field missing"),
            "konnect={konnect}: the node's reason is missing:\n{err}"
        );
    }
}

// D7: `ordering` is checked offline as the control plane checks it.
#[test]
fn d7_a_bad_ordering_fails_lint_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let state = |ordering: &str| {
        format!(
            "_format_version: \"3.0\"\ncustom_plugins:\n{}plugins:\n  - name: early\n    ordering: {ordering}\n",
            plugin_yaml("early", "{ a = { type = \"string\" } }")
        )
    };
    for (ordering, message) in [
        (
            "{ before: { rewrite: [rate-limiting] } }",
            "invalid phase 'rewrite'",
        ),
        (
            "{ first: { access: [rate-limiting] } }",
            "ordering.first: unknown field",
        ),
        (
            "{ before: { access: rate-limiting } }",
            "expected an array of strings",
        ),
        (
            "{ after: { access: [\"not a name\"] } }",
            "expected a plugin name",
        ),
    ] {
        write_state(d, &state(ordering));
        let (code, out, err) = run(d, &["lint"], &[]);
        assert_eq!(code, 1, "{ordering}: {out}\n{err}");
        assert!(out.contains("error[instance-config]"), "{out}");
        assert!(out.contains(message), "{ordering}: {out}");
        let (code, _, err) = local(d, &["sync"]);
        assert_eq!(code, 1);
        assert!(err.contains("nothing was written"), "{err}");
    }
    write_state(
        d,
        &state("{ before: { access: [rate-limiting] }, after: { access: [early] } }"),
    );
    let (code, out, err) = local(d, &["sync"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

// A Kong Admin API target is read while the state lints; lint errors still come first, and
// alone: an unreachable address behind them is not reported.
#[test]
fn lint_errors_win_over_a_target_read_while_the_state_lints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_state(
        d,
        &format!(
            "_format_version: \"3.0\"\ncustom_plugins:\n{}plugins:\n  - name: early\n    config: {{ a: 1 }}\n",
            plugin_yaml("early", "{ a = { type = \"string\" } }")
        ),
    );
    let (code, out, err) = run(
        d,
        &["diff"],
        &["--kong-addr".to_string(), "http://127.0.0.1:9".to_string()],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("lint error"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!err.contains("reading the control plane failed"), "{err}");
    assert!(!err.contains("could not connect"), "{err}");
}

// D5: an unreachable address says it is retrying, gives up fast, and says after what.
#[test]
fn d5_an_unreachable_address_says_it_retries_and_gives_up_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_state(
        d,
        &format!(
            "_format_version: \"3.0\"\ncustom_plugins:\n{}",
            plugin_yaml("p", "{ a = { type = \"string\" } }")
        ),
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let (code, out, err) = run(d, &["diff", "--kong-addr", &addr], &[]);
    let took = started.elapsed();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        took < std::time::Duration::from_secs(8),
        "a refused first connection took {took:?}:\n{err}"
    );
    assert!(err.contains("retrying in"), "no retry notice:\n{err}");
    assert!(err.contains("(attempt 2 of 3)"), "{err}");
    assert!(err.contains("gave up after 3 attempts over"), "{err}");
    // The later retries are told with -v only.
    assert!(!err.contains("(attempt 3 of 3)"), "{err}");
    let (_, _, err) = run(d, &["diff", "-v", "--kong-addr", &addr], &[]);
    assert!(err.contains("(attempt 3 of 3)"), "{err}");
}

// D10: the cause is reported once, not its consequences.
#[test]
fn d10_an_unset_variable_or_a_misspelt_path_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_state(
        d,
        &format!(
            "_format_version: \"3.0\"\ncustom_plugins:\n{}plugins:\n  - name: hdr\n    config:\n      value: ${{{{ env \"PLUGSYNC_T12_UNSET\" }}}}\n",
            plugin_yaml("hdr", "{ value = { type = \"string\", required = true } }")
        ),
    );
    let (code, out, err) = run(d, &["lint"], &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("PLUGSYNC_T12_UNSET is not set"), "{out}");
    assert!(
        !out.contains("required field missing"),
        "a false consequence:\n{out}"
    );
    assert_eq!(out.matches("error[").count(), 1, "{out}");

    std::fs::create_dir_all(d.join("plugins/a")).unwrap();
    std::fs::write(
        d.join("plugins/a/handler.lua"),
        "return { PRIORITY = 1, VERSION = \"1.0.0\" }",
    )
    .unwrap();
    std::fs::write(
        d.join("plugins/a/schema.lua"),
        "return { name = \"a\", fields = { { config = { type = \"record\", fields = {} } } } }",
    )
    .unwrap();
    write_state(
        d,
        "_format_version: \"3.0\"\ncustom_plugins:\n  - name: a\n    pth: plugins/a\nplugins:\n  - name: a\n",
    );
    let (code, out, err) = run(d, &["lint"], &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("unknown key `pth`") && out.contains("did you mean `path`?"),
        "{out}"
    );
    assert!(
        !out.contains("no state file declares"),
        "a false consequence:\n{out}"
    );
    assert!(!out.contains("needs `path`"), "a consequence:\n{out}");
    assert_eq!(out.matches("error[").count(), 1, "{out}");
}

// D4: every example works wherever it is copied, each on its own, outside any repository.
#[test]
fn d4_each_example_lints_when_copied_alone_outside_a_repository() {
    for example in ["quickstart", "quickstart-v2"] {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(example);
        crate::copy_dir(&crate::root().join("examples").join(example), &copy);
        let (code, out, err) = run(&copy, &["lint"], &[]);
        assert_eq!(code, 0, "{example}:\n{out}\n{err}");
    }
}

// D11, D12: `sync -q` prints no plan; flags before the command work; a 401 names the token's
// flag and variable.
#[test]
fn d11_d12_quiet_sync_leading_flags_and_the_401_hint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_state(
        d,
        &format!(
            "_format_version: \"3.0\"\ncustom_plugins:\n{}",
            plugin_yaml("quiet", "{ a = { type = \"string\" } }")
        ),
    );
    let (code, out, err) = local(d, &["sync", "-q"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "sync -q printed the plan:\n{out}");
    assert!(err.contains("created 1"), "the summary line stays: {err}");

    let db = d.join("local.db").to_string_lossy().to_string();
    for args in [
        &["-v", "diff", "--local", &db][..],
        &["-q", "--format", "json", "diff", "--local", &db],
        &["--verbose", "lint"],
    ] {
        let (code, out, err) = run(d, args, &[]);
        assert_eq!(code, 0, "{args:?}:\n{out}\n{err}");
    }
    let (_, out, _) = run(d, &["--format", "json", "diff", "--local", &db], &[]);
    assert!(out.trim_start().starts_with('{'), "{out}");

    let server = start(d);
    for (konnect, flag, var) in [
        (false, "--kong-admin-token", "PLUGSYNC_KONG_ADMIN_TOKEN"),
        (true, "--konnect-token", "PLUGSYNC_KONNECT_TOKEN"),
    ] {
        let t = crate::target_flags(&server, konnect, "wrong-token-t12");
        let (code, out, err) = run(d, &["diff"], &t);
        assert_eq!(code, 1, "{out}\n{err}");
        assert!(err.contains("401"), "{err}");
        assert!(
            err.contains(flag) && err.contains(var),
            "no token hint:\n{err}"
        );
    }
}
