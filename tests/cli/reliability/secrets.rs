//! Secrets: tokens (`--konnect-token`, `--kong-admin-token`, their environment variables and
//! token files) and `${{ env }}` values never appear in any output, at any verbosity, in any
//! format, in plan files or in error messages. TLS is verified unless `--tls-skip-verify`,
//! which warns.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TOKEN;
use crate::{plugsync, Server};

/// The masked value of the state below.
const SECRET_VALUE: &str = "sv-3f9a1b-value-never-shown";

fn secret_state(dir: &Path) {
    std::fs::write(
        dir.join("plugsync.yaml"),
        r#"_format_version: "3.0"
_info:
  select_tags: [sec]
custom_plugins:
  - name: keeper
    tags: [sec]
    handler: 'return { PRIORITY = 1, VERSION = "1.0.0" }'
    schema: 'return { name = "keeper", fields = { { config = { type = "record", fields = { { api_key = { type = "string", required = true } }, { region = { type = "string" } } } } } } }'
plugins:
  - name: keeper
    instance_name: keep
    tags: [sec]
    config:
      api_key: ${{ env "PLUGSYNC_REL_SECRET" }}
      region: ${{ env "PLUGSYNC_REL_REGION" }}
"#,
    )
    .unwrap();
}

/// Runs plugsync with the secret in the environment; asserts nothing secret is in its output.
fn run_clean(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = plugsync(dir);
    cmd.args(args)
        .env("PLUGSYNC_REL_SECRET", SECRET_VALUE)
        .env("PLUGSYNC_REL_REGION", "eu-west-1")
        .timeout(Duration::from_secs(120));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run plugsync");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [TOKEN, SECRET_VALUE, "eu-west-1", "us-east-2"] {
        assert!(
            !text.contains(secret),
            "`plugsync {}` printed a secret:\n{text}",
            args.join(" ")
        );
    }
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn no_token_or_masked_value_in_any_output_format_verbosity_or_plan_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    secret_state(d);
    std::fs::write(d.join("token.txt"), format!("{TOKEN}\n")).unwrap();
    let server = Server::start(&d.join("cp.db").to_string_lossy(), &["--token", TOKEN]);
    let base = server.base.clone();

    // Every way of passing a token, for both API shapes.
    let flag_konnect = [
        "--konnect-addr",
        &base,
        "--konnect-token",
        TOKEN,
        "--konnect-control-plane-name",
        "default",
    ];
    let file_konnect = [
        "--konnect-addr",
        &base,
        "--konnect-token-file",
        "token.txt",
        "--konnect-control-plane-name",
        "default",
    ];
    let flag_kong = ["--kong-addr", &base, "--kong-admin-token", TOKEN];
    let env_konnect: [(&str, &str); 1] = [("PLUGSYNC_KONNECT_TOKEN", TOKEN)];
    let env_kong: [(&str, &str); 1] = [("PLUGSYNC_KONG_ADMIN_TOKEN", TOKEN)];
    let konnect_env_target = [
        "--konnect-addr",
        &base,
        "--konnect-control-plane-name",
        "default",
    ];
    let kong_env_target = ["--kong-addr", &base];
    type Env<'a> = &'a [(&'a str, &'a str)];
    let targets: Vec<(&[&str], Env)> = vec![
        (&flag_konnect, &[]),
        (&file_konnect, &[]),
        (&flag_kong, &[]),
        (&konnect_env_target, &env_konnect),
        (&kong_env_target, &env_kong),
    ];
    let mut runs = 0;
    for (i, (t, env)) in targets.iter().enumerate() {
        for format in ["text", "json", "markdown"] {
            for cmd in [&["diff"][..], &["plan", "--out", "plan.json"][..]] {
                let args: Vec<&str> = cmd
                    .iter()
                    .copied()
                    .chain(["--format", format, "-vvv"])
                    .chain(t.iter().copied())
                    .collect();
                let (code, text) = run_clean(d, &args, env);
                assert_eq!(code, 0, "{text}");
                runs += 1;
            }
        }
        let plan = std::fs::read_to_string(d.join("plan.json")).unwrap();
        assert!(
            !plan.contains(SECRET_VALUE) && !plan.contains(TOKEN),
            "{plan}"
        );
        if i == 0 {
            // The instance is created by this plan: it carries the template, not the value.
            assert!(
                plan.contains("PLUGSYNC_REL_SECRET"),
                "the plan keeps the template: {plan}"
            );
        }
        if i == 0 {
            let args: Vec<&str> = ["apply", "plan.json", "-vvv"]
                .into_iter()
                .chain(t.iter().copied())
                .collect();
            let (code, text) = run_clean(d, &args, env);
            assert_eq!(code, 0, "{text}");
        } else {
            // Change the value so every target has something to sync, masked.
            // Alternate the value so every target has something to sync, masked.
            let region = if i % 2 == 1 { "us-east-2" } else { "eu-west-1" };
            let args: Vec<&str> = ["sync", "-vvv", "--format", "json"]
                .into_iter()
                .chain(t.iter().copied())
                .collect();
            let (code, text) = run_clean(
                d,
                &args,
                &[&env[..], &[("PLUGSYNC_REL_REGION", region)]].concat(),
            );
            assert_eq!(code, 0, "{text}");
            assert!(
                text.contains("PLUGSYNC_REL_REGION") && text.contains("config.region"),
                "{text}"
            );
        }
        let dump_dir = format!("dumped{i}");
        let args: Vec<&str> = ["dump", "--dir", &dump_dir, "-vvv"]
            .into_iter()
            .chain(t.iter().copied())
            .collect();
        let (code, text) = run_clean(d, &args, env);
        assert_eq!(code, 0, "{text}");
        let dumped = std::fs::read_to_string(d.join(&dump_dir).join("plugsync.yaml")).unwrap();
        assert!(!dumped.contains(TOKEN), "{dumped}");
        runs += 3;
    }
    // The server never logged the token either.
    let logged = server.stderr.lock().unwrap().clone();
    assert!(!logged.contains(TOKEN), "{logged}");
    assert!(runs >= 40);
}

