//! The GitHub Action: `action.yml` is well formed, and its step script
//! (`scripts/action/run.sh`) run as GitHub runs it — with a temporary `GITHUB_OUTPUT` and
//! `GITHUB_STEP_SUMMARY`, against a real `plugsync serve`, and with a fake GitHub REST API on
//! loopback that records every request and keeps the pull request's comments.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{json, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::{copy_dir, git, git_commit, root, Server};

const GH_TOKEN: &str = "ghs_fake-token-for-tests-0123456789";
const ADMIN_TOKEN: &str = "admin-token-for-action-tests-9876";

// ---------------------------------------------------------------------------------------------
// A fake GitHub API: issue comments of one pull request.

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

#[derive(Default)]
struct GitHub {
    requests: Vec<Recorded>,
    /// (id, body) of the pull request's comments.
    comments: Vec<(u64, String)>,
}

struct FakeGitHub {
    base: String,
    state: Arc<Mutex<GitHub>>,
}

impl FakeGitHub {
    fn start() -> FakeGitHub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake GitHub");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(GitHub::default()));
        let shared = Arc::clone(&state);
        // Serves until the test process ends; each request is short and bounded.
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &shared);
            }
        });
        FakeGitHub { base, state }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    fn comments(&self) -> Vec<(u64, String)> {
        self.state.lock().unwrap().comments.clone()
    }
}

fn serve(stream: TcpStream, state: &Mutex<GitHub>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut out = stream;
    if headers
        .get("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body).into_owned();
    let (status, response) = {
        let mut gh = state.lock().unwrap();
        gh.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
            body: body.clone(),
        });
        let authorized = headers.get("authorization").map(String::as_str)
            == Some(&format!("Bearer {GH_TOKEN}") as &str);
        let route = path.split('?').next().unwrap_or("");
        if !authorized {
            (401, json!({"message": "Bad credentials"}))
        } else if method == "GET" && route == "/repos/acme/plugins/issues/7/comments" {
            let page: usize = path
                .split("page=")
                .last()
                .and_then(|p| p.split('&').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let list: Vec<Value> = gh
                .comments
                .iter()
                .skip((page - 1) * 100)
                .take(100)
                .map(|(id, body)| json!({"id": id, "body": body, "user": {"login": "x"}}))
                .collect();
            (200, Value::Array(list))
        } else if method == "POST" && route == "/repos/acme/plugins/issues/7/comments" {
            let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let id = 1000 + gh.comments.len() as u64;
            gh.comments
                .push((id, body["body"].as_str().unwrap_or("").to_string()));
            (201, json!({"id": id}))
        } else if method == "PATCH" && route.starts_with("/repos/acme/plugins/issues/comments/") {
            let id: u64 = route.rsplit('/').next().unwrap_or("").parse().unwrap_or(0);
            let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            match gh.comments.iter_mut().find(|(i, _)| *i == id) {
                Some(c) => {
                    c.1 = body["body"].as_str().unwrap_or("").to_string();
                    (200, json!({"id": id}))
                }
                None => (404, json!({"message": "Not Found"})),
            }
        } else {
            (404, json!({"message": "Not Found"}))
        }
    };
    let text = response.to_string();
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    out.flush()
}

// ---------------------------------------------------------------------------------------------
// Running the step script.

struct Step {
    code: i32,
    stdout: String,
    stderr: String,
    outputs: BTreeMap<String, String>,
    summary: String,
}

fn run_step(workdir: &Path, temp: &Path, github: &FakeGitHub, inputs: &[(&str, &str)]) -> Step {
    run_step_with(workdir, temp, github, inputs, &[])
}

