//! Bundle: the files operators install on Konnect hybrid-mode data planes for the
//! hybrid-mode plugins (`streamed: false`) in scope — Kong's Lua path tree
//! (`kong/plugins/NAME/{handler,schema}.lua`), or one Kubernetes ConfigMap per plugin as Kong's
//! Helm chart mounts them (`plugins.configMaps`). The output is byte-identical across runs for
//! the same state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::CommandError;
use crate::model::hash::sha256_hex;
use crate::model::CustomPluginDecl;
use crate::ops::Progress;
use crate::state;

/// The layout of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `kong/plugins/NAME/handler.lua` and `schema.lua`, plus `MANIFEST`.
    Tree,
    /// One ConfigMap per plugin plus `values.yaml` for Kong's Helm chart.
    Configmap,
}

/// What to bundle.
pub struct BundleRequest<'a> {
    /// State files or directories.
    pub paths: &'a [PathBuf],
    /// Read the state from this commit instead of the working tree.
    pub git_ref: Option<&'a str>,
    /// Also the hybrid-mode plugins the state at this commit declares (the `expand` bundle).
    pub base: Option<&'a str>,
    pub layout: Layout,
    /// Looks `${{ env "NAME" }}` up.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// A bundle: its files (relative paths) and the `KONG_PLUGINS` value.
pub struct Bundle {
    pub files: Vec<(PathBuf, Vec<u8>)>,
    pub plugins: usize,
    pub kong_plugins: String,
}

/// Makes the bundle (nothing written).
pub fn bundle(
    request: &BundleRequest<'_>,
    progress: &dyn Progress,
) -> Result<Bundle, CommandError> {
    let mut plugins: BTreeMap<String, CustomPluginDecl> = BTreeMap::new();
    for c in hybrid_plugins(request.paths, request.git_ref, request.env)? {
        plugins.insert(c.name.clone(), c);
    }
    if let Some(base) = request.base {
        for c in hybrid_plugins(request.paths, Some(base), request.env)? {
            plugins.entry(c.name.clone()).or_insert(c);
        }
    }
    if plugins.is_empty() {
        progress.warn(
            "the state declares no hybrid-mode plugin (`streamed: false`): the bundle is empty",
        );
    }
    let files = match request.layout {
        Layout::Tree => tree(&plugins),
        Layout::Configmap => configmaps(&plugins),
    };
    Ok(Bundle {
        files,
        plugins: plugins.len(),
        kong_plugins: kong_plugins(&plugins),
    })
}

/// Writes a bundle's files under `dir` (created; the bundle's files in it are replaced).
pub fn write(dir: &Path, files: &[(PathBuf, Vec<u8>)]) -> Result<(), CommandError> {
    for (rel, bytes) in files {
        write_file(&dir.join(rel), bytes)?;
    }
    Ok(())
}

