//! Reliability and security (issue 7): plugsync under injected faults, crashes, concurrent
//! runs, hostile input and fuzzing, and with secrets that must never leak.
//!
//! Every suite is bounded so the whole binary stays within CI's time; `docs/reliability.md`
//! says what each one tries, how often, and how to run the long versions.

mod concurrency;
mod crash;
mod faults;
mod fuzz;
mod hostile;
mod pacing;
mod scripted;
mod secrets;
mod server;

use std::path::Path;
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::Value;

use crate::{plugsync, Server};

/// The token the suites' servers require (not a secret of anyone; the secrets suite checks it
/// never shows).
pub const TOKEN: &str = "rel-token-7d1c9e-never-print-me";

/// Target flags for the Konnect shape (`konnect`) or the Admin API shape of `server`.
pub fn target(server: &Server, konnect: bool) -> Vec<String> {
    crate::target_flags(server, konnect, TOKEN)
}

/// Runs plugsync in `dir` with `args` then `extra`; returns exit code, stdout and stderr.
pub fn run(dir: &Path, args: &[&str], extra: &[String]) -> (i32, String, String) {
    let out = plugsync(dir)
        .args(args)
        .args(extra)
        .timeout(Duration::from_secs(240))
        .output()
        .expect("run plugsync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A blocking client for the tests' own requests.
pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// GETs a JSON document with the token, retrying through injected faults.
pub fn get(server: &Server, path: &str) -> Value {
    let c = client();
    for _ in 0..100 {
        if let Ok(r) = c.get(server.url(path)).bearer_auth(TOKEN).send() {
            if r.status().is_success() {
                return r.json().expect("json");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("GET {path} kept failing");
}

/// Every entity of a core-entities list of the `default` control plane (all pages).
pub fn list(server: &Server, kind: &str) -> Vec<Value> {
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

/// The data plane log's rejected payloads.
pub fn rejected_payloads(server: &Server) -> Vec<Value> {
    let log = get(server, "/_plugsync/dp-log");
    log.as_array()
        .expect("dp log is a list")
        .iter()
        .filter(|e| e["accepted"] != true)
        .cloned()
        .collect()
}

/// A state of `n` plugin families (`PREFIX0`…), each a custom plugin with one global
/// instance, at `version` 1 or 2. Version 2 of family `i` is `PREFIXi-v2`, which `replaces`
/// `PREFIXi` and adds a required field without a default (a `long` change: only a migration
/// can make it). All entities carry `tag`, which is also the state's select tag.
pub fn family_state(prefix: &str, n: usize, version: u8, tag: &str) -> String {
    let mut out =
        format!("_format_version: \"3.0\"\n_info:\n  select_tags: [{tag}]\ncustom_plugins:\n");
    let name = |i: usize| {
        if version == 1 {
            format!("{prefix}{i}")
        } else {
            format!("{prefix}{i}-v2")
        }
    };
    for i in 0..n {
        let extra = if version == 1 {
            String::new()
        } else {
            ", { mode = { type = \"string\", required = true, one_of = { \"a\", \"b\" } } }"
                .to_string()
        };
        out.push_str(&format!(
            "  - name: {n}\n    tags: [{tag}]\n    handler: 'return {{ PRIORITY = {p}, VERSION = \"{version}.0.0\" }}'\n    schema: 'return {{ name = \"{n}\", fields = {{ {{ config = {{ type = \"record\", fields = {{ {{ value = {{ type = \"string\", required = true }} }}{extra} }} }} }} }} }}'\n",
            n = name(i),
            p = 1000 + i,
        ));
        if version == 2 {
            out.push_str(&format!("    replaces: {prefix}{i}\n"));
        }
    }
    out.push_str("plugins:\n");
    for i in 0..n {
        let mode = if version == 1 { "" } else { ", mode: b" };
        out.push_str(&format!(
            "  - name: {n}\n    instance_name: {prefix}i{i}\n    tags: [{tag}]\n    config: {{ value: \"v{i}\"{mode} }}\n",
            n = name(i)
        ));
    }
    out
}

/// Checks the invariants that must hold at every moment of a migration of the families
/// `prefix0..n` (custom plugins and instances as listed): every instance references an
/// existing plugin; each family has exactly one instance; an old version is gone only when
/// its instance moved; no name is there twice.
pub fn check_families(
    prefix: &str,
    n: usize,
    custom_plugins: &[Value],
    instances: &[Value],
    context: &str,
) {
    let plugin_names: Vec<&str> = custom_plugins
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    let mut sorted = plugin_names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        plugin_names.len(),
        "{context}: a custom plugin is there twice"
    );
    for inst in instances {
        let name = inst["name"].as_str().unwrap_or_default();
        assert!(
            plugin_names.contains(&name),
            "{context}: instance {} references missing plugin {name}",
            inst["instance_name"]
        );
    }
    for i in 0..n {
        let iname = format!("{prefix}i{i}");
        let mine: Vec<&Value> = instances
            .iter()
            .filter(|p| p["instance_name"] == iname.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "{context}: instance {iname}: {mine:?}");
        let v1 = format!("{prefix}{i}");
        let v2 = format!("{prefix}{i}-v2");
        if !plugin_names.contains(&v1.as_str()) {
            assert_eq!(
                mine[0]["name"],
                v2.as_str(),
                "{context}: {v1} was deleted before its instance moved"
            );
        }
    }
}

/// Counts the `fault injected:` lines the server wrote so far.
pub fn faults_logged(server: &Server) -> usize {
    server
        .stderr
        .lock()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("fault injected:"))
        .count()
}