fn run_step_with(
    workdir: &Path,
    temp: &Path,
    github: &FakeGitHub,
    inputs: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Step {
    let output_file = temp.join("github_output");
    let summary_file = temp.join("step_summary");
    std::fs::write(&output_file, "").expect("GITHUB_OUTPUT");
    std::fs::write(&summary_file, "").expect("GITHUB_STEP_SUMMARY");
    let event = temp.join("event.json");
    std::fs::write(
        &event,
        json!({"action": "synchronize", "number": 7, "pull_request": {"number": 7}}).to_string(),
    )
    .expect("event");
    let runner_temp = temp.join("runner");
    std::fs::create_dir_all(&runner_temp).expect("runner temp");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(root().join("scripts/action/run.sh"))
        .current_dir(workdir)
        .env("PLUGSYNC_BIN", env!("CARGO_BIN_EXE_plugsync"))
        .env("GITHUB_OUTPUT", &output_file)
        .env("GITHUB_STEP_SUMMARY", &summary_file)
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_REPOSITORY", "acme/plugins")
        .env("GITHUB_API_URL", &github.base)
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_WORKFLOW", "plugins")
        .env("GITHUB_JOB", "review")
        .env("RUNNER_TEMP", &runner_temp);
    for (k, _) in std::env::vars() {
        if k.starts_with("PLUGSYNC_") && k != "PLUGSYNC_BIN" || k.starts_with("INPUT_") {
            cmd.env_remove(k);
        }
    }
    for (name, value) in inputs {
        let var = format!("INPUT_{}", name.to_ascii_uppercase().replace('-', "_"));
        cmd.env(var, value);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the step script");
    let mut outputs = BTreeMap::new();
    for line in std::fs::read_to_string(&output_file)
        .expect("outputs")
        .lines()
    {
        if let Some((k, v)) = line.split_once('=') {
            outputs.insert(k.to_string(), v.to_string());
        }
    }
    Step {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        outputs,
        summary: std::fs::read_to_string(&summary_file).expect("summary"),
    }
}

impl Step {
    fn output(&self, name: &str) -> &str {
        self.outputs
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| {
                panic!(
                    "no output {name} in {:?}; stderr:\n{}",
                    self.outputs, self.stderr
                )
            })
    }
}

const MARKER: &str = "<!-- plugsync-action: plugins/review/diff -->";

#[test]
fn diff_then_sync_then_diff_against_a_local_control_plane() {
    let temp = tempfile::tempdir().expect("tempdir");
    let work = temp.path().join("repo");
    copy_dir(&root().join("examples/quickstart"), &work);
    let data = temp.path().join("serve.db");
    let server = Server::start(data.to_str().expect("utf-8"), &["--token", ADMIN_TOKEN]);
    let github = FakeGitHub::start();
    // Somebody else's comment comes first; the marker tells ours apart.
    github
        .state
        .lock()
        .unwrap()
        .comments
        .push((1, "LGTM".to_string()));
    let target = [
        ("kong-addr", server.base.as_str()),
        ("kong-admin-token", ADMIN_TOKEN),
        ("github-token", GH_TOKEN),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        target
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    };

    // 1. diff: changes are reported through has-changes, not a failed step.
    let step = run_step(
        &work,
        temp.path(),
        &github,
        &with(&[
            ("command", "diff"),
            ("state", "plugsync.yaml"),
            ("comment", "true"),
        ]),
    );
    assert_eq!(
        step.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        step.stdout, step.stderr
    );
    assert!(step.stdout.contains(&format!("::add-mask::{ADMIN_TOKEN}")));
    assert!(step.stdout.contains(&format!("::add-mask::{GH_TOKEN}")));
    assert_eq!(step.output("exit-code"), "2");
    assert_eq!(step.output("has-changes"), "true");
    assert_eq!(step.output("has-breaking-changes"), "false");
    let plan_file = PathBuf::from(step.output("plan-file"));
    let plan: Value =
        serde_json::from_slice(&std::fs::read(&plan_file).expect("the plan file exists"))
            .expect("the plan file is JSON");
    assert_eq!(plan["format_version"], 1);
    assert_eq!(plan["summary"]["create"], 4, "{plan:#}");
    assert!(
        step.summary
            .starts_with("## plugsync plan for Kong control plane"),
        "{}",
        step.summary
    );
    assert!(step.summary.contains("request-tagger"), "{}", step.summary);
    for text in [&step.summary, &step.stdout, &step.stderr] {
        assert!(!text.contains(ADMIN_TOKEN) || text.contains("::add-mask::"));
    }
    assert!(!step.summary.contains(ADMIN_TOKEN));
    let comments = github.comments();
    assert_eq!(comments.len(), 2, "{comments:?}");
    let (id, body) = &comments[1];
    assert!(body.starts_with(MARKER), "{body}");
    assert!(body.contains("## plugsync plan"), "{body}");
    assert!(body.contains("request-tagger"), "{body}");
    assert!(
        body.contains("[workflow run](https://github.example/acme/plugins/actions/runs/4242)"),
        "{body}"
    );
    assert!(!body.contains(ADMIN_TOKEN));
    let requests = github.requests();
    let methods: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, vec!["GET", "POST"], "{requests:#?}");
    assert!(requests[0]
        .path
        .starts_with("/repos/acme/plugins/issues/7/comments?per_page=100&page=1"));
    for r in &requests {
        assert_eq!(r.headers["accept"], "application/vnd.github+json");
        assert_eq!(r.headers["authorization"], format!("Bearer {GH_TOKEN}"));
    }

    // 2. sync: writes, without a comment; the plan file holds the plan that was applied.
    let step = run_step(
        &work,
        temp.path(),
        &github,
        &with(&[("command", "sync"), ("args", "--parallelism 2")]),
    );
    assert_eq!(
        step.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        step.stdout, step.stderr
    );
    assert_eq!(step.output("exit-code"), "0");
    assert_eq!(step.output("has-changes"), "true");
    let plan: Value =
        serde_json::from_slice(&std::fs::read(step.output("plan-file")).expect("plan file"))
            .expect("json");
    assert_eq!(plan["summary"]["create"], 4);
    assert!(
        step.summary.contains("## plugsync sync"),
        "{}",
        step.summary
    );
    assert!(step.summary.contains("| done |"), "{}", step.summary);
    assert_eq!(
        github.requests().len(),
        2,
        "no comment without comment: true"
    );

    // 3. diff again: no changes, and the same comment is updated in place.
    let step = run_step(
        &work,
        temp.path(),
        &github,
        &with(&[("command", "diff"), ("comment", "true")]),
    );
    assert_eq!(step.code, 0, "{}", step.stderr);
    assert_eq!(step.output("exit-code"), "0");
    assert_eq!(step.output("has-changes"), "false");
    let comments = github.comments();
    assert_eq!(comments.len(), 2, "updated, not added: {comments:?}");
    assert_eq!(comments[1].0, *id);
    assert!(comments[1].1.starts_with(MARKER));
    assert!(comments[1].1.contains("No changes"), "{}", comments[1].1);
    assert_eq!(comments[0].1, "LGTM");
    let requests = github.requests();
    let last = requests.last().expect("requests");
    assert_eq!(last.method, "PATCH");
    assert_eq!(
        last.path,
        format!("/repos/acme/plugins/issues/comments/{id}")
    );
    let sent: Value = serde_json::from_str(&last.body).expect("a JSON body");
    assert!(sent["body"].as_str().unwrap_or("").contains("No changes"));
    server.stop();
}

