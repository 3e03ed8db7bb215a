use super::*;
use crate::model::Severity;
use std::fs;

fn env(name: &str) -> Option<String> {
    match name {
        "PLUGSYNC_GUARD_KEY" => Some("hunter2".to_string()),
        "DECK_WINDOW" => Some("60".to_string()),
        _ => None,
    }
}

fn load_paths(paths: &[PathBuf]) -> Loaded {
    load(paths, &WorkTree, &env)
}

fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    p
}

fn errors(l: &Loaded) -> Vec<String> {
    l.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}:{}: {}", d.span.line, d.span.column, d.message))
        .collect()
}

const HANDLER: &str = "return { PRIORITY = 10, VERSION = \"1.0.0\" }\n";
const SCHEMA: &str =
    "return { name = \"guard\", fields = { { config = { type = \"record\", fields = {} } } } }\n";

#[test]
fn loads_path_and_inline_plugins_with_instances() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "plugins/guard/handler.lua", HANDLER);
    write(dir.path(), "plugins/guard/schema.lua", SCHEMA);
    let state = write(
        dir.path(),
        "plugsync.yaml",
        r#"_format_version: "3.0"
_info:
  select_tags: [team-b, team-a]
_konnect:
  control_plane_name: prod
custom_plugins:
  - name: guard
    path: plugins/guard
    tags: [b, a, b]
    protected: true
  - name: add-header
    replaces: old-header
    handler: |
      return { PRIORITY = 1, VERSION = "1.0.0" }
    schema: 'return { name = "add-header", fields = {} }'
plugins:
  - name: guard
    service: payments
    instance_name: g1
    enabled: false
    protocols: [http]
    config:
      key: ${{ env "PLUGSYNC_GUARD_KEY" }}
      nested:
        list: [1, 2]
    tags: [x]
"#,
    );
    let l = load_paths(std::slice::from_ref(&state));
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
    let s = &l.state;
    assert_eq!(s.select_tags, vec!["team-a", "team-b"]);
    assert_eq!(s.konnect_control_plane_name.as_deref(), Some("prod"));
    assert_eq!(s.custom_plugins.len(), 2);
    let guard = &s.custom_plugins[0];
    assert_eq!(&*guard.handler.text, HANDLER);
    assert_eq!(&*guard.schema.text, SCHEMA);
    assert_eq!(guard.tags, vec!["a", "b"]);
    assert!(guard.protected);
    assert_eq!(guard.span.line, 7);
    let inline = &s.custom_plugins[1];
    assert_eq!(inline.replaces.as_deref(), Some("old-header"));
    // The block scalar's first Lua line is the line after `handler: |`.
    assert_eq!(inline.handler.origin.span(1, 1).line, 14);
    assert_eq!(inline.schema.origin.span(1, 1).line, 15);
    let p = &s.plugins[0];
    assert_eq!(p.scope.service.as_deref(), Some("payments"));
    assert_eq!(p.enabled, Some(false));
    assert_eq!(
        p.config.as_ref().unwrap()["key"],
        serde_json::json!("hunter2")
    );
    assert_eq!(
        p.config_template.as_ref().unwrap()["key"],
        serde_json::json!("${{ env \"PLUGSYNC_GUARD_KEY\" }}")
    );
    assert_eq!(s.secrets, vec!["hunter2"]);
    assert_eq!(p.span_of("config.nested.list.2").line, 25);
    assert_eq!(p.span_of("config.missing").line, 22);
    assert_eq!(s.mask("value hunter2"), "value [masked]");
}

#[test]
fn unknown_keys_report_line_column_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let state = write(
        dir.path(),
        "s.yaml",
        "custom_plugins:\n  - name: a\n    handlr: x\n    schema: y\nservices: []\n",
    );
    let l = load_paths(&[state]);
    let d: Vec<_> = l.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(d[0].span.line, 3);
    assert_eq!(d[0].span.column, 5);
    assert_eq!(d[0].message, "unknown key `handlr` in a custom plugin");
    assert_eq!(d[0].hint.as_deref(), Some("did you mean `handler`?"));
    assert!(d
        .iter()
        .any(|d| d.message.contains("unknown key `services`")
            && d.hint
                .as_deref()
                .unwrap_or("")
                .contains("separate decK file")));
}