#[test]
fn no_token_in_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    secret_state(d);
    let server = Server::start(":memory:", &["--token", "the-right-token-for-this-server"]);
    let base = server.base.clone();
    // A wrong token (401), a closed port, an unresolvable host, an invalid header value.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let bad_header = format!("{TOKEN}\nX-Injected: 1");
    let token_in_url = format!("{base}/{TOKEN}");
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "diff",
            "-vvv",
            "--kong-addr",
            &base,
            "--kong-admin-token",
            TOKEN,
        ],
        vec![
            "diff",
            "-vvv",
            "--konnect-addr",
            &base,
            "--konnect-token",
            TOKEN,
            "--konnect-control-plane-name",
            "default",
        ],
        vec![
            "diff",
            "-vvv",
            "--format",
            "json",
            "--konnect-addr",
            &base,
            "--konnect-token",
            TOKEN,
            "--konnect-control-plane-name",
            "nope",
        ],
        vec![
            "sync",
            "-vvv",
            "--timeout",
            "1",
            "--kong-addr",
            &closed,
            "--kong-admin-token",
            TOKEN,
        ],
        vec![
            "diff",
            "-vvv",
            "--timeout",
            "1",
            "--konnect-addr",
            "http://no-such-host.invalid",
            "--konnect-token",
            TOKEN,
            "--konnect-control-plane-name",
            "x",
        ],
        vec![
            "diff",
            "-vvv",
            "--kong-addr",
            &base,
            "--kong-admin-token",
            &bad_header,
        ],
        vec![
            "diff",
            "-vvv",
            "--kong-addr",
            &token_in_url,
            "--kong-admin-token",
            TOKEN,
        ],
    ];
    for args in cases {
        let started = Instant::now();
        let (code, text) = run_clean(d, &args, &[]);
        assert_eq!(code, 1, "{args:?}: {text}");
        assert!(text.contains("error"), "{args:?}: {text}");
        assert!(started.elapsed() < Duration::from_secs(60), "{args:?}");
    }
    // An unset environment value is named, its (absent) value obviously not shown; a set one
    // in a failing lint is not shown either.
    let out = plugsync(d)
        .args(["lint", "-vvv"])
        .env_remove("PLUGSYNC_REL_SECRET")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("PLUGSYNC_REL_SECRET"), "{text}");
}

