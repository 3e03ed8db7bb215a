//! Two plugsync runs against one control plane at once.

use std::path::Path;
use std::process::{Command, Output};
use std::thread;

use super::{check_families, family_state, list, rejected_payloads, run, target};
use crate::Server;

/// Runs plugsync in a thread (so two can run at once).
fn spawn(dir: &Path, args: Vec<String>) -> thread::JoinHandle<Output> {
    let dir = dir.to_path_buf();
    thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_plugsync"))
            .current_dir(dir)
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("run plugsync")
    })
}

fn args(list: &[&str], t: &[String]) -> Vec<String> {
    list.iter()
        .map(|s| s.to_string())
        .chain(t.iter().cloned())
        .collect()
}

fn of(items: &[serde_json::Value], prefix: &str) -> Vec<serde_json::Value> {
    items
        .iter()
        .filter(|p| {
            p["name"].as_str().is_some_and(|n| {
                n.starts_with(prefix) && n[prefix.len()..].starts_with(|c: char| c.is_ascii_digit())
            })
        })
        .cloned()
        .collect()
}

#[test]
fn syncs_of_different_select_tags_at_once_do_not_interfere() {
    const N: usize = 25;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for (p, tag) in [("ta", "team-a"), ("tb", "team-b")] {
        std::fs::write(d.join(format!("{p}1.yaml")), family_state(p, N, 1, tag)).unwrap();
        std::fs::write(d.join(format!("{p}2.yaml")), family_state(p, N, 2, tag)).unwrap();
    }
    let server = Server::start(
        &d.join("cp.db").to_string_lossy(),
        &["--token", super::TOKEN],
    );
    let t = target(&server, true);
    for round in ["1", "2"] {
        let a = spawn(
            d,
            args(&["sync", "-s", &format!("ta{round}.yaml"), "-q"], &t),
        );
        let b = spawn(
            d,
            args(&["sync", "-s", &format!("tb{round}.yaml"), "-q"], &t),
        );
        for (who, out) in [("a", a.join().unwrap()), ("b", b.join().unwrap())] {
            assert!(
                out.status.success(),
                "round {round}, team {who}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let plugins = list(&server, "custom-plugins");
    let instances = list(&server, "plugins");
    assert_eq!(plugins.len(), 2 * N);
    assert_eq!(instances.len(), 2 * N);
    for p in ["ta", "tb"] {
        check_families(p, N, &of(&plugins, p), &of(&instances, p), p);
        let (code, out, err) = run(d, &["diff", "-s", &format!("{p}2.yaml"), "--exit-code"], &t);
        assert_eq!(code, 0, "{out}\n{err}");
    }
    assert!(rejected_payloads(&server).is_empty());
}

#[test]
fn syncs_of_the_same_tags_at_once_end_consistent() {
    const N: usize = 25;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("v1.yaml"), family_state("sm", N, 1, "same")).unwrap();
    std::fs::write(d.join("v2.yaml"), family_state("sm", N, 2, "same")).unwrap();
    let server = Server::start(
        &d.join("cp.db").to_string_lossy(),
        &["--token", super::TOKEN],
    );
    let t = target(&server, false);
    for state in ["v1.yaml", "v2.yaml"] {
        let a = spawn(d, args(&["sync", "-s", state, "-q"], &t));
        let b = spawn(d, args(&["sync", "-s", state, "-q"], &t));
        for out in [a.join().unwrap(), b.join().unwrap()] {
            // The loser of a race may fail a step (the other run created the entity under its
            // own id first); it must say so and exit 1, never crash or exit otherwise.
            let code = out.status.code();
            assert!(
                matches!(code, Some(0 | 1)),
                "{state}: exit {code:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let plugins = list(&server, "custom-plugins");
        let instances = list(&server, "plugins");
        check_families("sm", N, &plugins, &instances, state);
        // The next run sees both runs' work and finishes the job.
        let (code, _, err) = run(d, &["sync", "-s", state, "-q"], &t);
        assert_eq!(code, 0, "{state}: {err}");
        let (code, out, err) = run(d, &["diff", "-s", state, "--exit-code"], &t);
        assert_eq!(code, 0, "{state}: {out}\n{err}");
        // A second run after the first sees its work: nothing to do.
        let (code, _, err) = run(d, &["sync", "-s", state], &t);
        assert_eq!(code, 0, "{err}");
        assert!(
            err.contains("created 0, updated 0, migrated 0, deleted 0, failed 0, blocked 0"),
            "{err}"
        );
    }
    let plugins = list(&server, "custom-plugins");
    assert_eq!(plugins.len(), N);
    assert_eq!(list(&server, "plugins").len(), N);
    assert!(rejected_payloads(&server).is_empty());
}

#[test]
fn apply_of_a_plan_made_before_another_run_exits_3() {
    const N: usize = 5;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("v1.yaml"), family_state("st", N, 1, "stale")).unwrap();
    std::fs::write(d.join("v2.yaml"), family_state("st", N, 2, "stale")).unwrap();
    std::fs::write(d.join("other.yaml"), family_state("ot", N, 1, "other")).unwrap();
    let server = Server::start(
        &d.join("cp.db").to_string_lossy(),
        &["--token", super::TOKEN],
    );
    let t = target(&server, true);
    assert_eq!(run(d, &["sync", "-s", "v1.yaml", "-q"], &t).0, 0);

    // A plan, then a run of other select tags: the plan's scope did not change, it applies.
    assert_eq!(
        run(d, &["plan", "-s", "v2.yaml", "--out", "p.json"], &t).0,
        0
    );
    assert_eq!(run(d, &["sync", "-s", "other.yaml", "-q"], &t).0, 0);
    let (code, _, err) = run(d, &["apply", "p.json"], &t);
    assert_eq!(code, 0, "a run of other tags made the plan stale: {err}");

    // A plan, then a run of the same tags that changes its scope: stale, exit 3, no write.
    let v2 = family_state("st", N, 2, "stale");
    std::fs::write(d.join("mine.yaml"), v2.replace("\"v1\"", "\"mine\"")).unwrap();
    std::fs::write(d.join("theirs.yaml"), v2.replace("\"v0\"", "\"theirs\"")).unwrap();
    let (code, _, err) = run(d, &["plan", "-s", "mine.yaml", "--out", "stale.json"], &t);
    assert_eq!(code, 0, "{err}");
    assert_eq!(run(d, &["sync", "-s", "theirs.yaml", "-q"], &t).0, 0);
    let before = (list(&server, "custom-plugins"), list(&server, "plugins"));
    let (code, _, err) = run(d, &["apply", "stale.json"], &t);
    assert_eq!(code, 3, "{err}");
    assert_eq!(
        (list(&server, "custom-plugins"), list(&server, "plugins")),
        before,
        "a refused apply wrote something"
    );
}

/// Two processes on one store: the second is refused with the PID of the first, instead of
/// writing from a stale view (`UNIQUE constraint failed` on every write until a restart).
#[test]
fn a_store_in_use_is_refused_naming_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("cp.db").to_string_lossy().to_string();
    std::fs::write(d.join("plugsync.yaml"), family_state("lk", 1, 1, "lock")).unwrap();
    let server = Server::start(&db, &[]);
    let pid = server.child.id();
    let (code, _, err) = run(d, &["sync", "--local", &db], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("in use by PID {pid}")), "{err}");
    let second = Command::new(env!("CARGO_BIN_EXE_plugsync"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data", &db])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("in use by PID {pid}")), "{err}");
    server.stop();
    // Once the server is gone, the store is free again.
    let (code, _, err) = run(d, &["sync", "--local", &db], &[]);
    assert_eq!(code, 0, "{err}");
}
