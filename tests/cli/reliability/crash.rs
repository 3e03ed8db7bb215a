//! Crashes: `kill -9` of plugsync at 20 points of a 200-plugin migration (embedded store),
//! and `kill -9` of `plugsync serve` in the middle of a sync.
//!
//! After every kill the control plane must hold no instance that references a missing plugin
//! and no old version deleted before its instance moved; a re-run must converge; and after a
//! server crash every write the server acknowledged must still be there.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use plugsync::controlplane::{ControlPlanes, Kind, ListQuery};
use serde_json::Value;

use super::{check_families, family_state, list, rejected_payloads, run, target};
use crate::Server;

/// Families in the crash state: 200 custom plugins and 200 instances, migrated to 200 new
/// versions (600 steps).
const FAMILIES: usize = 200;
/// Kill points.
const KILLS: usize = 20;

/// Every entity of `kind` in the store at `db`, read after plugsync died.
fn read_store(db: &Path, kind: Kind) -> Vec<Value> {
    let store = ControlPlanes::open(&db.to_string_lossy()).expect("open the store");
    let cp = store.default_id();
    let mut out = Vec::new();
    let mut offset = None;
    loop {
        let page = store
            .list(
                &cp,
                kind,
                &ListQuery {
                    size: 1000,
                    offset: offset.clone(),
                    ..ListQuery::default()
                },
            )
            .expect("list");
        out.extend(page.data);
        match page.offset {
            Some(o) => offset = Some(o),
            None => return out,
        }
    }
}

fn dp_rejections(db: &Path) -> Vec<Value> {
    let store = ControlPlanes::open(&db.to_string_lossy()).expect("open the store");
    let cp = store.default_id();
    store
        .dp_log(&cp)
        .expect("dp log")
        .into_iter()
        .filter(|e| e["accepted"] != true)
        .collect()
}

/// Starts `plugsync ARGS` in `dir` with its stderr lines sent to the returned channel.
fn spawn(dir: &Path, args: &[&str], extra: &[String]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugsync"))
        .current_dir(dir)
        .args(args)
        .args(extra)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start plugsync");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The step number of a progress line `[N/TOTAL] …`.
fn step_number(line: &str) -> Option<usize> {
    line.strip_prefix('[')?.split('/').next()?.parse().ok()
}

/// Copies a SQLite store (with its WAL files, if any).
fn copy_store(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let src = Path::new(&format!("{}{suffix}", from.display())).to_path_buf();
        if src.exists() {
            std::fs::copy(&src, format!("{}{suffix}", to.display())).expect("copy store");
        }
    }
}

#[test]
fn kill_9_of_plugsync_at_20_points_of_a_200_plugin_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("v1.yaml"), family_state("c", FAMILIES, 1, "crash")).unwrap();
    std::fs::write(d.join("v2.yaml"), family_state("c", FAMILIES, 2, "crash")).unwrap();
    let base = d.join("base.db");
    let par: Vec<String> = vec!["--parallelism".into(), "8".into(), "-q".into()];
    let (code, _, err) = run(
        d,
        &["sync", "-s", "v1.yaml", "--local", &base.to_string_lossy()],
        &par,
    );
    assert_eq!(code, 0, "{err}");

    let total = 3 * FAMILIES;
    let mut killed_at = Vec::new();
    for k in 0..KILLS {
        // Spread over the run: in stage 1 (creates), 2 (migrations) and 4 (deletes).
        let point = 1 + k * (total - 60) / KILLS;
        let db = d.join(format!("run{k}.db"));
        copy_store(&base, &db);
        let local = ["--local".to_string(), db.to_string_lossy().to_string()];
        let (mut child, lines) = spawn(d, &["sync", "-s", "v2.yaml", "--parallelism", "8"], &local);
        let mut seen = 0;
        while let Ok(line) = lines.recv_timeout(Duration::from_secs(60)) {
            if let Some(n) = step_number(&line) {
                seen = n;
                if n >= point {
                    break;
                }
            }
        }
        child.kill().expect("kill -9 plugsync");
        let status = child.wait().expect("wait");
        assert!(
            !status.success(),
            "plugsync finished before kill point {point}"
        );
        killed_at.push(seen);
        eprintln!("crash: killed plugsync -9 after step {seen}/{total}");

        let context = format!("after kill -9 at step {seen}/{total}");
        let plugins = read_store(&db, Kind::CustomPlugin);
        let instances = read_store(&db, Kind::Plugin);
        check_families("c", FAMILIES, &plugins, &instances, &context);
        assert!(
            dp_rejections(&db).is_empty(),
            "{context}: the data plane rejected a payload"
        );

        // A re-run converges.
        let (code, _, err) = run(
            d,
            &["sync", "-s", "v2.yaml"],
            &[&local[..], &par[..]].concat(),
        );
        assert_eq!(code, 0, "{context}: the re-run failed:\n{err}");
        if k % 5 == 0 {
            // (The store checks below prove convergence too; a diff every fifth time is enough.)
            let (code, out, err) = run(d, &["diff", "-s", "v2.yaml", "--exit-code"], &local);
            assert_eq!(code, 0, "{context}: not converged:\n{out}\n{err}");
        }
        let plugins = read_store(&db, Kind::CustomPlugin);
        let instances = read_store(&db, Kind::Plugin);
        check_families("c", FAMILIES, &plugins, &instances, &context);
        assert_eq!(plugins.len(), FAMILIES, "{context}");
        assert!(
            instances.iter().all(|p| p["config"]["mode"] == "b"),
            "{context}"
        );
        assert!(dp_rejections(&db).is_empty(), "{context}");
        let _ = std::fs::remove_file(&db);
    }
    killed_at.dedup();
    assert_eq!(
        killed_at.len(),
        KILLS,
        "kill points not distinct: {killed_at:?}"
    );
}

