//! Hostile input, end to end: each case runs `plugsync lint` (or a request to `plugsync
//! serve`) and must end in a clear error within seconds — never a hang, a crash, a side
//! effect or a leak of one plugin's state into another.
//!
//! The sandbox's own unit tests (src/lua/tests.rs, testdata/lua/invalid) check the exact error
//! of each file; here the whole binary is checked. 413, wrong content types and malformed
//! JSON to `serve` are in `serve::malformed_requests_are_refused_in_the_dialect_of_the_path`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{plugsync, Server};

/// `lint` finished within this (the sandbox's budget is one second per file).
const DEADLINE: Duration = Duration::from_secs(10);

/// A state with one custom plugin `evil` in `plugins/evil`, with `schema` and `handler`.
fn plugin_state(dir: &Path, schema: &str, handler: &str) {
    let p = dir.join("plugins/evil");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("schema.lua"), schema).unwrap();
    std::fs::write(p.join("handler.lua"), handler).unwrap();
    std::fs::write(
        dir.join("plugsync.yaml"),
        "_format_version: \"3.0\"\ncustom_plugins:\n  - name: evil\n    path: plugins/evil\n",
    )
    .unwrap();
}

const GOOD_SCHEMA: &str = r#"return { name = "evil", fields = { { config = { type = "record", fields = { { x = { type = "string" } } } } } } }"#;
const GOOD_HANDLER: &str = r#"return { PRIORITY = 1, VERSION = "1.0.0" }"#;

/// Runs `plugsync lint` in `dir`; asserts it ends in time with exit 1 and no panic; returns
/// stdout and stderr together.
fn lint_fails(dir: &Path, what: &str) -> String {
    let started = Instant::now();
    let out = plugsync(dir)
        .args(["lint"])
        .timeout(DEADLINE * 3)
        .output()
        .expect("run plugsync lint");
    let took = started.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: expected exit 1 (killed by a signal = None) after {took:?}:\n{text}"
    );
    assert!(took < DEADLINE, "{what}: lint took {took:?}");
    assert!(!text.contains("panicked"), "{what}: {text}");
    assert!(text.contains("error["), "{what}: no diagnostic:\n{text}");
    text
}

/// One hostile schema.lua: exits 1 with `expect` in the output.
fn hostile_schema(what: &str, schema: &str, expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    plugin_state(dir.path(), schema, GOOD_HANDLER);
    let text = lint_fails(dir.path(), what);
    assert!(text.contains(expect), "{what}: want {expect:?} in:\n{text}");
}

/// One hostile handler.lua.
fn hostile_handler(what: &str, handler: &str, expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    plugin_state(dir.path(), GOOD_SCHEMA, handler);
    let text = lint_fails(dir.path(), what);
    assert!(text.contains(expect), "{what}: want {expect:?} in:\n{text}");
}

macro_rules! hostile_lua {
    ($($name:ident: $fn:ident, $lua:expr, $expect:expr;)*) => {
        $(
            #[test]
            fn $name() {
                $fn(stringify!($name), $lua, $expect);
            }
        )*
    };
}

