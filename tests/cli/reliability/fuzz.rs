//! Property-based fuzzing (proptest; cargo-fuzz needs a nightly toolchain) of the three
//! surfaces that read untrusted input: the state loader, the schema evaluator with the config
//! validator, and the server's request handling. The property is always "no panic, no hang,
//! a clear answer". CI runs a few hundred cases each; `docs/reliability.md` gives the long
//! command (`PROPTEST_CASES=…`). Failures proptest finds are kept in `proptest-regressions/`
//! and replayed first on every run; each one found also became a named regression test here.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use plugsync::lua::evaluate_schema;
use plugsync::schema::validate::{process_config, validate_plugin};
use plugsync::state::{load, FileSource};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{json, Value};

/// Cases per property: `PROPTEST_CASES` or `default`.
fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

// ------------------------------------------------------------------ the state loader

/// One state file in memory, and one plugin directory holding a handler and a schema.
struct MemFiles {
    state: Vec<u8>,
}

impl FileSource for MemFiles {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match path.to_string_lossy().as_ref() {
            "/repo/plugsync.yaml" => Ok(self.state.clone()),
            "/repo/plugins/p/handler.lua" => Ok(b"return { PRIORITY = 1, VERSION = \"1.0.0\" }".to_vec()),
            "/repo/plugins/p/schema.lua" => Ok(br#"return { name = "p", fields = { { config = { type = "record", fields = { { a = { type = "string" } } } } } } }"#.to_vec()),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such file")),
        }
    }
    fn is_dir(&self, path: &Path) -> bool {
        matches!(
            path.to_string_lossy().as_ref(),
            "/repo" | "/repo/plugins" | "/repo/plugins/p"
        )
    }
    fn exists(&self, path: &Path) -> bool {
        self.is_dir(path) || self.read(path).is_ok()
    }
    fn list(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        match path.to_string_lossy().as_ref() {
            "/repo/plugins/p" => Ok(vec![
                PathBuf::from("/repo/plugins/p/handler.lua"),
                PathBuf::from("/repo/plugins/p/schema.lua"),
            ]),
            "/repo" => Ok(vec![
                PathBuf::from("/repo/plugins"),
                PathBuf::from("/repo/plugsync.yaml"),
            ]),
            _ => Ok(vec![]),
        }
    }
    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        // Lexical resolution of `..` and `.`.
        let mut out = PathBuf::from("/");
        for c in path.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::Normal(n) => out.push(n),
                _ => {}
            }
        }
        Ok(out)
    }
    fn containment_root(&self, _state_file: &Path) -> PathBuf {
        PathBuf::from("/repo")
    }
}

/// Pieces of state files: keys, values, YAML syntax, templates, anchors.
const YAML_TOKENS: &[&str] = &[
    "_format_version: \"3.0\"\n",
    "_format_version: 3\n",
    "_info:\n",
    "  select_tags: [a, b]\n",
    "_konnect:\n  control_plane_name: x\n",
    "custom_plugins:\n",
    "plugins:\n",
    "  - ",
    "    ",
    "name: p\n",
    "name: q\n",
    "path: plugins/p\n",
    "path: ../etc\n",
    "path: /etc\n",
    "replaces: p\n",
    "replaces: q\n",
    "protected: true\n",
    "tags: [x]\n",
    "handler: |\n      return {}\n",
    "schema: |\n      return { name = \"q\", fields = {} }\n",
    "instance_name: i\n",
    "config:\n",
    "      a: ${{ env \"PLUGSYNC_X\" }}\n",
    "${{ env \"DECK_Y\" }}",
    "${{ env }}",
    "${{",
    "}}",
    "service: s\n",
    "route: r\n",
    "consumer: c\n",
    "enabled: yes\n",
    "protocols: [http]\n",
    "ordering: {before: {access: [x]}}\n",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary aGk=",
    "!!str ",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "-",
    "? ",
    "|",
    ">",
    "'",
    "\"",
    "#",
    "\n",
    " ",
    "\t",
    "~",
    "null",
    "1e309",
    "-0",
    "0x1F",
    ".inf",
    "\u{feff}",
    "\0",
    "\u{fffd}",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
];

fn yaml_soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(YAML_TOKENS), 0..60)
        .prop_map(|tokens| tokens.concat().into_bytes())
}

fn load_mem(state: Vec<u8>) -> Duration {
    let files = MemFiles { state };
    let env = |name: &str| (name == "PLUGSYNC_X").then(|| "value".to_string());
    let started = Instant::now();
    let loaded = load(&[PathBuf::from("/repo/plugsync.yaml")], &files, &env);
    // Whatever was loaded is usable: every error has a message.
    for d in &loaded.diagnostics {
        assert!(!format!("{d:?}").is_empty());
    }
    started.elapsed()
}

#[test]
fn fuzz_state_loader_with_yaml_pieces() {
    proptest!(config(256), |(state in yaml_soup())| {
        let took = load_mem(state);
        prop_assert!(took < Duration::from_secs(5), "took {took:?}");
    });
}

