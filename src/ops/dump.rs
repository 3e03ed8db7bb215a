//! Dump: the live custom plugins and instances in scope as a state file plus one directory
//! per plugin. Configs leave out what the schema fills in, so a sync of the dump is a no-op.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter};

use crate::backend::Backend;
use crate::error::CommandError;
use crate::lua::SchemaCache;
use crate::model::{LiveState, ScopeKind};
use crate::ops::Progress;
use crate::schema::{Field, FieldType, PluginSchema};

/// What a dump read and the files it makes.
pub struct Dump {
    /// `plugsync.yaml` first, then each plugin's Lua, relative to the dump's directory.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// Custom plugins and instances dumped.
    pub custom_plugins: usize,
    pub instances: usize,
}

/// Reads the live state in scope of `select_tags` and renders it as files (nothing written).
pub fn dump(
    backend: &dyn Backend,
    select_tags: &[String],
    secrets: &[String],
    progress: &dyn Progress,
) -> Result<Dump, CommandError> {
    let mut tags = select_tags.to_vec();
    tags.sort();
    tags.dedup();
    let fetched = crate::ops::plan::fetch(backend, &tags, None, secrets)?;
    let files = render(&fetched.live, &tags, &SchemaCache::new()).map_err(|e| {
        CommandError::new(e)
            .with_hint("nothing was written; rename the plugins on the control plane")
    })?;
    for c in fetched.live.custom_plugins.iter().filter(|c| !c.streamed) {
        progress.warn(&format!(
            "`{}` is a hybrid-mode plugin: its handler.lua is a placeholder (the control plane holds only the schema); copy the data planes' handler in before `plugsync bundle`",
            c.name
        ));
    }
    Ok(Dump {
        files,
        custom_plugins: fetched.live.custom_plugins.len(),
        instances: fetched.live.plugins.len(),
    })
}

/// Writes a dump's files into `dir`; without `force`, refuses (before writing anything) when
/// one of them exists.
pub fn write(dir: &Path, files: &[(PathBuf, Vec<u8>)], force: bool) -> Result<(), CommandError> {
    if !force {
        for (path, _) in files {
            let p = dir.join(path);
            if p.exists() {
                return Err(CommandError::new(format!("{} already exists", p.display()))
                    .with_hint("pass --force to overwrite, or dump into an empty directory"));
            }
        }
    }
    for (path, bytes) in files {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| CommandError::io("create", parent, e))?;
        }
        std::fs::write(&p, bytes).map_err(|e| CommandError::io("write", &p, e))?;
    }
    Ok(())
}

fn y(s: &str) -> Yaml {
    Yaml::String(s.to_string())
}

fn to_yaml(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Yaml::Integer(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Yaml::Integer(f as i64),
            (None, Some(f)) => Yaml::Real(f.to_string()),
            _ => Yaml::Null,
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(a) => Yaml::Array(a.iter().map(to_yaml).collect()),
        Value::Object(m) => {
            let mut h = Hash::new();
            for (k, v) in m {
                h.insert(y(k), to_yaml(v));
            }
            Yaml::Hash(h)
        }
    }
}

