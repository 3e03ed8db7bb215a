//! `plugsync test` on 1,000 cases (docs/performance.md): the four plugins of
//! `testdata/pdktest` (headers, auth rejection, body, logging), 250 generated cases each, read,
//! validated and run through every phase with the PDK stand-in, one fresh sandbox per case.
//!
//! ```sh
//! cargo bench --bench pdktest                 # 1,000 cases
//! PLUGSYNC_BENCH_CASES=40 cargo bench --bench pdktest -- --test   # smoke
//! ```

// Benches, like tests, may unwrap and print (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use plugsync::pdktest::{self, Options};
use plugsync::state::{self, WorkTree};

fn env(_: &str) -> Option<String> {
    None
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn case(plugin: &str, i: usize) -> String {
    match plugin {
        "token-gate" => match i % 3 {
            0 => format!("  - name: token {i} passes\n    config: {{ tokens: {{ t{i}: user{i} }} }}\n    request: {{ headers: {{ Authorization: Bearer t{i} }} }}\n    expect:\n      upstream_request: {{ headers: {{ X-Consumer-Username: user{i}, Authorization: ~ }} }}\n"),
            1 => format!("  - name: no token {i}\n    config: {{ tokens: {{ t{i}: user{i} }} }}\n    expect:\n      upstream_request: ~\n      response: {{ status: 401, json: {{ message: missing token }} }}\n"),
            _ => format!("  - name: wrong token {i}\n    config: {{ tokens: {{ t{i}: user{i} }} }}\n    request: {{ headers: {{ Authorization: Bearer nope }} }}\n    expect:\n      response: {{ status: 403 }}\n      logs: [ {{ level: warn, contains: bad token }} ]\n"),
        },
        "body-redactor" => format!("  - name: redacts {i}\n    config: {{}}\n    upstream:\n      json: {{ user: u{i}, password: p{i}, items: [1, 2, 3] }}\n    expect:\n      response: {{ json: {{ user: u{i}, password: \"***\" }} }}\n"),
        "audit-log" => format!("  - name: audit {i}\n    config: {{}}\n    request: {{ method: POST, path: /orders/{i}, client_ip: 10.0.0.{} }}\n    upstream: {{ status: {} }}\n    expect:\n      logs: [ {{ level: info, contains: \"POST /orders/{i}\" }} ]\n", i % 250, if i % 2 == 0 { 200 } else { 502 }),
        _ => format!("  - name: headers {i}\n    config: {{ hsts_max_age: {} }}\n    request: {{ scheme: https }}\n    upstream: {{ headers: {{ Server: s{i} }}, body: body {i} }}\n    expect:\n      response: {{ headers: {{ X-Frame-Options: DENY, Server: ~, Strict-Transport-Security: max-age={} }}, body: body {i} }}\n", i + 1, i + 1),
    }
}

/// A state with the four plugins and `cases` test cases spread over them.
fn workload(dir: &Path, cases: usize) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/pdktest");
    copy_dir(&src.join("plugins"), &dir.join("plugins"));
    std::fs::copy(src.join("plugsync.yaml"), dir.join("plugsync.yaml")).unwrap();
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    let plugins = [
        "token-gate",
        "body-redactor",
        "audit-log",
        "security-headers",
    ];
    let mut files = Vec::new();
    for (p, plugin) in plugins.iter().enumerate() {
        let mut text = format!("plugin: {plugin}\ncases:\n");
        for i in (p..cases).step_by(plugins.len()) {
            text.push_str(&case(plugin, i));
        }
        let path = dir.join("tests").join(format!("{plugin}.test.yaml"));
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    files
}

fn bench(c: &mut Criterion) {
    let cases: usize = std::env::var("PLUGSYNC_BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let files = workload(dir.path(), cases);
    let loaded = state::load(&[dir.path().to_path_buf()], &WorkTree, &env);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let options = Options::default();

    // One timed run first, so the number is printed even in `--test` mode.
    let started = Instant::now();
    let run = pdktest::run(&files, &loaded.state, &options);
    let (total, passed, _, _) = run.counts();
    assert_eq!(
        (total, passed),
        (cases, cases),
        "{}",
        pdktest::report::text(&run, false)
    );
    eprintln!("plugsync test: {cases} cases in {:?}", started.elapsed());

    let mut group = c.benchmark_group("pdktest");
    group.sample_size(10);
    group.bench_function(format!("{cases} cases"), |b| {
        b.iter(|| {
            let run = pdktest::run(&files, &loaded.state, &options);
            assert!(run.ok());
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
