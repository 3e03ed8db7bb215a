//! The fault matrix: a sync with `replaces` migrations through `plugsync serve --fault-rate`
//! with one kind of fault at a time, at 10% and 30% of requests. Each run must converge to the
//! declared state with no duplicate entity, the data plane must never reject a payload, and
//! the report's retry count must equal the faults the server injected into that run.

use std::time::Instant;

use serde_json::Value;

use super::{check_families, family_state, faults_logged, list, rejected_payloads, run, target};
use crate::Server;

/// Plugin families per run: 2×N writes in the first sync, 3×N in the migration.
const FAMILIES: usize = 4;

/// One sync through faults; returns (faults the server injected, the report's `result`,
/// seconds taken).
fn faulted_sync(
    server: &Server,
    dir: &std::path::Path,
    state: &str,
    extra: &[String],
) -> (usize, Value, f64) {
    let before = faults_logged(server);
    let started = Instant::now();
    let (code, out, err) = run(
        dir,
        &["sync", "-s", state, "--format", "json", "--timeout", "1"],
        extra,
    );
    let took = started.elapsed().as_secs_f64();
    assert_eq!(code, 0, "sync of {state} failed:\n{err}");
    // The server logs a fault before it answers; give its stderr reader a moment.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let faults = faults_logged(server) - before;
    let report: Value = serde_json::from_str(&out).expect("the sync report is JSON");
    (faults, report["result"].clone(), took)
}

fn matrix_case(kind: &str, rate: &str, seed: u64, konnect: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = "fm";
    std::fs::write(
        dir.path().join("v1.yaml"),
        family_state(prefix, FAMILIES, 1, "matrix"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("v2.yaml"),
        family_state(prefix, FAMILIES, 2, "matrix"),
    )
    .unwrap();
    let data = dir.path().join("cp.db").to_string_lossy().to_string();
    let seed = seed.to_string();
    let server = Server::start(
        &data,
        &[
            "--token",
            super::TOKEN,
            "--fault-rate",
            rate,
            "--fault-seed",
            &seed,
            "--fault-kinds",
            kind,
            "--fault-delay-ms",
            "1500",
        ],
    );
    let t = target(&server, konnect);
    // One request at a time: the fault sequence is then the same on every run of the test.
    let mut sync_t = t.clone();
    sync_t.extend(["--parallelism".into(), "1".into()]);

    let mut total_faults = 0;
    for state in ["v1.yaml", "v2.yaml"] {
        let (faults, result, took) = faulted_sync(&server, dir.path(), state, &sync_t);
        total_faults += faults;
        let retries = result["retries"].as_u64().expect("result.retries") as usize;
        let requests = result["requests"].as_u64().expect("result.requests") as usize;
        assert_eq!(
            retries, faults,
            "{kind} at {rate}, {state}: the report counts {retries} retries, the server injected {faults} faults"
        );
        assert!(requests > retries, "{result}");
        eprintln!(
            "fault matrix: {kind} at {rate}, {state}: {requests} requests, {faults} faults, {retries} retries, {took:.1}s"
        );
        assert_eq!(result["counts"]["failed"], 0, "{result}");
        assert_eq!(result["counts"]["blocked"], 0, "{result}");
        if kind == "429" {
            // Every injected 429 says `Retry-After: 1`, and requests go one at a time.
            assert!(
                took >= faults as f64,
                "{faults} 429s with Retry-After: 1 took only {took:.2}s: Retry-After not honoured"
            );
        }
    }
    assert!(
        total_faults > 0,
        "{kind} at {rate} seed {seed}: no fault was injected, the case proves nothing"
    );

    // Converged: a diff through the same faults shows nothing to do.
    let (code, out, err) = run(
        dir.path(),
        &["diff", "-s", "v2.yaml", "--exit-code", "--timeout", "1"],
        &t,
    );
    assert_eq!(code, 0, "not converged:\n{out}\n{err}");

    let plugins = list(&server, "custom-plugins");
    let instances = list(&server, "plugins");
    check_families(prefix, FAMILIES, &plugins, &instances, kind);
    let mut names: Vec<&str> = plugins.iter().filter_map(|p| p["name"].as_str()).collect();
    names.sort_unstable();
    let want: Vec<String> = {
        let mut w: Vec<String> = (0..FAMILIES).map(|i| format!("{prefix}{i}-v2")).collect();
        w.sort();
        w
    };
    assert_eq!(names, want, "{kind} at {rate}");
    assert_eq!(
        instances.len(),
        FAMILIES,
        "duplicate instances: {instances:?}"
    );
    assert!(instances.iter().all(|p| p["config"]["mode"] == "b"));
    let rejected = rejected_payloads(&server);
    assert!(
        rejected.is_empty(),
        "{kind} at {rate}: the data plane rejected {rejected:?}"
    );
}

// Seeds of the 10% cases are chosen so at least two of the first twenty requests are faulted
// (requests go one at a time, so the sequence is the same on every run).
macro_rules! matrix {
    ($($name:ident: $kind:expr, $rate:expr, $seed:expr, $konnect:expr;)*) => {
        $(
            #[test]
            fn $name() {
                matrix_case($kind, $rate, $seed, $konnect);
            }
        )*
    };
}

matrix! {
    fault_429_seconds_at_10: "429", "0.1", 100, true;
    fault_429_seconds_at_30: "429", "0.3", 2, false;
    fault_429_http_date_at_10: "429-date", "0.1", 102, true;
    fault_429_http_date_at_30: "429-date", "0.3", 4, false;
    fault_500_at_10: "500", "0.1", 104, true;
    fault_500_at_30: "500", "0.3", 6, false;
    fault_502_at_10: "502", "0.1", 106, true;
    fault_502_at_30: "502", "0.3", 8, false;
    fault_503_at_10: "503", "0.1", 107, true;
    fault_503_at_30: "503", "0.3", 10, false;
    fault_504_at_10: "504", "0.1", 108, true;
    fault_504_at_30: "504", "0.3", 12, false;
    fault_dropped_connection_at_10: "drop", "0.1", 118, true;
    fault_dropped_connection_at_30: "drop", "0.3", 14, false;
    fault_slow_past_timeout_at_10: "slow", "0.1", 119, true;
    fault_slow_past_timeout_at_30: "slow", "0.3", 16, false;
}

/// The mix (every kind at once) at 30%, in the Konnect shape with parallel requests.
#[test]
fn fault_every_kind_mixed_at_30_with_parallel_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("v1.yaml"), family_state("mx", 6, 1, "mix")).unwrap();
    std::fs::write(dir.path().join("v2.yaml"), family_state("mx", 6, 2, "mix")).unwrap();
    let data = dir.path().join("cp.db").to_string_lossy().to_string();
    let server = Server::start(
        &data,
        &[
            "--token",
            super::TOKEN,
            "--fault-rate",
            "0.3",
            "--fault-seed",
            "77",
            "--fault-kinds",
            "429,429-date,500,502,503,504,drop,slow",
            "--fault-delay-ms",
            "1500",
        ],
    );
    let mut t = target(&server, true);
    t.extend(["--parallelism".into(), "4".into()]);
    for state in ["v1.yaml", "v2.yaml"] {
        let (faults, result, _) = faulted_sync(&server, dir.path(), state, &t);
        assert_eq!(result["retries"].as_u64().unwrap() as usize, faults);
    }
    let plugins = list(&server, "custom-plugins");
    let instances = list(&server, "plugins");
    check_families("mx", 6, &plugins, &instances, "mix");
    assert_eq!(plugins.len(), 6);
    assert_eq!(instances.len(), 6);
    assert!(rejected_payloads(&server).is_empty());
}
