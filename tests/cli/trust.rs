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