hostile_lua! {
    lua_infinite_loop: hostile_schema, "while true do end", "error[schema-invalid]";
    lua_infinite_loop_in_handler: hostile_handler, "while true do end\nreturn {}", "error[";
    lua_unbounded_recursion: hostile_schema,
        "local function f(n) return 1 + f(n + 1) end\nreturn f(1)", "error[schema-invalid]";
    lua_unbounded_allocation: hostile_schema,
        "local t = {}\nfor i = 1, 1e9 do t[i] = { i, i, i } end", "error[schema-invalid]";
    lua_string_rep_bomb: hostile_schema,
        "local s = string.rep(\"x\", 2^31)\nreturn {}", "error[schema-invalid]";
    lua_string_rep_method_bomb: hostile_schema,
        "local s = (\"xy\"):rep(1e9)\nreturn {}", "error[schema-invalid]";
    lua_string_doubling_bomb: hostile_schema,
        "local s = \"x\"\nfor i = 1, 64 do s = s .. s end\nreturn {}", "error[schema-invalid]";
    lua_load_of_bytecode: hostile_schema,
        "local f = load(string.char(27) .. \"LuaQ\\0\\1\\4\\8\\4\\8\\0\")\nreturn f()", "error[";
    lua_loadstring: hostile_schema,
        "return loadstring(\"return { name = 'evil' }\")()", "error[";
    lua_string_dump: hostile_schema,
        "local d = string.dump(function() end)\nreturn {}", "error[schema-invalid]";
    lua_getfenv: hostile_schema,
        "local g = getfenv(0)\nreturn g.os.execute(\"true\")", "error[";
    lua_setfenv: hostile_schema,
        "setfenv(1, { })\nreturn {}", "error[";
    lua_string_metatable: hostile_schema,
        "getmetatable(\"\").__index = function() while true do end end\nreturn (\"x\"):upper()", "error[";
    lua_collectgarbage: hostile_schema,
        "collectgarbage(\"stop\")\nlocal t = {}\nfor i = 1, 1e9 do t[i] = {} end", "error[";
    lua_newproxy: hostile_schema,
        "local p = newproxy(true)\ngetmetatable(p).__gc = function() while true do end end\nreturn {}", "error[";
    lua_io: hostile_schema, "local f = io.open(\"/etc/passwd\")\nreturn {}", "error[";
    lua_os: hostile_schema, "os.execute(\"true\")\nreturn {}", "error[";
    lua_package: hostile_schema,
        "package.loadlib(\"libc.so.6\", \"system\")\nreturn {}", "error[";
    lua_debug: hostile_schema, "debug.sethook()\nreturn {}", "error[";
    lua_ffi: hostile_schema, "local ffi = require(\"ffi\")\nreturn {}", "error[";
    lua_jit: hostile_schema, "jit.off()\nreturn {}", "error[";
    lua_require_in_handler: hostile_handler,
        "local ffi = require(\"ffi\")\nreturn { PRIORITY = 1, VERSION = \"1.0.0\" }", "error[require]";
}

/// A file the hostile Lua tries to create: it must never appear.
#[test]
fn lua_side_effects_never_happen() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let m = marker.to_string_lossy();
    for schema in [
        format!("os.execute(\"touch {m}\")\nreturn {{}}"),
        format!("io.open(\"{m}\", \"w\"):write(\"x\")\nreturn {{}}"),
        format!("getfenv(0).io.open(\"{m}\", \"w\")\nreturn {{}}"),
        format!("string.gsub(\"\", \"\", function() io.open(\"{m}\", \"w\") end)\nreturn {{}}"),
        format!("pcall(os.execute, \"touch {m}\")\nreturn {{}}"),
    ] {
        plugin_state(dir.path(), &schema, GOOD_HANDLER);
        lint_fails(dir.path(), &schema);
        assert!(!marker.exists(), "{schema} created a file");
    }
}

/// One plugin's schema cannot change what another plugin's schema sees (a fresh state each).
#[test]
fn a_poisoned_string_metatable_does_not_reach_the_next_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, schema) in [
        (
            "a-poison",
            "local mt = getmetatable(\"\")\nif mt and type(mt.__index) == \"table\" then mt.__index.lower = function() return \"pwned\" end end\nstring.lower = function() return \"pwned\" end\nreturn { name = \"a-poison\", fields = { { config = { type = \"record\", fields = { } } } } }",
        ),
        (
            "b-victim",
            "return { name = (\"B-VICTIM\"):lower(), fields = { { config = { type = \"record\", fields = { } } } } }",
        ),
    ] {
        let p = d.join("plugins").join(name);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("schema.lua"), schema).unwrap();
        std::fs::write(p.join("handler.lua"), GOOD_HANDLER).unwrap();
    }
    std::fs::write(
        d.join("plugsync.yaml"),
        "custom_plugins:\n  - name: a-poison\n    path: plugins/a-poison\n  - name: b-victim\n    path: plugins/b-victim\n",
    )
    .unwrap();
    let out = plugsync(d).arg("lint").timeout(DEADLINE).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("pwned"), "{text}");
    assert!(!text.contains("schema-name-mismatch"), "{text}");
}