/// A handler of some 300 lines, every one of which depends on `tag`.
fn big_handler(tag: &str) -> String {
    let mut s = String::from("local P = { PRIORITY = 10, VERSION = \"1.0.0\" }\n\nlocal V = {\n");
    for i in 0..300 {
        s.push_str(&format!(
            "  \"{tag} value {i} ------------------------\",\n"
        ));
    }
    s.push_str("}\n\nfunction P:access(conf)\n  kong.log.debug(V[1])\nend\n\nreturn P\n");
    s
}

const BIG_PLUGINS: usize = 8;

/// A repository whose last commit rewrites the handlers of eight plugins entirely (a Markdown
/// report of some 200,000 characters before cutting); the working tree equals it.
fn big_review_repo(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    git(dir, &["init", "-q"]);
    let mut state = String::from("_format_version: \"3.0\"\ncustom_plugins:\n");
    for n in 1..=BIG_PLUGINS {
        state.push_str(&format!("  - name: big{n}\n    path: plugins/big{n}\n"));
        std::fs::create_dir_all(dir.join(format!("plugins/big{n}"))).expect("mkdir");
        std::fs::write(
            dir.join(format!("plugins/big{n}/schema.lua")),
            format!("return {{ name = \"big{n}\", fields = {{ {{ config = {{ type = \"record\", fields = {{}} }} }} }} }}\n"),
        )
        .expect("schema");
        std::fs::write(
            dir.join(format!("plugins/big{n}/handler.lua")),
            big_handler("old"),
        )
        .expect("handler");
    }
    std::fs::write(dir.join("plugsync.yaml"), state).expect("state");
    git_commit(dir, "big");
    for n in 1..=BIG_PLUGINS {
        std::fs::write(
            dir.join(format!("plugins/big{n}/handler.lua")),
            big_handler("new"),
        )
        .expect("handler");
    }
    git_commit(dir, "rewrite");
}

