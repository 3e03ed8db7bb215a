//! Kong fidelity end to end: the project's own plugins that Kong accepts lint clean, the ones it
//! refuses fail with Kong's words, and the sandbox profile follows what the target reports.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::{root, run_plugsync, Server};

#[test]
fn code_kongs_loader_accepts_lints_clean() {
    let (code, stdout, stderr) =
        run_plugsync(&root(), &["lint", "-s", "testdata/fidelity/legal"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stdout.contains("error["), "{stdout}");
}

/// The legal plugins also go through a control plane: a schema without `config` loads there,
/// its instance is written without one, and the next diff finds nothing to do.
#[test]
fn code_kongs_loader_accepts_syncs_and_converges() {
    let server = Server::start(":memory:", &[]);
    let addr = ["--kong-addr", server.base.as_str()];
    let state = ["-s", "testdata/fidelity/legal"];
    let (code, stdout, stderr) =
        run_plugsync(&root(), &[&["sync", "-q"][..], &state, &addr].concat(), &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = run_plugsync(
        &root(),
        &[&["diff", "--exit-code"][..], &state, &addr].concat(),
        &[],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    server.stop();
}

#[test]
fn what_kong_refuses_fails_with_kongs_words() {
    let (code, stdout, _) = run_plugsync(
        &root(),
        &["lint", "-s", "testdata/fidelity/violations"],
        &[],
    );
    assert_eq!(code, 1, "{stdout}");
    for want in [
        "handler.lua:4:18: error[require]: handler of `leaky-mods`: require 'kong.plugins.leaky-mods.secret' not allowed within sandbox (handler, sandbox profile 3.10)",
        "handler.lua:5:15: error[require]: handler of `leaky-mods`: require 'resty.template' not allowed within sandbox",
        "handler.lua:6:29: warning[require]: handler of `leaky-mods`: require 'inspect' not allowed within sandbox (handler, sandbox profile 3.10): the pcall catches the error",
        "schema load failure ([string \"schema\"]:1: attempt to index a nil value)",
        "hint: a streamed schema gets no module name",
        "warning[schema-custom-validation]",
        "error[instance-config]: no-settings (global): config: error in schema definition: abstract field was not specialized",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
}

#[test]
fn strict_profile_refuses_what_310_allows() {
    let args = ["lint", "-s", "testdata/fidelity/legal"];
    let (code, stdout, _) = run_plugsync(
        &root(),
        &args,
        &["--sandbox-profile".into(), "strict".into()],
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(
            "require 'resty.http' not allowed within sandbox (handler, sandbox profile strict)"
        ),
        "{stdout}"
    );
    let (code, stdout, _) = run_plugsync(
        &root(),
        &args,
        &["--kong-version".into(), "3.14.0.2".into()],
    );
    assert_eq!(code, 1, "{stdout}");
    let (code, stdout, _) =
        run_plugsync(&root(), &args, &["--sandbox-profile".into(), "lax".into()]);
    assert_eq!(code, 0, "{stdout}");
    let (code, _, stderr) = run_plugsync(
        &root(),
        &args,
        &["--sandbox-profile".into(), "loose".into()],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("unknown sandbox profile `loose`"),
        "{stderr}"
    );
}

/// A Kong Admin API that answers every request with its node-information document.
fn fake_kong(document: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(20) {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{document}",
                document.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}")
}

#[test]
fn the_profile_follows_what_the_target_reports() {
    let addr = fake_kong(r#"{"version":"3.15.0.0","configuration":{"untrusted_lua":"strict"}}"#);
    let (code, _, stderr) = run_plugsync(
        &root(),
        &[
            "diff",
            "-s",
            "testdata/fidelity/legal",
            "--kong-addr",
            &addr,
        ],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("sandbox profile: strict (Kong 3.15.0.0, untrusted_lua = strict)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "require 'resty.http' not allowed within sandbox (handler, sandbox profile strict)"
        ),
        "{stderr}"
    );
    // The flags win over the target.
    let (_, _, stderr) = run_plugsync(
        &root(),
        &[
            "diff",
            "-s",
            "testdata/fidelity/legal",
            "--kong-addr",
            &addr,
            "--sandbox-profile",
            "3.10",
        ],
        &[],
    );
    assert!(
        stderr.contains("sandbox profile: 3.10 (from the flags)"),
        "{stderr}"
    );
    assert!(!stderr.contains("not allowed within sandbox"), "{stderr}");
}

#[test]
fn json_fields_are_checked_against_their_inline_schema() {
    let (code, stdout, _) = run_plugsync(
        &root(),
        &["lint", "-s", "testdata/fidelity/json-schema"],
        &[],
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("route-rules (bad): config.rules: property match is required"),
        "{stdout}"
    );
    assert!(!stdout.contains("(good)"), "{stdout}");
}