#[test]
fn unset_env_variable_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = write(
        dir.path(),
        "s.yaml",
        "plugins:\n  - name: a\n    config:\n      k: ${{ env \"PLUGSYNC_NOPE\" }}\n",
    );
    let l = load_paths(&[state]);
    assert_eq!(
        errors(&l),
        vec!["4:10: environment variable PLUGSYNC_NOPE is not set"]
    );
}

#[test]
fn dotdot_escapes_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    write(outer.path(), "evil/handler.lua", HANDLER);
    write(outer.path(), "evil/schema.lua", SCHEMA);
    let repo = outer.path().join("repo");
    fs::create_dir_all(repo.join(".git")).unwrap();
    let state = write(
        &repo,
        "state/plugsync.yaml",
        "custom_plugins:\n  - name: guard\n    path: ../../evil\n",
    );
    let l = load_paths(&[state]);
    let errs = errors(&l);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("3:11: plugin path `../../evil` leads outside"),
        "{errs:?}"
    );
}

#[cfg(unix)]
#[test]
fn symlink_escapes_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    write(outer.path(), "secret/handler.lua", HANDLER);
    write(outer.path(), "secret/schema.lua", SCHEMA);
    let repo = outer.path().join("repo");
    fs::create_dir_all(repo.join(".git")).unwrap();
    // A directory symlink, and a file symlink inside an honest directory.
    std::os::unix::fs::symlink(outer.path().join("secret"), repo.join("linked")).unwrap();
    fs::create_dir_all(repo.join("honest")).unwrap();
    write(&repo, "honest/schema.lua", SCHEMA);
    std::os::unix::fs::symlink(
        outer.path().join("secret/handler.lua"),
        repo.join("honest/handler.lua"),
    )
    .unwrap();
    let state = write(
        &repo,
        "plugsync.yaml",
        "custom_plugins:\n  - name: a\n    path: linked\n  - name: b\n    path: honest\n",
    );
    let l = load_paths(&[state]);
    let errs = errors(&l);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].contains("`linked` leads outside"), "{errs:?}");
    assert!(
        errs[1].contains("`honest/handler.lua` is a link that leads outside"),
        "{errs:?}"
    );
}

#[test]
fn directories_merge_and_duplicates_name_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let inline = "    handler: 'return {}'\n    schema: 'return {}'\n";
    write(
        dir.path(),
        "state/a.yaml",
        &format!("custom_plugins:\n  - name: one\n{inline}  - name: two\n{inline}"),
    );
    write(
        dir.path(),
        "state/b.yml",
        &format!("custom_plugins:\n  - name: two\n{inline}"),
    );
    write(dir.path(), "state/notes.txt", "ignored");
    let l = load_paths(&[dir.path().join("state")]);
    assert_eq!(l.state.files.len(), 2);
    let dups: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| d.rule == RULE_DUPLICATE)
        .collect();
    assert_eq!(dups.len(), 1);
    assert!(dups[0].span.file.ends_with("b.yml"));
    assert!(
        dups[0].message.contains("a.yaml:5:5"),
        "{}",
        dups[0].message
    );
}

#[test]
fn duplicate_instances_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let state = write(
        dir.path(),
        "s.yaml",
        "plugins:\n  - name: a\n    service: s\n  - name: a\n    service: s\n  - name: a\n    instance_name: x\n  - name: b\n    instance_name: x\n",
    );
    let l = load_paths(&[state]);
    let dups: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| d.rule == RULE_DUPLICATE)
        .map(|d| (d.span.line, d.message.clone()))
        .collect();
    assert_eq!(dups.len(), 2, "{dups:?}");
    assert_eq!(dups[0].0, 4);
    assert_eq!(dups[1].0, 8);
}

#[test]
fn bad_values_are_reported_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "_format_version: \"1.1\"\n",
            "1:18: _format_version must be \"3.0\"",
        ),
        (
            "custom_plugins: {}\n",
            "1:17: `custom_plugins` must be a list",
        ),
        (
            "plugins:\n  - name: a\n    enabled: yes\n",
            "3:14: `enabled` must be true or false",
        ),
        (
            "plugins:\n  - config: {}\n",
            "2:5: a plugin instance needs a `name`",
        ),
        (
            "custom_plugins:\n  - name: a\n    handler: x\n",
            "2:5: custom plugin `a` needs `schema`",
        ),
        ("- a\n- b\n", "1:1: a state file is a mapping"),
        ("a: [\n", "invalid YAML"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let state = write(dir.path(), &format!("c{i}.yaml"), text);
        let l = load_paths(&[state]);
        let errs = errors(&l);
        assert!(errs.iter().any(|e| e.contains(want)), "{text:?}: {errs:?}");
    }
}

