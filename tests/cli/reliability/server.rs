//! A broken or hostile server (issue 13): a scripted HTTP server on 127.0.0.1 answers as a
//! failing proxy or an attacker would — bodies cut short or too slow, lists of the wrong
//! shape, pagination that never ends, huge bodies, redirects to another host, escape
//! sequences in error text, a server that dies mid-run. plugsync must never read any of it
//! as data, never follow a redirect with its token or a body, and stop early when the
//! target is gone.

use std::path::Path;
use std::time::{Duration, Instant};

use super::scripted::{custom_plugin, empty_list, list_of, Reply, Req, Scripted};
use crate::plugsync;

const TOKEN: &str = "hostile-srv-token-never-leaves";

fn kong(s: &Scripted) -> Vec<String> {
    vec![
        "--kong-addr".into(),
        s.base.clone(),
        "--kong-admin-token".into(),
        TOKEN.into(),
        "--timeout".into(),
        "1".into(),
    ]
}

/// Runs plugsync with a fast retry schedule; returns exit code and stdout + stderr.
fn run(dir: &Path, args: &[&str], extra: &[String]) -> (i32, String, Duration) {
    let started = Instant::now();
    let out = plugsync(dir)
        .args(args)
        .args(extra)
        .env("PLUGSYNC_RETRY_BASE_MS", "5")
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run plugsync");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    (out.status.code().unwrap_or(-1), text, started.elapsed())
}

fn is_list(r: &Req, kind: &str) -> bool {
    r.method == "GET" && r.path.starts_with(&format!("/{kind}?"))
}

/// `Content-Length: 4000` and only the start of the body, then the connection closes.
fn cut_body() -> Reply {
    Reply::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{\"data\":[{\"id\":\"x\""
            .to_vec(),
    )
}

/// The first answer to each list is broken by `broken`; the second is the real page.
fn dump_through(broken: fn() -> Reply) -> (i32, String, tempfile::TempDir) {
    let counts = std::sync::Arc::new(std::sync::Mutex::new(0usize));
    let c = std::sync::Arc::clone(&counts);
    let server = Scripted::start(move |r, _| {
        if is_list(r, "custom-plugins") {
            let mut n = c.lock().unwrap();
            *n += 1;
            if *n == 1 {
                return broken();
            }
            return list_of(&[custom_plugin("c1", "kept")], None);
        }
        empty_list()
    });
    let dir = tempfile::tempdir().unwrap();
    let (code, text, _) = run(dir.path(), &["dump", "--dir", "out"], &kong(&server));
    (code, text, dir)
}

#[test]
fn a_body_cut_short_is_retried_never_read_as_an_empty_list() {
    let (code, text, dir) = dump_through(cut_body);
    assert_eq!(code, 0, "{text}");
    assert!(
        dir.path().join("out/plugins/kept/schema.lua").exists(),
        "the plugin behind the cut answer was not dumped:\n{text}"
    );
}