/// One hostile state file: exits 1 with a `yaml` error.
fn hostile_yaml(what: &str, bytes: &[u8], expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plugsync.yaml"), bytes).unwrap();
    let text = lint_fails(dir.path(), what);
    assert!(text.contains(expect), "{what}: want {expect:?} in:\n{text}");
}

#[test]
fn yaml_alias_bomb() {
    // Billion laughs: 9 levels of 9 aliases each expand to 387 million strings.
    let mut y = String::from("a0: &a0 [\"lol\"]\n");
    for i in 1..=9 {
        let prev = format!("*a{}", i - 1);
        let refs = [prev.as_str(); 9].join(", ");
        y.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    y.push_str("custom_plugins: *a9\n");
    hostile_yaml("alias bomb", y.as_bytes(), "error[yaml]");
}

#[test]
fn yaml_deep_nesting() {
    let depth = 100_000;
    let y = format!(
        "custom_plugins: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    hostile_yaml("deep nesting", y.as_bytes(), "error[yaml]");
    let y = format!(
        "plugins:\n  - config: {}1{}\n",
        "{a: ".repeat(depth),
        "}".repeat(depth)
    );
    hostile_yaml("deep mappings", y.as_bytes(), "error[yaml]");
}

#[test]
fn yaml_huge_file() {
    // Over the 16 MiB limit of state files: refused before it is parsed.
    let mut y = String::from("_format_version: \"3.0\"\n# ");
    y.push_str(&"x".repeat(17 * 1024 * 1024));
    y.push('\n');
    hostile_yaml("huge file", y.as_bytes(), "error[yaml]");
}

#[test]
fn yaml_invalid_utf8() {
    hostile_yaml(
        "invalid UTF-8",
        b"custom_plugins:\n  - name: \xff\xfe\xc3\x28\n",
        "error[yaml]",
    );
}

#[test]
fn yaml_nul_bytes() {
    hostile_yaml(
        "NUL bytes",
        b"custom_plugins:\n  - name: a\0b\n",
        "error[yaml]",
    );
}

#[test]
fn lua_files_with_nul_bytes_and_invalid_utf8() {
    let dir = tempfile::tempdir().unwrap();
    plugin_state(dir.path(), "return {\0}", GOOD_HANDLER);
    lint_fails(dir.path(), "NUL in schema.lua");
    plugin_state(
        dir.path(),
        GOOD_SCHEMA,
        "return { PRIORITY = 1, VERSION = \"\u{0}\" }\n\u{ff}",
    );
    std::fs::write(
        dir.path().join("plugins/evil/handler.lua"),
        b"return { PRIORITY = 1, VERSION = \"\xff\xfe\" } \xc3\x28",
    )
    .unwrap();
    lint_fails(dir.path(), "invalid UTF-8 in handler.lua");
}

#[test]
fn plugin_path_escapes_through_dotdot_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let repo = outer.path().join("repo");
    let secret = outer.path().join("outside");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("schema.lua"), GOOD_SCHEMA).unwrap();
    std::fs::write(secret.join("handler.lua"), GOOD_HANDLER).unwrap();
    for path in ["../outside", "plugins/../../outside", "/etc"] {
        std::fs::write(
            repo.join("plugsync.yaml"),
            format!("custom_plugins:\n  - name: evil\n    path: {path}\n"),
        )
        .unwrap();
        let text = lint_fails(&repo, path);
        assert!(
            text.contains("error[yaml]") || text.contains("escape") || text.contains("outside"),
            "{path}: {text}"
        );
    }
}

#[cfg(unix)]
#[test]
fn plugin_path_escapes_through_symlinks_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let repo = outer.path().join("repo");
    let secret = outer.path().join("outside");
    std::fs::create_dir_all(repo.join("plugins/evil")).unwrap();
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("schema.lua"), GOOD_SCHEMA).unwrap();
    std::fs::write(secret.join("handler.lua"), GOOD_HANDLER).unwrap();
    // A symlinked directory.
    std::os::unix::fs::symlink(&secret, repo.join("plugins/linked")).unwrap();
    std::fs::write(
        repo.join("plugsync.yaml"),
        "custom_plugins:\n  - name: evil\n    path: plugins/linked\n",
    )
    .unwrap();
    lint_fails(&repo, "symlinked plugin directory");
    // Symlinked files inside a plugin directory of the repository.
    std::os::unix::fs::symlink(
        secret.join("schema.lua"),
        repo.join("plugins/evil/schema.lua"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        secret.join("handler.lua"),
        repo.join("plugins/evil/handler.lua"),
    )
    .unwrap();
    std::fs::write(
        repo.join("plugsync.yaml"),
        "custom_plugins:\n  - name: evil\n    path: plugins/evil\n",
    )
    .unwrap();
    lint_fails(&repo, "symlinked handler.lua and schema.lua");
}

