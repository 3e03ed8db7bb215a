//! Distribution and integration points: the Action's install step against a fake GitHub
//! release on 127.0.0.1, the state file JSON Schema against the loader's key lists, SARIF and
//! GitHub annotations from `lint`, shell completions, man pages, `--version` and `ping`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::Value;

use crate::{root, run_plugsync, Server};

// ---------------------------------------------------------------------------------------------
// A fake release server: serves the files under a directory, records each path asked for.

struct FakeReleases {
    base: String,
    asked: Arc<Mutex<Vec<String>>>,
}

impl FakeReleases {
    fn start(dir: PathBuf) -> FakeReleases {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                log.lock().unwrap().push(path.clone());
                let file = dir.join(path.trim_start_matches('/'));
                let mut out = stream;
                let _ = match std::fs::read(&file) {
                    Ok(body) if file.is_file() => {
                        write!(
                            out,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .and_then(|()| out.write_all(&body))
                    }
                    _ => out.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found",
                    ),
                };
            }
        });
        FakeReleases { base, asked }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// A release `tag` of the test-built binary for `target`, made by the release workflow's own
/// packaging script, under `dir/TAG/`.
fn fake_release(dir: &Path, tag: &str, target: &str) {
    let bins = dir.join("bins").join(format!("bin-{target}"));
    std::fs::create_dir_all(&bins).expect("mkdir");
    std::fs::copy(env!("CARGO_BIN_EXE_plugsync"), bins.join("plugsync")).expect("copy");
    let extra = dir.join("extra/man");
    std::fs::create_dir_all(&extra).expect("mkdir");
    std::fs::write(extra.join("plugsync.1"), ".TH plugsync 1\n").expect("man");
    let out = Command::new("bash")
        .arg(root().join("scripts/release/package.sh"))
        .args([tag])
        .arg(dir.join("bins"))
        .arg(dir.join("extra"))
        .arg(dir.join("www").join(tag))
        .output()
        .expect("package.sh");
    assert!(
        out.status.success(),
        "package.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Install {
    code: i32,
    stdout: String,
    outputs: BTreeMap<String, String>,
}

/// Runs `install.sh SUBCOMMAND` as the action's step would, on a Linux x86_64 runner.
fn install_sh(sub: &str, home: &Path, env: &[(&str, &str)]) -> Install {
    let output_file = home.join(format!("github_output_{sub}"));
    std::fs::write(&output_file, "").expect("GITHUB_OUTPUT");
    let runner_temp = home.join("runner-temp");
    std::fs::create_dir_all(&runner_temp).expect("mkdir");
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/action/install.sh"))
        .arg(sub)
        .env("HOME", home)
        .env("GITHUB_OUTPUT", &output_file)
        .env("GITHUB_ACTION_PATH", root())
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("RUNNER_TEMP", &runner_temp)
        .env_remove("INPUT_VERSION")
        .env_remove("ACTION_REF")
        .env_remove("ACTION_REPOSITORY")
        .env_remove("PLUGSYNC_ACTION_RELEASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run install.sh");
    let mut outputs = BTreeMap::new();
    for line in std::fs::read_to_string(&output_file)
        .expect("outputs")
        .lines()
    {
        if let Some((k, v)) = line.split_once('=') {
            outputs.insert(k.to_string(), v.to_string());
        }
    }
    Install {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
        outputs,
    }
}

/// `RESOLVED_*` variables from the outputs of `install.sh resolve`, as action.yml passes them.
fn resolved(r: &Install) -> Vec<(String, String)> {
    [
        "mode",
        "version",
        "repository",
        "target",
        "asset",
        "bin-dir",
        "fallback",
    ]
    .iter()
    .map(|k| {
        (
            format!("RESOLVED_{}", k.to_ascii_uppercase().replace('-', "_")),
            r.outputs.get(*k).cloned().unwrap_or_default(),
        )
    })
    .collect()
}

/// (environment, expected mode, version and fallback) of `install.sh resolve`.
type ResolveCase<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str, &'a str);

fn crate_version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

#[test]
fn the_action_picks_the_release_of_its_own_version() {
    let temp = tempfile::tempdir().expect("tempdir");
    let tag = crate_version();
    let cases: &[ResolveCase] = &[
        // (env, mode, version, fallback)
        (&[("ACTION_REF", "v1")], "release", &tag, "false"),
        (&[("ACTION_REF", tag.as_str())], "release", &tag, "false"),
        (
            &[("ACTION_REF", "0123456789abcdef0123456789abcdef01234567")],
            "release",
            &tag,
            "true",
        ),
        (&[("ACTION_REF", "main")], "source", "", "false"),
        (&[], "source", "", "false"),
        (
            &[("ACTION_REF", "main"), ("INPUT_VERSION", "v9.8.7")],
            "release",
            "v9.8.7",
            "false",
        ),
        (
            &[("ACTION_REF", "v1"), ("INPUT_VERSION", "source")],
            "source",
            "",
            "false",
        ),
    ];
    for (env, mode, version, fallback) in cases {
        let r = install_sh("resolve", temp.path(), env);
        assert_eq!(r.code, 0, "{env:?}: {}", r.stdout);
        assert_eq!(r.outputs["mode"], *mode, "{env:?}");
        assert_eq!(r.outputs["version"], *version, "{env:?}");
        assert_eq!(r.outputs["fallback"], *fallback, "{env:?}");
        if *mode == "release" {
            assert_eq!(r.outputs["target"], "x86_64-unknown-linux-musl");
            assert_eq!(
                r.outputs["asset"],
                format!("plugsync-{version}-x86_64-unknown-linux-musl.tar.gz")
            );
            assert!(r.outputs["cache-key"]
                .ends_with(&format!("release-{version}-x86_64-unknown-linux-musl")));
        } else {
            assert_eq!(r.outputs["lock"].len(), 16, "{:?}", r.outputs);
            assert_eq!(r.outputs["src"].len(), 16, "{:?}", r.outputs);
            assert!(r.outputs["cache-key"].contains(&r.outputs["lock"]));
        }
    }
    // The repository and ref come from the action's path when GitHub leaves them empty.
    let action = temp.path().join("work/_actions/acme/plugsync/v1");
    std::fs::create_dir_all(&action).expect("mkdir");
    std::fs::copy(root().join("Cargo.toml"), action.join("Cargo.toml")).expect("copy");
    let r = install_sh(
        "resolve",
        temp.path(),
        &[("GITHUB_ACTION_PATH", action.to_str().expect("utf-8"))],
    );
    assert_eq!(r.outputs["version"], tag);
    assert_eq!(r.outputs["repository"], "acme/plugsync", "{}", r.stdout);
    assert_eq!(r.outputs["mode"], "release");
    // Windows gets the zip; a version that is not one is refused.
    let r = install_sh(
        "resolve",
        temp.path(),
        &[("RUNNER_OS", "Windows"), ("INPUT_VERSION", "1.2.3")],
    );
    assert_eq!(
        r.outputs["asset"],
        "plugsync-v1.2.3-x86_64-pc-windows-msvc.zip"
    );
    assert!(r.outputs["bin"].ends_with("plugsync.exe"));
    let r = install_sh("resolve", temp.path(), &[("INPUT_VERSION", "latest-ish")]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("input version must be a release"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_action_downloads_verifies_and_installs_a_release_binary() {
    let temp = tempfile::tempdir().expect("tempdir");
    let tag = crate_version();
    fake_release(temp.path(), &tag, "x86_64-unknown-linux-musl");
    let sums = std::fs::read_to_string(temp.path().join("www").join(&tag).join("SHA256SUMS"))
        .expect("sums");
    assert!(sums.contains(&format!(
        "  plugsync-{tag}-x86_64-unknown-linux-musl.tar.gz"
    )));
    let server = FakeReleases::start(temp.path().join("www"));
    let home = temp.path().join("home");
    std::fs::create_dir_all(&home).expect("home");

    let r = install_sh("resolve", &home, &[("ACTION_REF", "v1")]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let mut env: Vec<(String, String)> = resolved(&r);
    env.push(("PLUGSYNC_ACTION_RELEASE_URL".into(), server.base.clone()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let i = install_sh("install", &home, &env_refs);
    assert_eq!(i.code, 0, "{}", i.stdout);
    assert!(i.stdout.contains("SHA-256 verified"), "{}", i.stdout);
    let bin = PathBuf::from(&i.outputs["bin"]);
    assert_eq!(i.outputs["bin"], r.outputs["bin"]);
    assert!(bin.starts_with(home.join(".plugsync-action")));
    let out = Command::new(&bin)
        .arg("--version")
        .output()
        .expect("run it");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("plugsync "));
    assert_eq!(
        server.asked(),
        [
            format!("/{tag}/plugsync-{tag}-x86_64-unknown-linux-musl.tar.gz"),
            format!("/{tag}/SHA256SUMS"),
        ]
    );

    // A tampered archive: refused, nothing installed.
    let archive = temp
        .path()
        .join("www")
        .join(&tag)
        .join(format!("plugsync-{tag}-x86_64-unknown-linux-musl.tar.gz"));
    let mut bytes = std::fs::read(&archive).expect("archive");
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&archive, bytes).expect("tamper");
    let home2 = temp.path().join("home2");
    std::fs::create_dir_all(&home2).expect("home");
    let r2 = install_sh("resolve", &home2, &[("ACTION_REF", "v1")]);
    let mut env: Vec<(String, String)> = resolved(&r2);
    env.push(("PLUGSYNC_ACTION_RELEASE_URL".into(), server.base.clone()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let i = install_sh("install", &home2, &env_refs);
    assert_eq!(i.code, 1, "{}", i.stdout);
    assert!(i.stdout.contains("checksum mismatch"), "{}", i.stdout);
    assert!(!PathBuf::from(&r2.outputs["bin"]).exists());

    // A release that does not exist: a clear error for an explicit version...
    let r3 = install_sh("resolve", &home2, &[("INPUT_VERSION", "v0.0.1")]);
    let mut env: Vec<(String, String)> = resolved(&r3);
    env.push(("PLUGSYNC_ACTION_RELEASE_URL".into(), server.base.clone()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let i = install_sh("install", &home2, &env_refs);
    assert_eq!(i.code, 1);
    assert!(i.stdout.contains("(HTTP 404)"), "{}", i.stdout);
    // ...and, for an action pinned to a commit without a release, the source build (here on
    // a PATH without cargo, so it stops at once, saying why).
    let r4 = install_sh(
        "resolve",
        &home2,
        &[("ACTION_REF", "0123456789abcdef0123456789abcdef01234567")],
    );
    let mut env: Vec<(String, String)> = resolved(&r4);
    env.push((
        "PLUGSYNC_ACTION_RELEASE_URL".into(),
        format!("{}/nothing", server.base),
    ));
    env.push(("PATH".into(), "/usr/bin:/bin".into()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let i = install_sh("install", &home2, &env_refs);
    assert!(i.stdout.contains("building from source"), "{}", i.stdout);
    if !Path::new("/usr/bin/cargo").exists() && !Path::new("/bin/cargo").exists() {
        assert_eq!(i.code, 1);
        assert!(i.stdout.contains("needs a Rust toolchain"), "{}", i.stdout);
    }
}

// ---------------------------------------------------------------------------------------------
// The state file schema

fn schema() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/plugsync.schema.json")).expect("schema"),
    )
    .expect("the schema is JSON")
}

fn keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    k.sort();
    k
}

#[test]
fn the_state_file_schema_has_the_loaders_keys() {
    use plugsync::state::{
        CUSTOM_PLUGIN_KEYS, DECK_ENTITY_KEYS, INFO_KEYS, INSTANCE_KEYS, KONNECT_KEYS, TOP_KEYS,
    };
    let s = schema();
    assert_eq!(keys_of(&s), sorted(TOP_KEYS), "top-level keys");
    assert_eq!(
        keys_of(&s["properties"]["_info"]),
        sorted(INFO_KEYS),
        "_info"
    );
    assert_eq!(
        keys_of(&s["properties"]["_konnect"]),
        sorted(KONNECT_KEYS),
        "_konnect"
    );
    assert_eq!(
        keys_of(&s["definitions"]["custom_plugin"]),
        sorted(CUSTOM_PLUGIN_KEYS),
        "custom plugin"
    );
    assert_eq!(
        keys_of(&s["definitions"]["plugin"]),
        sorted(INSTANCE_KEYS),
        "plugin instance"
    );
    // Unknown keys are errors for the loader, so they are for editors too; decK's other
    // entities belong in other files.
    for object in [
        &s,
        &s["properties"]["_info"],
        &s["properties"]["_konnect"],
        &s["definitions"]["custom_plugin"],
        &s["definitions"]["plugin"],
    ] {
        assert_eq!(object["additionalProperties"], Value::Bool(false));
    }
    for k in DECK_ENTITY_KEYS {
        assert!(s["properties"].get(*k).is_none(), "{k}");
    }
    // The README shows editors where it is.
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    assert!(
        readme.contains("# yaml-language-server: $schema="),
        "README"
    );
}

// ---------------------------------------------------------------------------------------------
// lint --format sarif and --format github

/// Validates `file` against the SARIF 2.1.0 schema with check-jsonschema, when `.ci/run` (or a
/// developer) provides both: `PLUGSYNC_CHECK_JSONSCHEMA` (the program) and
/// `PLUGSYNC_SARIF_SCHEMA` (the schema file, from a package registry). Returns whether it ran.
fn validate_sarif(file: &Path) -> Result<bool, String> {
    let (Some(tool), Some(schema)) = (
        std::env::var_os("PLUGSYNC_CHECK_JSONSCHEMA"),
        std::env::var_os("PLUGSYNC_SARIF_SCHEMA"),
    ) else {
        return Ok(false);
    };
    let out = Command::new(tool)
        .args(["--regex-variant", "python", "--schemafile"])
        .arg(schema)
        .arg(file)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(true)
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr))
    }
}

#[test]
fn lint_writes_sarif_for_code_scanning() {
    let temp = tempfile::tempdir().expect("tempdir");
    let rules = plugsync::lint::rules::RULES;
    let mut seen = 0;
    for case in [
        "instance-config",
        "schema-custom-validation",
        "lua-syntax",
        "valid-kong-like",
    ] {
        let dir = format!("testdata/lint/{case}");
        let (code, stdout, stderr) =
            run_plugsync(&root(), &["lint", "-s", &dir, "--format", "sarif"], &[]);
        assert!(code == 0 || code == 1, "{case}: {stderr}");
        let log: Value = serde_json::from_str(&stdout).expect("SARIF is JSON");
        // What GitHub code scanning relies on (SARIF 2.1.0 §3.13–3.28).
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        let driver = &run["tool"]["driver"];
        assert_eq!(driver["name"], "plugsync");
        let descriptors = driver["rules"].as_array().expect("rules");
        assert_eq!(descriptors.len(), rules.len());
        for (d, r) in descriptors.iter().zip(rules) {
            assert_eq!(d["id"], r.id);
            assert_eq!(d["shortDescription"]["text"], r.summary);
            let help = d["helpUri"].as_str().expect("helpUri");
            assert!(
                help.ends_with(&format!("/docs/lints.md#{}", r.id)),
                "{help}"
            );
            assert!(help.starts_with(env!("CARGO_PKG_REPOSITORY")));
            assert!(["error", "warning", "note"]
                .contains(&d["defaultConfiguration"]["level"].as_str().unwrap_or("")));
        }
        for result in run["results"].as_array().expect("results") {
            seen += 1;
            let id = result["ruleId"].as_str().expect("ruleId");
            if let Some(i) = result["ruleIndex"].as_u64() {
                assert_eq!(descriptors[i as usize]["id"], id);
            }
            assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap_or("")));
            assert!(!result["message"]["text"].as_str().unwrap_or("").is_empty());
            let location = &result["locations"][0]["physicalLocation"];
            let uri = location["artifactLocation"]["uri"].as_str().expect("uri");
            assert!(
                uri.starts_with("testdata/") && !uri.contains('\\'),
                "{uri}: relative to the repository, with / separators"
            );
            assert!(location["region"]["startLine"].as_u64().unwrap_or(0) >= 1);
            assert!(location["region"]["startColumn"].as_u64().unwrap_or(0) >= 1);
        }
        let file = temp.path().join(format!("{case}.sarif"));
        std::fs::write(&file, &stdout).expect("write");
        if let Err(e) = validate_sarif(&file) {
            panic!("{case}: not valid SARIF 2.1.0:\n{e}");
        }
    }
    assert!(seen >= 3, "the cases produced results");
    // The validator is not a rubber stamp: a broken log fails it.
    let broken = temp.path().join("broken.sarif");
    std::fs::write(
        &broken,
        r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "plugsync"}}, "results": [{"level": "fatal", "message": {"text": "x"}}]}]}"#,
    )
    .expect("write");
    match validate_sarif(&broken) {
        // Outside CI the structural checks above stand alone; CI must validate for real.
        Ok(false) if std::env::var_os("CI").is_some() => panic!("CI is set but PLUGSYNC_CHECK_JSONSCHEMA and PLUGSYNC_SARIF_SCHEMA are not: the SARIF schema check cannot run (.ci/run sets them from scripts/ci/checks.sh env)"),
        Ok(false) => eprintln!("note: SARIF schema validation not run (PLUGSYNC_CHECK_JSONSCHEMA and PLUGSYNC_SARIF_SCHEMA unset; .ci/run sets them)"),
        Ok(true) => panic!("a broken SARIF log passed the schema"),
        Err(_) => {}
    }
}