fn fences_balanced(text: &str) -> bool {
    text.lines()
        .filter(|l| l.trim_start().starts_with("```"))
        .count()
        % 2
        == 0
}

#[test]
fn offline_review_of_a_very_large_change_is_cut_to_fit() {
    let temp = tempfile::tempdir().expect("tempdir");
    let work = temp.path().join("repo");
    big_review_repo(&work);
    let github = FakeGitHub::start();
    let inputs = [
        ("command", "diff"),
        ("base-ref", "HEAD~1"),
        ("comment", "true"),
        ("github-token", GH_TOKEN),
    ];
    let step = run_step(&work, temp.path(), &github, &inputs);
    assert_eq!(
        step.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        step.stdout, step.stderr
    );
    assert_eq!(step.output("exit-code"), "2");
    assert_eq!(step.output("has-changes"), "true");
    assert_eq!(step.output("has-breaking-changes"), "false");
    let plan: Value =
        serde_json::from_slice(&std::fs::read(step.output("plan-file")).expect("plan file"))
            .expect("json");
    assert_eq!(plan["target"]["kind"], "git");
    assert_eq!(plan["summary"]["update"], BIG_PLUGINS);
    // plugsync's own Markdown is cut to 60,000 characters; the comment stays under GitHub's
    // 65,536, marker and footer included.
    assert!(
        step.summary.len() <= 60_000 + 1_000,
        "{}",
        step.summary.len()
    );
    assert!(
        step.summary.contains("this report was truncated"),
        "{}",
        &step.summary[step.summary.len().saturating_sub(500)..]
    );
    let comments = github.comments();
    assert_eq!(comments.len(), 1);
    let body = &comments[0].1;
    assert!(body.starts_with("<!-- plugsync-action: plugins/review/diff -->"));
    assert!(body.chars().count() < 65_536, "{}", body.chars().count());
    assert!(fences_balanced(body));

    // The step's own limits: a summary and a comment cut at a line, fences closed, a note.
    let step = run_step_with(
        &work,
        temp.path(),
        &github,
        &inputs,
        &[
            ("PLUGSYNC_ACTION_SUMMARY_LIMIT", "20000"),
            ("PLUGSYNC_ACTION_COMMENT_LIMIT", "9000"),
        ],
    );
    assert_eq!(step.code, 0, "{}", step.stderr);
    assert!(step.summary.len() <= 20_000, "{}", step.summary.len());
    assert!(
        step.summary
            .contains("cut to fit GitHub's 1 MiB step summary limit"),
        "{}",
        step.summary
    );
    assert!(fences_balanced(&step.summary), "{}", step.summary);
    assert_eq!(
        step.summary.matches("<details").count(),
        step.summary.matches("</details>").count(),
        "{}",
        step.summary
    );
    let comments = github.comments();
    assert_eq!(comments.len(), 1, "updated in place");
    let body = &comments[0].1;
    assert!(body.chars().count() <= 9_000, "{}", body.chars().count());
    assert!(body.contains("cut to fit a pull request comment"), "{body}");
    assert!(fences_balanced(body), "{body}");
}

#[test]
fn failures_fail_the_step_after_reporting() {
    let temp = tempfile::tempdir().expect("tempdir");
    let work = temp.path().join("repo");
    std::fs::create_dir_all(&work).expect("mkdir");
    std::fs::write(
        work.join("plugsync.yaml"),
        "_format_version: \"3.0\"\ncustom_plugins:\n  - name: x\n    handler: 'return {'\n    schema: 'return { name = \"x\", fields = {} }'\n",
    )
    .expect("state");
    let github = FakeGitHub::start();
    let step = run_step(&work, temp.path(), &github, &[("command", "lint")]);
    assert_eq!(step.code, 1, "{}", step.stderr);
    assert_eq!(step.output("exit-code"), "1");
    assert_eq!(step.output("has-changes"), "false");
    assert_eq!(step.output("plan-file"), "");
    assert!(step.summary.contains("lua-syntax"), "{}", step.summary);
    assert!(
        step.stdout.contains("::error title=plugsync::"),
        "{}",
        step.stdout
    );

    // A base-ref outside a repository: plugsync's error reaches the summary.
    let step = run_step(
        &work,
        temp.path(),
        &github,
        &[("command", "diff"), ("base-ref", "main")],
    );
    assert_eq!(step.code, 1);
    assert_eq!(step.output("exit-code"), "1");
    assert!(
        step.summary.contains("no git repository holds"),
        "{}",
        step.summary
    );

    let step = run_step(&work, temp.path(), &github, &[("command", "destroy")]);
    assert_eq!(step.code, 1);
    assert!(step
        .stdout
        .contains("must be lint, diff, plan, apply, sync or test"));
    let step = run_step(&work, temp.path(), &github, &[("command", "apply")]);
    assert_eq!(step.code, 1);
    assert!(
        step.stdout.contains("command apply needs input plan-file"),
        "{}",
        step.stdout
    );
    assert_eq!(step.output("stale-plan"), "false");
    assert!(github.requests().is_empty(), "no comment was asked for");
}