#[test]
fn fuzz_state_loader_with_arbitrary_bytes() {
    proptest!(config(256), |(state in prop::collection::vec(any::<u8>(), 0..2048))| {
        load_mem(state);
    });
}

// ------------------------------------------------------- schema evaluator and validator

/// A field definition in Lua, and recursively records of them.
fn lua_field(depth: u32) -> BoxedStrategy<String> {
    let scalar = prop_oneof![
        Just("type = \"string\"".to_string()),
        Just("type = \"integer\"".to_string()),
        Just("type = \"number\"".to_string()),
        Just("type = \"boolean\"".to_string()),
        Just("type = \"array\", elements = { type = \"string\" }".to_string()),
        Just("type = \"set\", elements = { type = \"integer\" }".to_string()),
        Just(
            "type = \"map\", keys = { type = \"string\" }, values = { type = \"number\" }"
                .to_string()
        ),
        Just("type = \"json\"".to_string()),
        Just("type = \"foo\"".to_string()),
        Just(String::new()),
    ];
    let attrs = prop::collection::vec(
        prop::sample::select(
            &[
                "required = true",
                "required = false",
                "default = \"d\"",
                "default = 3",
                "default = {}",
                "one_of = { \"a\", \"b\" }",
                "one_of = { 1, 2 }",
                "between = { 1, 10 }",
                "gt = 0",
                "len_min = 1",
                "len_max = 3",
                "match = \"^%a+$\"",
                "match = \"[\"",
                "not_match = \"%d\"",
                "starts_with = \"/\"",
                "uuid = true",
                "unique = true",
                "referenceable = true",
                "encrypted = true",
                "description = \"x\"",
                "auto = true",
                "len_eq = 2",
                "match_any = { patterns = { \"a\" } }",
                "custom_validator = function() return true end",
                "elements = { type = \"record\" }",
            ][..],
        ),
        0..4,
    );
    let leaf = (scalar, attrs)
        .prop_map(|(ty, attrs)| {
            let mut parts = vec![ty];
            parts.extend(attrs.into_iter().map(str::to_string));
            parts.retain(|p| !p.is_empty());
            parts.join(", ")
        })
        .boxed();
    if depth == 0 {
        return leaf;
    }
    prop_oneof![
        3 => leaf,
        1 => prop::collection::vec(("[a-c]{1,2}", lua_field(depth - 1)), 0..4).prop_map(|fields| {
            let inner: Vec<String> = fields.into_iter().map(|(n, f)| format!("{{ {n} = {{ {f} }} }}")).collect();
            format!("type = \"record\", fields = {{ {} }}", inner.join(", "))
        }),
    ]
    .boxed()
}

fn lua_schema() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(("[a-e]{1,2}", lua_field(2)), 0..6),
        prop::sample::select(&["", "entity_checks = { { at_least_one_of = { \"config.a\", \"config.b\" } } },", "entity_checks = { { conditional = { if_field = \"config.a\", if_match = { eq = \"x\" }, then_field = \"config.b\", then_match = { required = true } } } },", "entity_checks = 3,"][..]),
        prop::sample::select(&["", "{ protocols = typedefs.protocols_http },", "{ consumer = typedefs.no_consumer },", "{ route = { type = \"foreign\" } },"][..]),
    )
        .prop_map(|(fields, checks, extra)| {
            let inner: Vec<String> = fields.into_iter().map(|(n, f)| format!("{{ {n} = {{ {f} }} }}")).collect();
            format!(
                "local typedefs = require \"kong.db.schema.typedefs\"\nreturn {{ name = \"fz\", {checks} fields = {{ {extra} {{ config = {{ type = \"record\", fields = {{ {} }} }} }} }} }}",
                inner.join(", ")
            )
        })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-e/%0-9]{0,6}".prop_map(Value::from),
        Just(json!("6f0c3a1e-7b9d-4c1e-9e0a-1b2c3d4e5f60")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-e]{1,2}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

static TRIED: AtomicUsize = AtomicUsize::new(0);
static EVALUATED: AtomicUsize = AtomicUsize::new(0);

#[test]
fn fuzz_schema_evaluator_and_config_validator() {
    proptest!(config(256), |(schema in lua_schema(), config in json_value(), protocols in json_value())| {
        let started = Instant::now();
        TRIED.fetch_add(1, Ordering::Relaxed);
        if let Ok(parsed) = evaluate_schema(&schema) {
            EVALUATED.fetch_add(1, Ordering::Relaxed);
            let _ = process_config(&parsed, Some(&config));
            let _ = process_config(&parsed, None);
            let _ = validate_plugin(&parsed, Some(&config), Some(&protocols), &["route"]);
            // A config the validator filled is valid on a second pass (defaults are stable).
            if let Ok(filled) = process_config(&parsed, Some(&config)) {
                prop_assert!(
                    process_config(&parsed, Some(&filled)).is_ok(),
                    "a filled config is invalid on re-validation:\n{schema}\n{filled}"
                );
            }
        }
        prop_assert!(started.elapsed() < Duration::from_secs(5));
    });
    // The generator must reach the validator, not only the evaluator's refusals.
    let (tried, evaluated) = (
        TRIED.load(Ordering::Relaxed),
        EVALUATED.load(Ordering::Relaxed),
    );
    eprintln!(
        "fuzz: {evaluated} of {tried} generated schemas evaluated and were validated against"
    );
    assert!(
        evaluated * 10 >= tried,
        "only {evaluated} of {tried} generated schemas evaluate"
    );
}