/// The config without what the schema would fill in: fields equal to their default, unset
/// (null) optional fields, and records that become empty.
pub fn strip_defaults(field: &Field, value: &Value) -> Option<Value> {
    match (field.ty, value) {
        (_, Value::Null) if !field.is_required() || field.default.is_none() => None,
        (FieldType::Record, Value::Object(map)) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                match field.field(k) {
                    Some(sub) => {
                        if let Some(s) = strip_defaults(sub, v) {
                            out.insert(k.clone(), s);
                        }
                    }
                    None => {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            if out.is_empty() && field.default.is_none() {
                None
            } else {
                Some(Value::Object(out))
            }
        }
        (_, v) if field.default.as_ref() == Some(v) => None,
        (_, v) => Some(v.clone()),
    }
}

/// The files of a dump: `plugsync.yaml` and each plugin's Lua, byte for byte. Every plugin
/// gets a directory of its own; when that cannot be (two names that would share one, on a
/// file system that ignores case too), the dump is refused before anything is written.
pub fn render(
    live: &LiveState,
    select_tags: &[String],
    schemas: &SchemaCache,
) -> Result<Vec<(PathBuf, Vec<u8>)>, String> {
    let mut files = Vec::new();
    let mut taken: std::collections::BTreeMap<String, &str> = Default::default();
    for c in &live.custom_plugins {
        let dir = safe_dir_name(&c.name);
        if let Some(other) = taken.insert(dir.to_lowercase(), &c.name) {
            return Err(format!(
                "custom plugins `{}` and `{}` would both be dumped to plugins/{dir}",
                crate::backend::http::clean_text(other, 120),
                crate::backend::http::clean_text(&c.name, 120)
            ));
        }
    }
    let schemas: std::collections::BTreeMap<&str, std::sync::Arc<PluginSchema>> = live
        .custom_plugins
        .iter()
        .filter_map(|c| Some((c.name.as_str(), schemas.evaluate(&c.schema).ok()?)))
        .collect();
    let strip_select = |tags: &[String]| -> Vec<String> {
        tags.iter()
            .filter(|t| !select_tags.contains(t))
            .cloned()
            .collect()
    };
    let mut root = Hash::new();
    root.insert(y("_format_version"), y("3.0"));
    if !select_tags.is_empty() {
        let mut info = Hash::new();
        info.insert(
            y("select_tags"),
            Yaml::Array(select_tags.iter().map(|t| y(t)).collect()),
        );
        root.insert(y("_info"), Yaml::Hash(info));
    }
    let mut cps = Vec::new();
    let mut names: Vec<&str> = live
        .custom_plugins
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    names.sort();
    for name in names {
        let Some(c) = live.custom_plugin(name) else {
            continue;
        };
        let dir = Path::new("plugins").join(safe_dir_name(&c.name));
        let handler = if c.streamed {
            c.handler.clone()
        } else {
            hybrid_handler_placeholder(&c.name)
        };
        files.push((dir.join("handler.lua"), handler.into_bytes()));
        files.push((dir.join("schema.lua"), c.schema.clone().into_bytes()));
        let mut h = Hash::new();
        h.insert(y("name"), y(&c.name));
        h.insert(y("path"), y(&dir.to_string_lossy()));
        if !c.streamed {
            h.insert(y("streamed"), Yaml::Boolean(false));
        }
        let tags = strip_select(&c.tags);
        if !tags.is_empty() {
            h.insert(y("tags"), Yaml::Array(tags.iter().map(|t| y(t)).collect()));
        }
        cps.push(Yaml::Hash(h));
    }
    root.insert(y("custom_plugins"), Yaml::Array(cps));
    let mut plugins: Vec<_> = live.plugins.iter().collect();
    plugins.sort_by(|a, b| {
        (&a.name, &a.instance_name, &a.id).cmp(&(&b.name, &b.instance_name, &b.id))
    });
    let mut items = Vec::new();
    for p in plugins {
        let schema: Option<&PluginSchema> = schemas.get(p.name.as_str()).map(|s| &**s);
        let mut h = Hash::new();
        h.insert(y("name"), y(&p.name));
        if let Some(n) = &p.instance_name {
            h.insert(y("instance_name"), y(n));
        }
        for kind in ScopeKind::ALL {
            if let Some(id) = p.scope.get(kind) {
                h.insert(y(kind.key()), y(&live.display(kind, id)));
            }
        }
        if !p.enabled {
            h.insert(y("enabled"), Yaml::Boolean(false));
        }
        let default_protocols: BTreeSet<String> = schema
            .map(crate::schema::validate::default_protocols)
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let protocols: BTreeSet<String> = p.protocols.iter().cloned().collect();
        if protocols != default_protocols {
            h.insert(
                y("protocols"),
                Yaml::Array(p.protocols.iter().map(|t| y(t)).collect()),
            );
        }
        if let Some(c) = &p.condition {
            h.insert(y("condition"), y(c));
        }
        if let Some(o) = &p.ordering {
            h.insert(y("ordering"), to_yaml(o));
        }
        let live_config = p.config.value();
        let config = match schema.and_then(PluginSchema::config) {
            Some(f) => strip_defaults(f, &live_config),
            None => Some(live_config),
        };
        if let Some(c) = config.filter(|c| c.as_object().is_none_or(|m| !m.is_empty())) {
            h.insert(y("config"), to_yaml(&c));
        }
        let tags = strip_select(&p.tags);
        if !tags.is_empty() {
            h.insert(y("tags"), Yaml::Array(tags.iter().map(|t| y(t)).collect()));
        }
        items.push(Yaml::Hash(h));
    }
    root.insert(y("plugins"), Yaml::Array(items));
    let mut text = String::new();
    {
        let mut emitter = YamlEmitter::new(&mut text);
        emitter.multiline_strings(true);
        let _ = emitter.dump(&Yaml::Hash(root));
    }
    let text = text.trim_start_matches("---\n").to_string() + "\n";
    files.insert(0, (PathBuf::from("plugsync.yaml"), text.into_bytes()));
    Ok(files)
}

/// The `handler.lua` a dump writes for a hybrid-mode plugin: the control plane holds only its
/// schema, so the handler the data planes run must be copied in by hand before a `bundle`.
pub fn hybrid_handler_placeholder(name: &str) -> String {
    format!(
        "-- plugsync dump: `{name}` is a hybrid-mode plugin; the control plane holds only its schema.\n\
         -- Replace this file with the handler.lua its data planes run before `plugsync bundle`.\n\
         return {{ PRIORITY = 1000, VERSION = \"0.0.0\" }}\n"
    )
}

/// A directory name for a plugin: its name when it is a plain, short file name; otherwise
/// the name with every other character replaced, cut to 64 bytes, and a short hash of the
/// whole name, so names that differ only in replaced characters or past the cut stay apart.
fn safe_dir_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if plain {
        return name.to_string();
    }
    let base: String = name
        .bytes()
        .take(64)
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                b as char
            } else {
                '_'
            }
        })
        .collect();
    let hash = crate::model::hash::sha256_hex(name.as_bytes());
    format!("{base}-{}", &hash[..12])
}

#[cfg(test)]
mod tests {
    use super::safe_dir_name;

    #[test]
    fn every_name_gets_a_directory_of_its_own() {
        assert_eq!(safe_dir_name("rate-guard_v2.1"), "rate-guard_v2.1");
        let a = safe_dir_name("a/b");
        let b = safe_dir_name("a_b");
        assert_ne!(a, b);
        assert!(a.starts_with("a_b-"), "{a}");
        let long1 = safe_dir_name(&"x".repeat(300));
        let long2 = safe_dir_name(&format!("{}y", "x".repeat(299)));
        assert_ne!(long1, long2);
        assert!(long1.len() < 100, "{long1}");
        assert_ne!(safe_dir_name(".."), "..");
    }
}
