//! Pacing by the server's rate budget: a sync to a Konnect-shaped `plugsync serve
//! --rate-limit N`, which answers every request with `RateLimit-*` and `X-RateLimit-*-Second`
//! headers and 429 above N a second, finishes with no 429 left unhandled, and `-v` shows the
//! pace following the server's stated limit.

use std::time::Instant;

use serde_json::Value;

use super::{family_state, list, run, target};
use crate::Server;

#[test]
fn a_konnect_sync_paces_itself_by_the_servers_rate_limit_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 12 families: about 40 requests with the reads, at 8 a second about 5 s.
    std::fs::write(dir.path().join("s.yaml"), family_state("rl", 12, 1, "pace")).unwrap();
    let server = Server::start(":memory:", &["--token", super::TOKEN, "--rate-limit", "8"]);
    let t = target(&server, true);
    let started = Instant::now();
    let (code, out, err) = run(
        dir.path(),
        &["sync", "-s", "s.yaml", "--format", "json", "-v"],
        &t,
    );
    let took = started.elapsed().as_secs_f64();
    assert_eq!(code, 0, "sync failed:\n{err}");
    let report: Value = serde_json::from_str(&out).expect("the sync report is JSON");
    let result = &report["result"];
    assert_eq!(result["counts"]["failed"], 0, "{result}");
    let requests = result["requests"].as_u64().expect("result.requests");
    let retries = result["retries"].as_u64().expect("result.retries");
    // The first answer names the limit (8 a second), so the pace drops from its start of 30
    // before the one-second bucket runs dry: no 429 at all, or a stray one that was retried.
    assert!(retries <= 1, "{retries} retries: {err}");
    assert!(
        err.contains("pacing: 7.6 requests/s"),
        "-v shows the pace following the server's limit:\n{err}"
    );
    // It did pace: the bucket holds one second, the rest comes at 8 a second.
    assert!(
        took >= (requests as f64 - 8.0) / 8.0 * 0.8,
        "{requests} requests in {took:.1}s at a limit of 8/s"
    );
    assert_eq!(list(&server, "custom-plugins").len(), 12);
    assert_eq!(list(&server, "plugins").len(), 12);
}