/// Bodies `serve` must refuse without falling over: deep JSON, invalid UTF-8, a body as large
/// as the limit allows made of one string; the server answers normally afterwards.
#[test]
fn serve_refuses_hostile_json_bodies_and_keeps_serving() {
    let server = Server::start(":memory:", &[]);
    let c = super::client();
    let post = |body: Vec<u8>| {
        c.post(server.url("/custom-plugins"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .expect("the server answers")
            .status()
            .as_u16()
    };
    let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000)).into_bytes();
    assert_eq!(post(deep), 400, "JSON nested a million deep");
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    assert_eq!(
        post(deep_objects.into_bytes()),
        400,
        "objects nested 100,000 deep"
    );
    assert_eq!(
        post(b"{\"name\": \"\xff\xfe\"}".to_vec()),
        400,
        "invalid UTF-8"
    );
    assert_eq!(
        post(b"{\"name\": \"a\\u0000b\"}".to_vec()),
        400,
        "NUL in a name"
    );
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(7 * 1024 * 1024)).into_bytes();
    assert_eq!(post(big), 400, "a 7 MiB name");
    let r = c
        .get(server.url("/custom-plugins"))
        .send()
        .expect("still serving");
    assert_eq!(r.status().as_u16(), 200);
}

/// What an error echoes back is capped: thousands of unknown config keys, or a name of
/// megabytes, give a small error, not one bigger than the request.
#[test]
fn serve_caps_what_errors_echo() {
    let server = Server::start(":memory:", &[]);
    let c = super::client();
    let schema = r#"return { name = "echo", fields = { { config = { type = "record", fields = { { v = { type = "string" } } } } } } }"#;
    let created = c
        .post(server.url("/custom-plugins"))
        .json(&serde_json::json!({"name": "echo", "schema": schema,
            "handler": "return { PRIORITY = 1, VERSION = \"1.0.0\" }"}))
        .send()
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let mut config = serde_json::Map::new();
    for i in 0..20_000 {
        config.insert(format!("unknown_key_{i:05}_{}", "k".repeat(80)), 1.into());
    }
    let body = serde_json::json!({"name": "echo", "config": config}).to_string();
    for path in [server.url("/plugins"), server.v2("/plugins")] {
        let r = c
            .post(&path)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path}");
        let text = r.text().unwrap();
        assert!(
            text.len() < 64 * 1024,
            "{path}: a {} byte request gave a {} byte error",
            body.len(),
            text.len()
        );
        assert!(
            text.contains("unknown_key_00000"),
            "{path}: {}",
            &text[..200.min(text.len())]
        );
    }
    let huge_name = "n".repeat(3 * 1024 * 1024);
    let r = c
        .post(server.url("/custom-plugins"))
        .json(&serde_json::json!({"name": huge_name, "schema": schema, "handler": "return {}"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().unwrap();
    assert!(
        text.len() < 64 * 1024,
        "a 3 MiB name gave a {} byte error",
        text.len()
    );
}

/// A connection that never finishes its headers, or sits idle, is closed after
/// `--idle-timeout`: half-open connections cannot pile up until file descriptors run out.
#[test]
fn serve_closes_connections_that_stall() {
    use std::io::{Read, Write};
    let server = Server::start(":memory:", &["--idle-timeout", "1"]);
    let addr = server.base.trim_start_matches("http://").to_string();
    // Half a request line, then nothing; and a connection that never sends a byte.
    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET /custom-plugins HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut silent = std::net::TcpStream::connect(&addr).unwrap();
    for (what, s) in [
        ("half a request", &mut half),
        ("a silent connection", &mut silent),
    ] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(_) => {}
            Err(e) => panic!("{what}: still open after {:?}: {e}", started.elapsed()),
        }
        assert!(started.elapsed() < Duration::from_secs(4), "{what}");
    }
    // And it still serves.
    let r = super::client()
        .get(server.url("/custom-plugins"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// A FIFO named `handler.lua` would block a read forever: it is refused as not a file.
#[cfg(unix)]
#[test]
fn a_fifo_as_handler_lua_does_not_block_lint() {
    let dir = tempfile::tempdir().unwrap();
    plugin_state(dir.path(), GOOD_SCHEMA, GOOD_HANDLER);
    let handler = dir.path().join("plugins/evil/handler.lua");
    std::fs::remove_file(&handler).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&handler)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let text = lint_fails(dir.path(), "fifo handler.lua");
    assert!(text.contains("not a regular file"), "{text}");
}

/// A closed stderr (its reader left, as `plugsync … 2>&1 | head -1` does) loses the
/// messages, never ends in a panic (exit 101).
#[test]
fn a_closed_stderr_is_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plugsync.yaml"),
        "custom_plugins: [1, 2, 3]\n",
    )
    .unwrap();
    for _ in 0..3 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_plugsync"))
            .args(["lint", "-v"])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(1), "{status:?}");
    }
}