/// The hybrid-mode plugins of the state read from `git_ref` (or the working tree).
fn hybrid_plugins(
    paths: &[PathBuf],
    git_ref: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<CustomPluginDecl>, CommandError> {
    let (files, _) = crate::ops::check::file_source(paths, git_ref)?;
    let loaded = state::load(paths, files.as_ref(), env);
    if loaded.has_errors() {
        let first = loaded
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(CommandError::new(format!(
            "the state{} cannot be read: {first}",
            git_ref.map(|r| format!(" at `{r}`")).unwrap_or_default()
        ))
        .with_hint("run `plugsync lint` for details"));
    }
    Ok(loaded
        .state
        .custom_plugins
        .into_iter()
        .filter(|c| !c.streamed)
        .collect())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CommandError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| CommandError::io("create", parent, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| CommandError::io("write", path, e))
}

/// `KONG_PLUGINS`: Kong's bundled plugins plus every plugin of the bundle, by name.
pub fn kong_plugins(plugins: &BTreeMap<String, CustomPluginDecl>) -> String {
    std::iter::once("bundled")
        .chain(plugins.keys().map(String::as_str))
        .collect::<Vec<_>>()
        .join(",")
}

/// A plugin's content hash: of its handler's and schema's sha256 (the same digests plans show).
pub fn content_hash(c: &CustomPluginDecl) -> String {
    let h = sha256_hex(c.handler.text.as_bytes());
    let s = sha256_hex(c.schema.text.as_bytes());
    sha256_hex(format!("{h}\n{s}\n").as_bytes())
}

/// Kong's Lua path tree, plus `MANIFEST` (name, content hash, per line).
pub fn tree(plugins: &BTreeMap<String, CustomPluginDecl>) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut manifest = String::new();
    for (name, c) in plugins {
        let dir = Path::new("kong").join("plugins").join(name);
        out.push((dir.join("handler.lua"), c.handler.text.as_bytes().to_vec()));
        out.push((dir.join("schema.lua"), c.schema.text.as_bytes().to_vec()));
        manifest.push_str(&format!("{name} {}\n", content_hash(c)));
    }
    manifest.push_str(&format!("KONG_PLUGINS={}\n", kong_plugins(plugins)));
    out.push((PathBuf::from("MANIFEST"), manifest.into_bytes()));
    out
}

/// A Kubernetes object name for a plugin (DNS-1123: lowercase letters, digits and `-`).
fn k8s_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    out = out.trim_matches('-').to_string();
    format!("kong-plugin-{out}").chars().take(253).collect()
}

/// A YAML scalar holding `text` exactly: a literal block where that is exact, else a
/// double-quoted (JSON) string.
fn yaml_text(text: &str, indent: &str) -> String {
    let literal_ok = text.ends_with('\n')
        && !text.ends_with("\n\n")
        && !text.contains(['\r', '\t'])
        && !text.starts_with([' ', '\n']);
    if !literal_ok {
        return serde_json::to_string(text).unwrap_or_default();
    }
    let mut out = String::from("|\n");
    for line in text.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(indent);
            out.push_str(line);
            out.push('\n');
        }
    }
    out.pop();
    out
}

/// One ConfigMap per plugin and a `values.yaml` fragment for Kong's Helm chart.
pub fn configmaps(plugins: &BTreeMap<String, CustomPluginDecl>) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut values = String::from(
        "# Kong Helm chart values: mount the plugins and enable them (plugsync bundle).\nplugins:\n  configMaps:\n",
    );
    if plugins.is_empty() {
        values = String::from("# Kong Helm chart values (plugsync bundle): no hybrid-mode plugin.\nplugins:\n  configMaps: []\n");
    }
    for (name, c) in plugins {
        let cm = k8s_name(name);
        let hash = content_hash(c);
        let doc = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {cm}\n  labels:\n    app.kubernetes.io/managed-by: plugsync\n    plugsync.io/plugin: {label}\n    plugsync.io/content-hash: {short}\n  annotations:\n    plugsync.io/plugin-name: {quoted}\n    plugsync.io/content-sha256: {hash}\ndata:\n  handler.lua: {handler}\n  schema.lua: {schema}\n",
            label = k8s_name(name).trim_start_matches("kong-plugin-").chars().take(63).collect::<String>(),
            short = &hash[..32],
            quoted = serde_json::to_string(name).unwrap_or_default(),
            handler = yaml_text(&c.handler.text, "    "),
            schema = yaml_text(&c.schema.text, "    "),
        );
        out.push((
            PathBuf::from(format!("{cm}.configmap.yaml")),
            doc.into_bytes(),
        ));
        values.push_str(&format!(
            "    - pluginName: {}\n      name: {cm}\n",
            serde_json::to_string(name).unwrap_or_default()
        ));
    }
    values.push_str(&format!(
        "env:\n  plugins: {}\n",
        serde_json::to_string(&kong_plugins(plugins)).unwrap_or_default()
    ));
    out.push((PathBuf::from("values.yaml"), values.into_bytes()));
    out
}