#[test]
fn diff_plan_and_sync_without_a_target_or_base_ref_fail_naming_the_inputs() {
    let temp = tempfile::tempdir().expect("tempdir");
    let work = temp.path().join("repo");
    copy_dir(&root().join("examples/quickstart"), &work);
    let github = FakeGitHub::start();
    std::fs::write(temp.path().join("plan.json"), "{}").expect("plan");
    let plan = temp.path().join("plan.json");
    for command in ["diff", "plan", "sync", "apply"] {
        let mut inputs = vec![("command", command)];
        if command == "apply" {
            inputs.push(("plan-file", plan.to_str().expect("utf-8")));
        }
        let step = run_step(&work, temp.path(), &github, &inputs);
        assert_eq!(step.code, 1, "{command}: {}", step.stdout);
        assert_eq!(step.output("exit-code"), "1");
        for input in ["konnect-token", "kong-addr", "base-ref"] {
            assert!(
                step.stdout.contains(input),
                "{command}: the error does not name {input}:\n{}",
                step.stdout
            );
        }
        assert!(
            !work.join(".plugsync").exists(),
            "{command} made a throwaway embedded database"
        );
    }
    // An explicit embedded target is a choice, not an accident.
    let db = temp.path().join("local.db");
    let args = format!("--local {}", db.display());
    let step = run_step(
        &work,
        temp.path(),
        &github,
        &[("command", "diff"), ("args", args.as_str())],
    );
    assert_eq!(step.code, 0, "{}\n{}", step.stdout, step.stderr);
}

#[test]
fn command_test_runs_the_plugin_tests_offline_and_fails_on_a_wrong_expectation() {
    let temp = tempfile::tempdir().expect("tempdir");
    let work = temp.path().join("repo");
    copy_dir(&root().join("examples/quickstart"), &work);
    let github = FakeGitHub::start();
    let step = run_step(
        &work,
        temp.path(),
        &github,
        &[("command", "test"), ("select-tag", "quickstart")],
    );
    assert_eq!(step.code, 0, "{}\n{}", step.stdout, step.stderr);
    assert_eq!(step.output("exit-code"), "0");
    assert!(
        step.summary.contains("test result: 8 passed, 0 failed"),
        "{}",
        step.summary
    );
    let file = work.join("tests/request-tagger.test.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("X-Request-Tag: blue", "X-Request-Tag: green"),
    )
    .unwrap();
    let step = run_step(&work, temp.path(), &github, &[("command", "test")]);
    assert_eq!(step.code, 1);
    assert!(step.summary.contains("❌ fail"), "{}", step.summary);
    assert!(
        step.summary
            .contains("| `upstream_request.headers.X-Request-Tag` | `\"green\"` | `\"blue\"` |"),
        "{}",
        step.summary
    );
}

// ---------------------------------------------------------------------------------------------
// action.yml