const LUA_TOKENS: &[&str] = &[
    "return",
    "local",
    "function",
    "end",
    "while",
    "true",
    "do",
    "for",
    "i",
    "=",
    "1",
    ",",
    "1e9",
    "if",
    "then",
    "else",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "..",
    "x",
    "s",
    "\"a\"",
    "string.rep",
    "load",
    "loadstring",
    "setfenv",
    "getfenv",
    "getmetatable",
    "setmetatable",
    "rawset",
    "pcall",
    "error",
    "coroutine.wrap",
    "select",
    "unpack",
    "#",
    "+",
    "*",
    "^",
    "name",
    "fields",
    "config",
    "type",
    "\"record\"",
    "\"string\"",
    ";",
    "\n",
    " ",
    "require",
    "\"kong.db.schema.typedefs\"",
    "typedefs",
    "tostring",
    "string.format",
    "\"%s\"",
    "string.gsub",
    "string.find",
    "\"(.-)*$\"",
    "table.concat",
    "math.huge",
    "-",
    "nil",
    "not",
    "and",
    "or",
    "==",
    "~=",
    "<",
    "goto",
    "::l::",
    "break",
    "repeat",
    "until",
];

#[test]
fn fuzz_schema_evaluator_with_lua_pieces() {
    proptest!(config(256), |(tokens in prop::collection::vec(prop::sample::select(LUA_TOKENS), 0..40))| {
        let source = tokens.join(" ");
        let started = Instant::now();
        let _ = evaluate_schema(&source);
        let _ = plugsync::lua::load_handler(&source, plugsync::lua::DEFAULT_PROFILE, &[]);
        prop_assert!(started.elapsed() < Duration::from_secs(5), "{source}");
    });
}

// ----------------------------------------------------------------- the server

/// A server on an ephemeral port in this process, shared by the cases.
fn server_base() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let store = plugsync::controlplane::ControlPlanes::open(":memory:").expect("store");
                let state = plugsync::server::AppState::new(std::sync::Arc::new(store));
                let app = plugsync::server::router(state, &plugsync::server::Options::default());
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(format!("http://{}", listener.local_addr().unwrap()))
                    .unwrap();
                let _ = plugsync::server::serve(listener, app, std::future::pending()).await;
            });
        });
        rx.recv().expect("server started")
    })
}

const PATH_SEGMENTS: &[&str] = &[
    "v2",
    "control-planes",
    "core-entities",
    "custom-plugins",
    "plugins",
    "services",
    "routes",
    "consumers",
    "consumer_groups",
    "schemas",
    "nodes",
    "expected-config-hash",
    "_plugsync",
    "dp-log",
    "default",
    "x",
    "..",
    ".",
    "%00",
    "%2F",
    "%ff",
    "a%20b",
    "00000000-0000-0000-0000-000000000000",
    "",
    "?size=0",
    "?size=abc",
    "?offset=zz",
    "?tags=a,b/c",
    "?filter[name][eq]=p",
    "?page[size]=-1",
    "?page[number]=99999999999999999999",
];

fn request() -> impl Strategy<Value = (String, String, Option<String>, Vec<u8>)> {
    let method =
        prop::sample::select(&["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"][..]);
    let path = prop::collection::vec(prop::sample::select(PATH_SEGMENTS), 1..6)
        .prop_map(|segs| format!("/{}", segs.join("/")));
    let content_type = prop::option::of(
        prop::sample::select(
            &[
                "application/json",
                "text/plain",
                "application/problem+json",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "application/json; charset=latin1",
                "",
            ][..],
        )
        .prop_map(str::to_string),
    );
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        (
            json_value(),
            prop::sample::select(
                &[
                    "name",
                    "handler",
                    "schema",
                    "config",
                    "tags",
                    "id",
                    "service",
                    "protocols",
                    "instance_name",
                    "enabled"
                ][..]
            )
        )
            .prop_map(|(v, k)| serde_json::to_vec(&json!({ k: v, "name": "p" })).unwrap()),
    ];
    (method.prop_map(str::to_string), path, content_type, body)
}

#[test]
fn fuzz_server_request_handling() {
    let base = server_base();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    proptest!(config(256), |((method, path, content_type, body) in request())| {
        let mut req = client
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{base}{path}"))
            .body(body);
        if let Some(ct) = &content_type {
            req = req.header("Content-Type", ct);
        }
        match req.send() {
            Ok(resp) => {
                let status = resp.status().as_u16();
                prop_assert!(status < 500, "{method} {path} ({content_type:?}) answered {status}: {}", resp.text().unwrap_or_default());
            }
            // Paths reqwest itself refuses never reach the server.
            Err(e) => prop_assert!(e.is_builder(), "{method} {path}: {e}"),
        }
    });
    // Still serving.
    let r = client.get(format!("{base}/custom-plugins")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
