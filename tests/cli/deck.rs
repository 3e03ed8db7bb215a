//! decK's own state files with custom plugins (`../shared/compat/deck/`) taken as they are:
//! each syncs into a fresh embedded control plane, a re-diff is clean, and a dump of what was
//! synced holds the same plugins, configs and tags.

use std::path::{Path, PathBuf};

use crate::{root, run_plugsync};

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    run_plugsync(dir, args, &[])
}

/// The decK corpus; the tests fail without it (CI always has `../shared` beside the repository).
pub fn corpus() -> PathBuf {
    let dir = root().join("../shared/compat/deck");
    assert!(
        dir.is_dir(),
        "{} is missing: these tests need the decK corpus, `shared/compat/deck/`, checked out beside the repository (as CI has it)",
        dir.display()
    );
    dir
}

/// Syncs `files` into a fresh local control plane and checks a re-diff is clean.
fn sync_clean(files: &[PathBuf]) -> tempfile::TempDir {
    let work = tempfile::tempdir().expect("tempdir");
    let db = work.path().join("local.db");
    let mut args: Vec<String> = Vec::new();
    for f in files {
        args.push("-s".into());
        args.push(f.to_string_lossy().to_string());
    }
    args.push("--local".into());
    args.push(db.to_string_lossy().to_string());
    let with = |cmd: &str, extra: &[&str]| -> Vec<String> {
        let mut v = vec![cmd.to_string()];
        v.extend(args.iter().cloned());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let sync = with("sync", &[]);
    let (code, out, err) = run(
        work.path(),
        &sync.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(code, 0, "{files:?}\n{out}\n{err}");
    let diff = with("diff", &["--exit-code"]);
    let (code, out, err) = run(
        work.path(),
        &diff.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(
        code, 0,
        "a re-diff of {files:?} is not clean:\n{out}\n{err}"
    );
    work
}

#[test]
fn every_deck_file_syncs_and_re_diffs_clean() {
    let dir = corpus();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .filter(|p| !p.to_string_lossy().contains("update-plugin-config"))
        .collect();
    files.sort();
    assert!(files.len() >= 7);
    for f in files {
        sync_clean(&[f]);
    }
    // Instances only (decK's partial apply): together with the file declaring their plugin.
    sync_clean(&[
        dir.join("apply--014-custom-plugin-definitions--update-cpd.yaml"),
        dir.join("apply--014-custom-plugin-definitions--update-plugin-config.yaml"),
    ]);
}

#[test]
fn a_dump_of_a_deck_sync_holds_the_same_plugins_configs_and_tags() {
    let dir = corpus();
    let source = dir.join("sync--055-custom-plugin-definitions--kong.yaml");
    let work = sync_clean(std::slice::from_ref(&source));
    let db = work.path().join("local.db").to_string_lossy().to_string();
    let (code, _, err) = run(work.path(), &["dump", "--dir", "dumped", "--local", &db]);
    assert_eq!(code, 0, "{err}");
    let dumped = std::fs::read_to_string(work.path().join("dumped/plugsync.yaml")).expect("dump");
    for want in [
        "name: set-header",
        "name: col-dbless",
        "value: hello-world",
        "name: X-Custom-Header",
        "- plugin-tag1",
        "- select-me",
        "- tag1",
        "- tag2",
    ] {
        assert!(dumped.contains(want), "the dump lacks `{want}`:\n{dumped}");
    }
    let handler =
        std::fs::read_to_string(work.path().join("dumped/plugins/set-header/handler.lua"))
            .expect("handler");
    assert!(handler.contains("kong.service.request.set_header(config.name, config.value)"));
    // The dump is a state that syncs as a no-op.
    let (code, out, err) = run(
        work.path(),
        &["diff", "-s", "dumped", "--local", &db, "--exit-code"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
}
