//! The layering of `src/` (src/lib.rs's module map, CONTRIBUTING.md), checked on the source: no
//! cycle between the crate's top-level modules, the pure core imports no Lua and no I/O layer,
//! and only the CLI reaches the operations layer. Test code (`tests.rs`, `*_tests.rs`,
//! `testkit.rs`, a trailing `#[cfg(test)] mod tests { … }`) and comments do not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::root;

/// Top-level module → the top-level modules its non-test code names as `crate::NAME`.
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("src");
    let modules: BTreeSet<String> = std::fs::read_dir(&src)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|n| n != "lib" && n != "main")
        .collect();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.ends_with(".rs")
                || name == "tests.rs"
                || name.ends_with("_tests.rs")
                || name == "testkit.rs"
            {
                continue;
            }
            let rel = path.strip_prefix(&src).expect("under src");
            let first = rel.components().next().expect("a component");
            let module = Path::new(first.as_os_str())
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let text = match text.find("#[cfg(test)]\nmod tests {") {
                Some(i) => &text[..i],
                None => &text[..],
            };
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                let mut rest = line;
                while let Some(i) = rest.find("crate::") {
                    rest = &rest[i + "crate::".len()..];
                    let used: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if used != module && modules.contains(&used) {
                        out.entry(module.clone()).or_default().insert(used);
                    }
                }
            }
        }
    }
    out
}

fn reaches(edges: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(m) = stack.pop() {
        for next in edges.get(&m).into_iter().flatten() {
            if next == to {
                return true;
            }
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    false
}

#[test]
fn no_cycle_between_top_level_modules() {
    let edges = edges();
    assert!(
        edges.contains_key("cli") && edges.contains_key("ops"),
        "{edges:?}"
    );
    let cycles: Vec<String> = edges
        .iter()
        .flat_map(|(from, tos)| tos.iter().map(move |to| (from, to)))
        .filter(|(from, to)| reaches(&edges, to, from))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(cycles.is_empty(), "edges on a cycle: {cycles:?}");
}

#[test]
fn the_pure_core_imports_no_lua_and_only_the_cli_reaches_ops() {
    let edges = edges();
    for core in ["model", "schema", "diff", "plan", "render"] {
        for edge in ["lua", "ops", "cli", "backend", "controlplane", "server"] {
            if core == "plan" && edge == "backend" {
                // `plan::rollout` reads the nodes' plugin lists (`backend::NodePlugins`).
                continue;
            }
            assert!(
                !edges.get(core).is_some_and(|e| e.contains(edge)),
                "{core} imports {edge}"
            );
        }
    }
    for (from, tos) in &edges {
        assert!(!tos.contains("ops") || from == "cli", "{from} imports ops");
        assert!(!tos.contains("cli"), "{from} imports cli");
    }
}