/// The `error:` lines of an output.
fn errors(text: &str) -> String {
    text.lines()
        .filter(|l| l.starts_with("error"))
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase()
}

/// A self-signed TLS server (`openssl s_server`) on a free port; killed when dropped.
struct TlsServer {
    child: Child,
    port: u16,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server; fails the test, saying why, when `openssl` cannot run it (the test needs
/// the `openssl` command, which CI's machines and developers' have).
fn tls_server(dir: &Path) -> TlsServer {
    let need =
        "this test needs the `openssl` command (a self-signed certificate and `openssl s_server`)";
    let made = Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run `openssl req`: {e}; {need}"));
    assert!(made.success(), "`openssl req` failed ({made}); {need}");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new("openssl")
        .current_dir(dir)
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &port.to_string(),
            "-cert",
            "cert.pem",
            "-key",
            "key.pem",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `openssl s_server`: {e}; {need}"));
    // Killed on drop, also when the wait below fails.
    let server = TlsServer { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() <= deadline,
            "`openssl s_server` did not listen on port {port} within 10 s; {need}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

#[test]
fn tls_is_verified_by_default_and_skipping_it_warns_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    secret_state(d);
    let tls = tls_server(d);
    let addr = format!("https://127.0.0.1:{}", tls.port);
    let t = [
        "--kong-addr",
        addr.as_str(),
        "--kong-admin-token",
        TOKEN,
        "--timeout",
        "5",
    ];

    // Default: the self-signed certificate is refused.
    let args: Vec<&str> = ["diff"].into_iter().chain(t).collect();
    let (code, text) = run_clean(d, &args, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        errors(&text).contains("certificate"),
        "not a certificate error:\n{text}"
    );
    assert!(!text.contains("tls-skip-verify: TLS"), "{text}");

    // --tls-skip-verify: past TLS (the server is not Kong, so the answer is not JSON), with a
    // loud warning.
    let args: Vec<&str> = ["diff", "--tls-skip-verify"].into_iter().chain(t).collect();
    let (code, text) = run_clean(d, &args, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        !errors(&text).contains("certificate"),
        "TLS was still verified:\n{text}"
    );
    assert!(
        text.contains("warning")
            && text.contains("--tls-skip-verify")
            && text.contains("NOT verified"),
        "no loud warning:\n{text}"
    );
    // -q does not silence it.
    let args: Vec<&str> = ["diff", "-q", "--tls-skip-verify"]
        .into_iter()
        .chain(t)
        .collect();
    let (_, text) = run_clean(d, &args, &[]);
    assert!(
        text.contains("NOT verified"),
        "-q silenced the warning:\n{text}"
    );

    // --ca-cert trusts it without skipping verification.
    let args: Vec<&str> = ["diff", "--ca-cert", "cert.pem"]
        .into_iter()
        .chain(t)
        .collect();
    let (code, text) = run_clean(d, &args, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        !errors(&text).contains("certificate"),
        "--ca-cert not used:\n{text}"
    );
    assert!(!text.contains("NOT verified"), "{text}");
}

/// Rotating a secret: the diff must show neither the new value nor the old one still live
/// (found by the suite above: the live side of a changed secret field was printed in clear).
#[test]
fn a_rotated_secret_is_masked_on_both_sides_of_the_diff() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    secret_state(d);
    let local = d.join("cp.db").to_string_lossy().to_string();
    let old_secret = "old-secret-4471-rotated-out";
    let out = plugsync(d)
        .args(["sync", "-q", "--local", &local])
        .env("PLUGSYNC_REL_SECRET", old_secret)
        .env("PLUGSYNC_REL_REGION", "eu-west-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for format in ["text", "json", "markdown"] {
        let (code, text) = run_clean(
            d,
            &[
                "diff",
                "--exit-code",
                "-vvv",
                "--format",
                format,
                "--local",
                &local,
            ],
            &[],
        );
        assert_eq!(code, 2, "{text}");
        assert!(
            text.contains("api_key"),
            "{format}: the change is not shown:\n{text}"
        );
        assert!(
            !text.contains(old_secret),
            "{format}: the old secret is shown:\n{text}"
        );
    }
}

/// `${{ env }}` values outside `config` — `instance_name`, `tags`, `condition`, custom plugin
/// tags — are masked in every format and kept as templates in plan files; `apply` resolves
/// them again, so the control plane gets the values.
#[test]
fn env_values_outside_config_never_appear() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("plugsync.yaml"),
        r#"_format_version: "3.0"
custom_plugins:
  - name: outside
    tags: ['${{ env "PLUGSYNC_T_CPTAG" }}']
    handler: 'return { PRIORITY = 1, VERSION = "1.0.0" }'
    schema: 'return { name = "outside", fields = { { config = { type = "record", fields = { { v = { type = "string" } } } } } } }'
plugins:
  - name: outside
    instance_name: ${{ env "PLUGSYNC_T_INAME" }}
    condition: ${{ env "PLUGSYNC_T_COND" }}
    tags: [plain, '${{ env "PLUGSYNC_T_TAG" }}']
    config: { v: x }
"#,
    )
    .unwrap();
    let secrets = [
        ("PLUGSYNC_T_CPTAG", "cptag-5ec4e7"),
        ("PLUGSYNC_T_INAME", "iname-5ec4e7"),
        ("PLUGSYNC_T_COND", "http.path == \"/cond-5ec4e7\""),
        ("PLUGSYNC_T_TAG", "tag-5ec4e7"),
    ];
    let run = |args: &[&str]| {
        let out = plugsync(d)
            .args(args)
            .args(["--local", "cp.db"])
            .envs(secrets)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    for format in ["text", "json", "markdown"] {
        let (code, text) = run(&["diff", "--format", format]);
        assert_eq!(code, Some(0), "{text}");
        assert!(!text.contains("5ec4e7"), "diff --format {format}:\n{text}");
    }
    let (code, text) = run(&["plan", "--out", "plan.json"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("5ec4e7"), "{text}");
    let plan = std::fs::read_to_string(d.join("plan.json")).unwrap();
    assert!(!plan.contains("5ec4e7"), "{plan}");
    assert!(plan.contains("PLUGSYNC_T_INAME"), "{plan}");
    let (code, text) = run(&["apply", "plan.json"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("5ec4e7"), "{text}");
    // The control plane got the values: the next diff has nothing to do.
    let (code, text) = run(&["diff", "--exit-code"]);
    assert_eq!(code, Some(0), "{text}");
}

/// A state file cannot copy plugsync's own credentials into an uploaded config.
#[test]
fn plugsyncs_own_credentials_are_refused_in_templates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for var in ["PLUGSYNC_KONG_ADMIN_TOKEN", "PLUGSYNC_KONNECT_TOKEN"] {
        std::fs::write(
            d.join("plugsync.yaml"),
            format!(
                r#"_format_version: "3.0"
custom_plugins:
  - name: thief
    handler: 'return {{ PRIORITY = 1, VERSION = "1.0.0" }}'
    schema: 'return {{ name = "thief", fields = {{ {{ config = {{ type = "record", fields = {{ {{ v = {{ type = "string" }} }} }} }} }} }} }}'
plugins:
  - name: thief
    config: {{ v: '${{{{ env "{var}" }}}}' }}
"#
            ),
        )
        .unwrap();
        for cmd in [&["lint"][..], &["diff", "--local", "cp.db"][..]] {
            let out = plugsync(d).args(cmd).env(var, TOKEN).output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(1), "{var} {cmd:?}: {text}");
            assert!(text.contains("own credential"), "{text}");
            assert!(!text.contains(TOKEN), "{text}");
        }
    }
}

/// Names cannot come from the environment: they identify entities in every plan.
#[test]
fn templates_in_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("plugsync.yaml"),
        r#"_format_version: "3.0"
custom_plugins:
  - name: '${{ env "PLUGSYNC_T_NAME" }}'
    handler: 'return { PRIORITY = 1, VERSION = "1.0.0" }'
    schema: 'return { name = "n", fields = { { config = { type = "record", fields = { } } } } }'
"#,
    )
    .unwrap();
    let out = plugsync(d)
        .args(["lint"])
        .env("PLUGSYNC_T_NAME", "n")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("`name` cannot use"), "{text}");
}