/// A state file saved with a UTF-8 byte order mark reads as without one.
#[test]
fn a_byte_order_mark_is_not_part_of_the_yaml() {
    let dir = tempfile::tempdir().unwrap();
    plugin_state(dir.path(), GOOD_SCHEMA, GOOD_HANDLER);
    let state = std::fs::read(dir.path().join("plugsync.yaml")).unwrap();
    let mut with_bom = b"\xef\xbb\xbf".to_vec();
    with_bom.extend(state);
    std::fs::write(dir.path().join("plugsync.yaml"), with_bom).unwrap();
    let out = plugsync(dir.path()).args(["lint"]).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
}

/// A NUL in a name is reported as such, not as a failure to load Lua.
#[test]
fn a_nul_in_a_name_is_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    plugin_state(dir.path(), GOOD_SCHEMA, GOOD_HANDLER);
    std::fs::write(
        dir.path().join("plugsync.yaml"),
        "_format_version: \"3.0\"\ncustom_plugins:\n  - name: \"ev\\0il\"\n    path: plugins/evil\n",
    )
    .unwrap();
    let text = lint_fails(dir.path(), "NUL in a name");
    assert!(text.contains("U+0000 (NUL)"), "{text}");
    assert!(!text.to_lowercase().contains("lua"), "{text}");
}

/// Lint is linear in the number of config keys: 100,000 unknown keys are reported in
/// seconds (it was quadratic: the YAML reader compared each key with every earlier one).
#[test]
fn lint_is_linear_in_config_keys() {
    let dir = tempfile::tempdir().unwrap();
    plugin_state(dir.path(), GOOD_SCHEMA, GOOD_HANDLER);
    let mut state = String::from(
        "_format_version: \"3.0\"\ncustom_plugins:\n  - name: evil\n    path: plugins/evil\nplugins:\n  - name: evil\n    config:\n",
    );
    for i in 0..100_000 {
        state.push_str(&format!("      k{i}: 1\n"));
    }
    std::fs::write(dir.path().join("plugsync.yaml"), state).unwrap();
    let text = lint_fails(dir.path(), "100,000 config keys");
    assert!(text.contains("k99999"), "{}", &text[..300.min(text.len())]);
}

/// `serve` holds at most `--max-connections` at once, so stalled connections cannot use up
/// its file descriptors; a request over the limit waits for a place instead of failing.
#[test]
fn serve_bounds_the_connections_it_holds() {
    let server = Server::start(
        ":memory:",
        &["--idle-timeout", "1", "--max-connections", "2"],
    );
    let addr = server.base.trim_start_matches("http://").to_string();
    let _a = std::net::TcpStream::connect(&addr).unwrap();
    let _b = std::net::TcpStream::connect(&addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let r = super::client()
        .get(server.url("/custom-plugins"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // It was served once the idle timeout closed a stalled connection.
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}