#[test]
fn kill_9_of_the_server_mid_sync_loses_no_acknowledged_write() {
    const N: usize = 60;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("v1.yaml"), family_state("s", N, 1, "srv")).unwrap();
    std::fs::write(d.join("v2.yaml"), family_state("s", N, 2, "srv")).unwrap();
    let data = d.join("cp.db").to_string_lossy().to_string();

    let server = Server::start(&data, &["--token", super::TOKEN]);
    let t = target(&server, false);
    let (code, _, err) = run(d, &["sync", "-s", "v1.yaml", "-q"], &t);
    assert_eq!(code, 0, "{err}");

    // Kill the server a third of the way into the migration, then the client.
    let (mut client, lines) = spawn(d, &["sync", "-s", "v2.yaml", "--parallelism", "4"], &t);
    let mut acknowledged = Vec::new();
    let mut server = Some(server);
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(60)) {
        if line.ends_with(": done") {
            acknowledged.push(line.clone());
        }
        if step_number(&line).is_some_and(|n| n >= N) {
            if let Some(mut s) = server.take() {
                s.child.kill().expect("kill -9 serve");
                let _ = s.child.wait();
            }
            break;
        }
    }
    assert!(server.is_none(), "the sync ended before the kill point");
    thread::sleep(Duration::from_millis(200));
    let _ = client.kill();
    let _ = client.wait();
    // Lines the client printed before it died are acknowledged writes too.
    while let Ok(line) = lines.try_recv() {
        if line.ends_with(": done") {
            acknowledged.push(line);
        }
    }
    assert!(acknowledged.len() >= N / 2, "{acknowledged:?}");

    let server = Server::start(&data, &["--token", super::TOKEN]);
    let plugins = list(&server, "custom-plugins");
    let instances = list(&server, "plugins");
    check_families("s", N, &plugins, &instances, "after the server crash");
    let has_plugin = |name: &str| plugins.iter().any(|p| p["name"] == name);
    for line in &acknowledged {
        // `[n/total] stage S ACTION KIND NAME ID: done`
        let words: Vec<&str> = line.trim_end_matches(": done").split(' ').collect();
        let (action, kind, name) = (words[3], words[4], words[5]);
        let id = words.get(6).copied();
        match (action, kind) {
            ("create", "custom_plugin") => {
                assert!(has_plugin(name), "acknowledged create lost: {line}")
            }
            ("delete", "custom_plugin") => {
                assert!(!has_plugin(name), "acknowledged delete lost: {line}")
            }
            ("migrate", "plugin") => {
                let inst = instances
                    .iter()
                    .find(|p| Some(p["id"].as_str().unwrap_or_default()) == id)
                    .unwrap_or_else(|| panic!("migrated instance missing: {line}"));
                assert_eq!(inst["name"], name, "acknowledged migration lost: {line}");
            }
            _ => {}
        }
    }

    let t = target(&server, false);
    let (code, _, err) = run(d, &["sync", "-s", "v2.yaml", "-q"], &t);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(d, &["diff", "-s", "v2.yaml", "--exit-code"], &t);
    assert_eq!(code, 0, "{out}\n{err}");
    let plugins = list(&server, "custom-plugins");
    let instances = list(&server, "plugins");
    check_families("s", N, &plugins, &instances, "after the re-run");
    assert_eq!(plugins.len(), N);
    assert!(rejected_payloads(&server).is_empty());
}