#[test]
fn invalid_utf8_and_nul_bytes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    fs::write(&bad, b"plugins:\n  - name: \xff\xfe\n").unwrap();
    let nul = dir.path().join("nul.yaml");
    fs::write(&nul, b"plugins: []\n\0").unwrap();
    let l = load_paths(&[bad, nul]);
    let errs = errors(&l);
    assert_eq!(
        errs[0],
        "2:11: the file is not valid UTF-8 (byte 20 is not)"
    );
    assert_eq!(errs[1], "2:1: the file holds a NUL byte");
}

#[test]
fn missing_files_are_errors() {
    let l = load_paths(&[PathBuf::from("/nonexistent/plugsync.yaml")]);
    assert_eq!(errors(&l), vec!["1:1: state file not found"]);
}

#[test]
fn deck_compat_corpus_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/compat/deck");
    if !dir.exists() {
        return;
    }
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let l = load_paths(std::slice::from_ref(&path));
        assert!(
            errors(&l).is_empty(),
            "{}: {:?}",
            path.display(),
            errors(&l)
        );
    }
    let l = load_paths(&[
        dir.join("dump--014-custom-plugin-definitions--expected-select-me-konnect.yaml")
    ]);
    assert_eq!(l.state.select_tags, vec!["select-me"]);
    assert_eq!(
        l.state.konnect_control_plane_name.as_deref(),
        Some("default")
    );
    assert!(l.diagnostics.iter().all(|d| d.severity != Severity::Error));
}

#[test]
fn tidy_removes_dot_segments() {
    assert_eq!(tidy(Path::new("a/b/../../c/./d")), PathBuf::from("c/d"));
    assert_eq!(tidy(Path::new("../x/../y")), PathBuf::from("../y"));
    assert_eq!(tidy(Path::new("/r/a/../b")), PathBuf::from("/r/b"));
}

/// One state file of `n` instances as a decK dump writes them: no aliases, W1's shape (a
/// config of several fields, a service, tags) — over the old guard's million nodes at 50,000.
fn large_state(dir: &Path, n: usize) -> PathBuf {
    let mut y = String::with_capacity(n * 160);
    y.push_str("_format_version: \"3.0\"\ncustom_plugins:\n  - name: guard\n");
    y.push_str("    handler: 'return { PRIORITY = 10, VERSION = \"1.0.0\" }'\n");
    y.push_str("    schema: 'return { name = \"guard\", fields = { { config = { type = \"record\", fields = {} } } } }'\n");
    y.push_str("plugins:\n");
    for i in 0..n {
        y.push_str(&format!(
            "  - name: guard\n    instance_name: guard-{i:05}\n    service: svc-{i:05}\n    config: {{\"limit\": {i}, \"window\": 60, \"mode\": \"local\", \"paths\": [\"/a\", \"/b\"]}}\n    tags: [team-a, w1]\n"
        ));
    }
    write(dir, "plugsync.yaml", &y)
}

fn loads_large_state(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = large_state(dir.path(), n);
    let loaded = load_paths(&[path]);
    assert_eq!(errors(&loaded), Vec::<String>::new());
    assert_eq!(loaded.state.plugins.len(), n);
}

/// A large organisation's dump in one file: about a million YAML nodes, which the old guard
/// refused. About 4 s in a debug build on a busy 2-core machine.
#[test]
fn a_state_file_of_50000_instances_loads() {
    loads_large_state(50_000);
}

#[test]
fn an_alias_bomb_in_a_state_file_is_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut y =
        String::from("_format_version: \"3.0\"\n_info:\n  a: &a [x, x, x, x, x, x, x, x, x]\n");
    let mut prev = 'a';
    for name in ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] {
        y.push_str(&format!(
            "  {name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = name;
    }
    let path = write(dir.path(), "plugsync.yaml", &y);
    let errs = errors(&load_paths(&[path]));
    assert!(errs.iter().any(|e| e.contains("alias bomb")), "{errs:?}");
}