fn strings<'y>(y: &'y Yaml, out: &mut Vec<&'y str>) {
    match y {
        Yaml::String(s) => out.push(s),
        Yaml::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Yaml::Hash(h) => h.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

/// Every `PREFIX.NAME` in `text` (NAME: letters, digits, `-`, `_`).
fn references(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let after = &rest[i + prefix.len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let boundary = i == 0
            || !rest[..i]
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
        if !name.is_empty() && boundary {
            out.insert(name);
        }
        rest = after;
    }
    out
}

fn keys(y: &Yaml) -> BTreeSet<String> {
    y.as_hash()
        .map(|h| {
            h.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn action_yml_declares_everything_it_uses() {
    let text = std::fs::read_to_string(root().join("action.yml")).expect("action.yml");
    let docs = YamlLoader::load_from_str(&text).expect("action.yml is YAML");
    let action = &docs[0];
    assert!(action["name"].as_str().is_some());
    assert!(action["description"].as_str().is_some());
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));

    // CONTRACT §8's inputs and outputs are declared, each with a description.
    let inputs = keys(&action["inputs"]);
    let contract_inputs = [
        "command",
        "state",
        "select-tag",
        "konnect-token",
        "konnect-addr",
        "konnect-control-plane-name",
        "kong-addr",
        "kong-admin-token",
        "base-ref",
        "args",
        "comment",
        "github-token",
    ];
    for i in contract_inputs {
        assert!(inputs.contains(i), "input {i} is not declared");
        assert!(action["inputs"][i]["description"].as_str().is_some());
    }
    assert_eq!(
        action["inputs"]["command"]["default"].as_str(),
        Some("diff")
    );
    assert_eq!(
        action["inputs"]["github-token"]["default"].as_str(),
        Some("${{ github.token }}")
    );
    let outputs = keys(&action["outputs"]);
    for o in [
        "exit-code",
        "has-changes",
        "has-breaking-changes",
        "plan-file",
    ] {
        assert!(outputs.contains(o), "output {o} is not declared");
    }

    // Every `inputs.X` used is declared, and every declared input is used.
    let steps = action["runs"]["steps"].as_vec().expect("steps");
    let mut all = Vec::new();
    strings(&action["runs"], &mut all);
    let used: BTreeSet<String> = all.iter().flat_map(|s| references(s, "inputs.")).collect();
    assert_eq!(used, inputs, "inputs used vs declared");

    // Every step referred to exists, and each output comes from the step script.
    let ids: BTreeSet<String> = steps
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    let mut refs = Vec::new();
    strings(action, &mut refs);
    for s in &refs {
        for id in references(s, "steps.") {
            assert!(
                ids.contains(&id),
                "step `{id}` is referred to but has no such id"
            );
        }
    }
    let script = std::fs::read_to_string(root().join("scripts/action/run.sh")).expect("run.sh");
    for o in &outputs {
        let value = action["outputs"][o.as_str()]["value"]
            .as_str()
            .expect("a composite output has a value");
        assert_eq!(value, format!("${{{{ steps.run.outputs.{o} }}}}"));
        assert!(
            script.contains(&format!("output {o} ")),
            "run.sh never sets output {o}"
        );
    }

    // The step script's INPUT_* variables are exactly those the run step sets.
    let run = steps
        .iter()
        .find(|s| s["id"].as_str() == Some("run"))
        .expect("the run step");
    assert!(run["run"]
        .as_str()
        .unwrap_or("")
        .contains("scripts/action/run.sh"));
    let env = keys(&run["env"]);
    let set: BTreeSet<String> = env
        .iter()
        .filter(|k| k.starts_with("INPUT_"))
        .cloned()
        .collect();
    let read: BTreeSet<String> = references(&script, "INPUT_")
        .into_iter()
        .map(|n| format!("INPUT_{n}"))
        .collect();
    assert_eq!(
        set, read,
        "INPUT_ variables set by action.yml vs read by run.sh"
    );
    for (k, v) in run["env"].as_hash().expect("env") {
        let (k, v) = (k.as_str().unwrap_or(""), v.as_str().unwrap_or(""));
        if let Some(name) = k.strip_prefix("INPUT_") {
            let input = name.to_ascii_lowercase().replace('_', "-");
            assert_eq!(v, format!("${{{{ inputs.{input} }}}}"), "{k}");
        }
    }

    // Tokens are masked before plugsync runs; the binary is cached under the key the resolve
    // step chose (a release and target, or Cargo.lock and the source), and actions are pinned
    // by commit.
    let first = &steps[0];
    assert!(first["run"].as_str().unwrap_or("").contains("::add-mask::"));
    let cache = steps
        .iter()
        .find(|s| s["id"].as_str() == Some("cache"))
        .expect("the cache step");
    assert!(cache["uses"]
        .as_str()
        .unwrap_or("")
        .starts_with("actions/cache@"));
    assert_eq!(
        cache["with"]["key"].as_str(),
        Some("${{ steps.resolve.outputs.cache-key }}")
    );
    assert_eq!(
        cache["with"]["path"].as_str(),
        Some("${{ steps.resolve.outputs.cache-path }}")
    );
    for step in steps {
        if let Some(uses) = step["uses"].as_str() {
            let sha = uses.split('@').nth(1).unwrap_or("");
            assert!(
                sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                "{uses} is not pinned to a commit"
            );
        }
    }
    let install = steps
        .iter()
        .find(|s| s["id"].as_str() == Some("install"))
        .expect("the install step");
    assert!(install["run"]
        .as_str()
        .unwrap_or("")
        .contains("scripts/action/install.sh\" install"));
    assert_eq!(
        run["env"]["PLUGSYNC_BIN"].as_str(),
        Some("${{ steps.install.outputs.bin || steps.resolve.outputs.bin }}")
    );
}

// ---------------------------------------------------------------------------------------------
// lint annotations, apply of a reviewed plan

#[test]
fn lint_annotates_the_files_of_the_pull_request() {
    let temp = tempfile::tempdir().expect("tempdir");
    let work = temp.path().join("repo");
    copy_dir(&root().join("testdata/lint/instance-config"), &work);
    let github = FakeGitHub::start();
    let step = run_step(&work, temp.path(), &github, &[("command", "lint")]);
    assert_eq!(step.code, 1, "{}", step.stderr);
    let annotations: Vec<&str> = step
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error file="))
        .collect();
    assert!(!annotations.is_empty(), "{}", step.stdout);
    for a in &annotations {
        assert!(
            a.starts_with("::error file=plugsync.yaml,line=") && a.contains(",col="),
            "{a}"
        );
        assert!(a.contains("title=plugsync "), "{a}");
    }
    assert!(
        annotations
            .iter()
            .any(|a| a.contains("title=plugsync instance-config::")),
        "{annotations:?}"
    );
    assert!(
        step.summary.contains("instance-config"),
        "the Markdown report is still written: {}",
        step.summary
    );
}

#[test]
fn apply_runs_a_reviewed_plan_and_reports_a_stale_one() {
    let temp = tempfile::tempdir().expect("tempdir");
    let work = temp.path().join("repo");
    copy_dir(&root().join("examples/quickstart"), &work);
    let data = temp.path().join("serve.db");
    let server = Server::start(data.to_str().expect("utf-8"), &["--token", ADMIN_TOKEN]);
    let github = FakeGitHub::start();
    let target = [
        ("kong-addr", server.base.as_str()),
        ("kong-admin-token", ADMIN_TOKEN),
    ];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(String, String)> {
        target
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let run = |inputs: Vec<(String, String)>| {
        let refs: Vec<(&str, &str)> = inputs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        run_step(&work, temp.path(), &github, &refs)
    };

    // The plan job: its plan file goes to the apply job (as an artifact would).
    let step = run(with(&[("command", "plan")]));
    assert_eq!(step.code, 0, "{}\n{}", step.stdout, step.stderr);
    assert_eq!(step.output("has-changes"), "true");
    let reviewed = temp.path().join("reviewed-plan.json");
    std::fs::copy(step.output("plan-file"), &reviewed).expect("keep the plan");
    let reviewed_path = reviewed.to_str().expect("utf-8").to_string();

    // The apply job.
    let step = run(with(&[("command", "apply"), ("plan-file", &reviewed_path)]));
    assert_eq!(step.code, 0, "{}\n{}", step.stdout, step.stderr);
    assert_eq!(step.output("exit-code"), "0");
    assert_eq!(step.output("stale-plan"), "false");
    assert!(
        step.summary
            .contains("plugsync apply to kong control plane"),
        "{}",
        step.summary
    );
    assert!(step.output("plugsync-version").starts_with("plugsync "));

    // A second apply of the same plan: the control plane changed since it was made.
    let step = run(with(&[("command", "apply"), ("plan-file", &reviewed_path)]));
    assert_eq!(step.code, 3, "{}\n{}", step.stdout, step.stderr);
    assert_eq!(step.output("exit-code"), "3");
    assert_eq!(step.output("stale-plan"), "true");
    assert_eq!(step.output("plan-file"), reviewed_path);
    assert!(
        step.stdout
            .contains("::error title=plugsync::the plan is stale"),
        "{}",
        step.stdout
    );
    assert!(step.summary.contains("stale"), "{}", step.summary);
    server.stop();
}