#[test]
fn lint_writes_github_annotations() {
    let (code, stdout, _) = run_plugsync(
        &root(),
        &[
            "lint",
            "-s",
            "testdata/lint/schema-custom-validation",
            "--format",
            "github",
        ],
        &[],
    );
    assert_eq!(code, 1, "instances the custom functions refuse are errors");
    let case = "file=testdata/lint/schema-custom-validation/";
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with(&format!("::warning {case}"))
                || l.starts_with(&format!("::error {case}"))
                || l.starts_with("::notice file=")),
        "{stdout}"
    );
    assert!(
        stdout.contains("::warning ") && stdout.contains("::error "),
        "{stdout}"
    );
    assert!(stdout.contains(",line=") && stdout.contains(",col="));
    // Only lint writes these formats.
    for command in ["diff", "plan"] {
        let (code, _, stderr) = run_plugsync(&root(), &[command, "--format", "sarif"], &[]);
        assert_eq!(code, 1, "{command}");
        assert!(stderr.contains("is for `plugsync lint` only"), "{stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// completions, man pages, --version

#[test]
fn completions_man_pages_and_version() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let (code, stdout, stderr) = run_plugsync(&root(), &["completions", shell], &[]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(stdout.contains("plugsync"), "{shell}");
        for sub in ["lint", "ping", "completions", "select-tag"] {
            assert!(stdout.contains(sub), "{shell} completes {sub}");
        }
    }
    let (code, _, _) = run_plugsync(&root(), &["completions", "tcsh"], &[]);
    assert_eq!(code, 1, "a usage error exits 1");

    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("man1");
    let (code, _, stderr) = run_plugsync(
        &root(),
        &["man", "--out", dir.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    for page in [
        "plugsync.1",
        "plugsync-lint.1",
        "plugsync-ping.1",
        "plugsync-sync.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).expect(page);
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}");
    }
    assert!(
        !dir.join("plugsync-man.1").exists(),
        "the man command is hidden"
    );

    let (code, stdout, _) = run_plugsync(&root(), &["--version"], &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with(&format!("plugsync {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    // Built from this repository's git checkout: the commit and the date are named.
    if root().join(".git").exists() {
        assert!(stdout.contains("(commit "), "{stdout}");
        assert!(stdout.contains(", built 20"), "{stdout}");
    }
}

// ---------------------------------------------------------------------------------------------
// ping

#[test]
fn ping_checks_the_target_and_names_the_sandbox_profile() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data = temp.path().join("serve.db");
    let token = "ping-token-0123456789";
    let server = Server::start(data.to_str().expect("utf-8"), &["--token", token]);

    for konnect in [true, false] {
        let flags = crate::target_flags(&server, konnect, token);
        let (code, stdout, stderr) =
            run_plugsync(temp.path(), &["ping", "--format", "json"], &flags);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        let v: Value = serde_json::from_str(&stdout).expect("json");
        assert_eq!(v["ok"], true);
        assert!(
            v["kong_version"]
                .as_str()
                .unwrap_or("")
                .starts_with("3.15.0.0"),
            "{v}"
        );
        assert_eq!(v["sandbox_profile"], "strict");
        assert_eq!(
            v["target"]["kind"],
            if konnect { "konnect" } else { "kong" }
        );
        assert!(v["checks"].as_array().expect("checks").len() >= 3);
        assert!(!stdout.contains(token));

        let (code, stdout, _) = run_plugsync(temp.path(), &["ping"], &flags);
        assert_eq!(code, 0);
        assert!(
            stdout.contains("sandbox profile") && stdout.contains("strict"),
            "{stdout}"
        );
    }

    // A wrong token: exit 1, the check that failed, where the token comes from.
    let flags = crate::target_flags(&server, false, "wrong-token");
    let (code, stdout, stderr) = run_plugsync(temp.path(), &["ping"], &flags);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("FAILED"), "{stdout}");
    assert!(stdout.contains("Kong-Admin-Token"), "{stdout}");
    assert!(!stdout.contains("wrong-token") && !stderr.contains("wrong-token"));
    server.stop();
}