#[test]
fn a_body_slower_than_the_timeout_is_retried_never_read_as_an_empty_list() {
    let (code, text, dir) = dump_through(|| {
        Reply::Slow(
            200,
            format!(r#"{{"data":[{}]}}"#, custom_plugin("c1", "kept")),
            Duration::from_millis(2500),
        )
    });
    assert_eq!(code, 0, "{text}");
    assert!(
        dir.path().join("out/plugins/kept/schema.lua").exists(),
        "{text}"
    );
}

#[test]
fn a_body_that_never_completes_fails_the_run_and_writes_nothing() {
    let server = Scripted::start(|r, _| {
        if is_list(r, "custom-plugins") {
            cut_body()
        } else {
            empty_list()
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (code, text, _) = run(dir.path(), &["dump", "--dir", "out"], &kong(&server));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("/custom-plugins"), "{text}");
    assert!(!dir.path().join("out").exists(), "{text}");
}

#[test]
fn a_cut_second_page_is_retried() {
    let second = std::sync::Arc::new(std::sync::Mutex::new(0usize));
    let s2 = std::sync::Arc::clone(&second);
    let server = Scripted::start(move |r, _| {
        if is_list(r, "custom-plugins") {
            if r.path.contains("offset=p2") {
                let mut n = s2.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    return cut_body();
                }
                return list_of(&[custom_plugin("c2", "second")], None);
            }
            return list_of(&[custom_plugin("c1", "first")], Some("p2"));
        }
        empty_list()
    });
    let dir = tempfile::tempdir().unwrap();
    let (code, text, _) = run(dir.path(), &["dump", "--dir", "out"], &kong(&server));
    assert_eq!(code, 0, "{text}");
    for name in ["first", "second"] {
        assert!(
            dir.path()
                .join(format!("out/plugins/{name}/schema.lua"))
                .exists(),
            "{name} missing:\n{text}"
        );
    }
}

fn state(dir: &Path) {
    std::fs::write(
        dir.join("plugsync.yaml"),
        r#"_format_version: "3.0"
custom_plugins:
  - name: good
    handler: 'return { PRIORITY = 1, VERSION = "1.0.0" }'
    schema: 'return { name = "good", fields = { { config = { type = "record", fields = { { value = { type = "string" } } } } } } }'
plugins:
  - name: good
    instance_name: g1
    config: { value: "x" }
"#,
    )
    .unwrap();
}

#[test]
fn a_list_answer_without_an_array_data_is_an_error_naming_the_url() {
    for body in [
        r#"{"message":"maintenance"}"#,
        r#"{"data":{"id":"x"}}"#,
        "[]",
        "null",
    ] {
        let b = body.to_string();
        let server = Scripted::start(move |r, _| {
            if is_list(r, "plugins") {
                Reply::Json(200, b.clone())
            } else {
                empty_list()
            }
        });
        let dir = tempfile::tempdir().unwrap();
        state(dir.path());
        let (code, text, _) = run(dir.path(), &["diff"], &kong(&server));
        assert_eq!(code, 1, "{body}: {text}");
        assert!(
            text.contains(&format!("{}/plugins", server.base)),
            "{body}: the error does not name the URL:\n{text}"
        );
        assert!(text.contains("data"), "{body}: {text}");
    }
}

#[test]
fn endless_pagination_ends_with_a_clear_error() {
    let server = Scripted::start(|r, n| {
        if is_list(r, "custom-plugins") {
            list_of(&[], Some(&format!("o{n}")))
        } else {
            empty_list()
        }
    });
    let dir = tempfile::tempdir().unwrap();
    state(dir.path());
    let (code, text, took) = run(dir.path(), &["diff"], &kong(&server));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("does not end"), "{text}");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn a_huge_body_is_refused_without_reading_it() {
    let server = Scripted::start(|r, _| {
        if is_list(r, "custom-plugins") {
            Reply::Raw(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2000000000\r\n\r\n{\"data\":["
                    .to_vec(),
            )
        } else {
            empty_list()
        }
    });
    let dir = tempfile::tempdir().unwrap();
    state(dir.path());
    let (code, text, _) = run(dir.path(), &["diff"], &kong(&server));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("MiB"), "{text}");
}

#[test]
fn redirects_are_reported_never_followed() {
    let elsewhere = Scripted::start(|_, _| empty_list());
    let target = format!("{}/stolen", elsewhere.base);
    let server = Scripted::start(move |r, _| {
        if is_list(r, "custom-plugins") || is_list(r, "plugins") {
            return empty_list();
        }
        // Every write is redirected to another origin, keeping method and body (307).
        Reply::With(
            307,
            vec![("Location".into(), target.clone())],
            String::new(),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    state(dir.path());
    let (code, text, _) = run(dir.path(), &["sync"], &kong(&server));
    assert_eq!(code, 1, "{text}");
    let put = server
        .seen()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("a PUT");
    assert_eq!(put.header("kong-admin-token"), Some(TOKEN));
    assert!(!put.body.is_empty());
    assert!(
        elsewhere.seen().is_empty(),
        "followed a redirect: {:?}",
        elsewhere.seen()
    );
    assert!(text.contains("redirect"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}

#[test]
fn escape_sequences_in_server_errors_never_reach_the_terminal() {
    let server = Scripted::start(|r, _| {
        if is_list(r, "custom-plugins") || is_list(r, "plugins") {
            return empty_list();
        }
        Reply::Json(
            400,
            r#"{"message":"bad \u001b[2J\u001b]0;pwned\u0007 thing\r\nforged: line"}"#.into(),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    state(dir.path());
    let (code, text, _) = run(dir.path(), &["sync"], &kong(&server));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("bad"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(!text.contains('\u{7}'), "{text:?}");
    assert!(!text.contains("\nforged"), "{text:?}");
}

fn many_plugins(dir: &Path, n: usize) {
    let mut s = String::from("_format_version: \"3.0\"\ncustom_plugins:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  - name: p{i}\n    handler: 'return {{ PRIORITY = 1, VERSION = \"1.0.0\" }}'\n    schema: 'return {{ name = \"p{i}\", fields = {{ {{ config = {{ type = \"record\", fields = {{ }} }} }} }} }}'\n"
        ));
    }
    std::fs::write(dir.join("plugsync.yaml"), s).unwrap();
}

#[test]
fn a_dead_server_stops_the_run_early() {
    let server = std::sync::Arc::new(std::sync::OnceLock::<Scripted>::new());
    let handle = std::sync::Arc::clone(&server);
    let s = Scripted::start(move |r, _| {
        if r.method == "GET" {
            return empty_list();
        }
        // The first write kills the server: every later connection is refused.
        if let Some(s) = handle.get() {
            s.kill();
        }
        Reply::Close
    });
    let flags = kong(&s);
    let _ = server.set(s);
    let dir = tempfile::tempdir().unwrap();
    many_plugins(dir.path(), 30);
    let (code, text, took) = run(
        dir.path(),
        &["sync", "--parallelism", "1", "--format", "json"],
        &flags,
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("unreachable"), "{text}");
    let writes = server
        .get()
        .unwrap()
        .seen()
        .iter()
        .filter(|r| r.method != "GET")
        .count();
    assert!(writes <= 2, "{writes} writes reached the server");
    assert!(took < Duration::from_secs(20), "took {took:?}:\n{text}");
}

#[test]
fn dump_gives_every_plugin_a_directory_of_its_own() {
    let long = "l".repeat(300);
    let items = vec![
        custom_plugin("c1", "a/b"),
        custom_plugin("c2", "a_b"),
        custom_plugin("c3", &long),
        custom_plugin("c4", &format!("{long}x")),
    ];
    let server = Scripted::start(move |r, _| {
        if is_list(r, "custom-plugins") {
            list_of(&items, None)
        } else {
            empty_list()
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (code, text, _) = run(dir.path(), &["dump", "--dir", "out"], &kong(&server));
    assert_eq!(code, 0, "{text}");
    let dirs: Vec<_> = std::fs::read_dir(dir.path().join("out/plugins"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 4, "{dirs:?}");
    // The state names each plugin's own directory: the dump reads back as it was.
    let (code, text, _) = run(dir.path(), &["lint", "-s", "out/plugsync.yaml"], &[]);
    assert!(!text.contains("error[duplicate"), "{text}");
    let _ = code;
}

#[test]
fn dump_refuses_names_that_share_a_directory_before_writing_anything() {
    let items = vec![custom_plugin("c1", "Same"), custom_plugin("c2", "same")];
    let server = Scripted::start(move |r, _| {
        if is_list(r, "custom-plugins") {
            list_of(&items, None)
        } else {
            empty_list()
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (code, text, _) = run(dir.path(), &["dump", "--dir", "out"], &kong(&server));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("`Same` and `same`"), "{text}");
    assert!(!dir.path().join("out").exists(), "{text}");
}

#[test]
fn a_control_plane_lookup_of_the_wrong_shape_is_not_not_found() {
    let server = Scripted::start(|_, _| Reply::Json(200, r#"{"message":"maintenance"}"#.into()));
    let dir = tempfile::tempdir().unwrap();
    state(dir.path());
    let flags = vec![
        "--konnect-addr".to_string(),
        server.base.clone(),
        "--konnect-token".into(),
        TOKEN.into(),
        "--konnect-control-plane-name".into(),
        "prod".into(),
    ];
    let (code, text, _) = run(dir.path(), &["diff"], &flags);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("/v2/control-planes"), "{text}");
    assert!(text.contains("not a list"), "{text}");
}

#[test]
fn wait_does_not_pass_on_a_nodes_answer_of_the_wrong_shape() {
    let server = Scripted::start(|r, _| {
        if r.path.starts_with("/v2/control-planes?") {
            return list_of(&[r#"{"id":"cp1","name":"prod"}"#.to_string()], None);
        }
        if r.path.ends_with("/expected-config-hash") {
            return Reply::Json(200, r#"{"expected_hash":"abc"}"#.into());
        }
        if r.path.ends_with("/nodes") {
            return Reply::Json(200, r#"{"message":"maintenance"}"#.into());
        }
        if r.method == "GET" {
            return empty_list();
        }
        Reply::Json(200, "{}".into())
    });
    let dir = tempfile::tempdir().unwrap();
    state(dir.path());
    let flags = vec![
        "--konnect-addr".to_string(),
        server.base.clone(),
        "--konnect-token".into(),
        TOKEN.into(),
        "--konnect-control-plane-name".into(),
        "prod".into(),
        "--rps".into(),
        "1000".into(),
    ];
    let (code, text, _) = run(dir.path(), &["sync", "--wait=1"], &flags);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no array `items`"), "{text}");
}

#[test]
fn escape_sequences_in_live_names_never_reach_the_terminal() {
    let server = Scripted::start(|r, _| {
        if is_list(r, "custom-plugins") {
            return list_of(
                &[custom_plugin("c9", "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\r")],
                None,
            );
        }
        empty_list()
    });
    let dir = tempfile::tempdir().unwrap();
    state(dir.path());
    for format in ["text", "markdown"] {
        let (code, text, _) = run(dir.path(), &["diff", "--format", format], &kong(&server));
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("evil"), "{text}");
        for c in ['\u{1b}', '\u{7}', '\r'] {
            assert!(!text.contains(c), "{format}: {text:?}");
        }
    }
}

/// A 500 that persists for one entity fails that step only: the target is still there.
#[test]
fn a_persistent_500_on_one_step_does_not_stop_the_others() {
    let server = Scripted::start(|r, _| {
        if r.method == "GET" {
            return empty_list();
        }
        if String::from_utf8_lossy(&r.body).contains("\"p0\"") {
            return Reply::Json(500, r#"{"message":"boom"}"#.into());
        }
        Reply::Json(200, "{}".into())
    });
    let dir = tempfile::tempdir().unwrap();
    many_plugins(dir.path(), 4);
    let (code, text, _) = run(dir.path(), &["sync", "--parallelism", "1"], &kong(&server));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("created 3,"), "{text}");
    assert!(!text.contains("unreachable"), "{text}");
}
