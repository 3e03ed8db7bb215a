//! State files → [`DesiredState`]: the first stage of the pipeline.
//!
//! Reads every `-s` path (a file, or a directory whose `*.yaml`/`*.yml` files are merged in
//! name order), checks keys and types with file, line and column, reads plugin directories
//! (`path:`) without letting them escape the repository, substitutes `${{ env "…" }}` templates
//! and merges the files. Problems are returned as [`Diagnostic`]s so `lint` can show all of them
//! at once; the other commands stop on the first error.

pub mod env;
mod source;
pub mod yaml;

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use env::EnvLookup;
pub use source::{FileSource, WorkTree, MAX_FILE_BYTES};

use crate::model::{
    CustomPluginDecl, DesiredState, Diagnostic, InstanceDecl, LuaOrigin, LuaSource, Scope, Span,
};
use crate::schema::Builtin;
use yaml::{Node, NodeValue, Pos};

/// The rule id of state-file errors.
pub const RULE_YAML: &str = "yaml";
/// The rule id of names declared twice.
pub const RULE_DUPLICATE: &str = "duplicate-name";
/// The rule of an instance field that breaks Kong's plugin schema (`ordering`).
pub const RULE_INSTANCE_CONFIG: &str = "instance-config";
/// The rule of an instance that runs an undeclared plugin (reported by `lint`).
pub const RULE_UNKNOWN_PLUGIN: &str = "instance-unknown-plugin";

/// What loading produced: the merged state (as far as it could be read) and every problem.
#[derive(Debug, Default)]
pub struct Loaded {
    pub state: DesiredState,
    pub diagnostics: Vec<Diagnostic>,
    /// Custom plugins declared with a name but left out for an error in their declaration
    /// (already reported): instances that run them are not "undeclared".
    pub rejected_plugins: BTreeSet<String>,
    /// Instances whose config holds an unset environment variable (already reported): their
    /// config was not read, so checking it would only report consequences.
    pub unresolved_instances: Vec<Span>,
}

impl Loaded {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// `diags` without the consequences of errors the loader already reported once: config
    /// errors of an instance whose config could not be resolved, and "no state file declares"
    /// for a custom plugin that is declared, but wrongly.
    pub fn without_consequences(&self, diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
        let unresolved: Vec<&InstanceDecl> = self
            .state
            .plugins
            .iter()
            .filter(|p| self.unresolved_instances.contains(&p.span))
            .collect();
        diags
            .into_iter()
            .filter(|d| {
                if d.rule == RULE_INSTANCE_CONFIG {
                    return !unresolved.iter().any(|p| {
                        p.span == d.span
                            || (d.span.file == p.span.file
                                && p.config_spans
                                    .positions()
                                    .any(|(l, c)| l == d.span.line && c == d.span.column))
                    });
                }
                if d.rule == RULE_UNKNOWN_PLUGIN {
                    return !self
                        .state
                        .plugins
                        .iter()
                        .any(|p| p.span == d.span && self.rejected_plugins.contains(&p.name));
                }
                true
            })
            .collect()
    }
}

/// Loads and merges the state at `paths`.
pub fn load(paths: &[PathBuf], source: &dyn FileSource, env: EnvLookup<'_>) -> Loaded {
    let mut loaded = Loaded::default();
    let mut files = Vec::new();
    for path in paths {
        if source.is_dir(path) {
            match source.list(path) {
                Ok(entries) => {
                    let before = files.len();
                    for e in entries {
                        let is_yaml =
                            matches!(e.extension().and_then(|x| x.to_str()), Some("yaml" | "yml"));
                        if is_yaml && !source.is_dir(&e) {
                            files.push(e);
                        }
                    }
                    if files.len() == before {
                        loaded.diagnostics.push(
                            Diagnostic::error(
                                RULE_YAML,
                                Span::file_start(Arc::new(path.clone())),
                                "the directory holds no *.yaml or *.yml state file",
                            )
                            .with_hint("pass a state file with -s FILE, or a directory of them"),
                        );
                    }
                }
                Err(e) => loaded.diagnostics.push(Diagnostic::error(
                    RULE_YAML,
                    Span::file_start(Arc::new(path.clone())),
                    format!("cannot read directory: {e}"),
                )),
            }
        } else if source.exists(path) {
            files.push(path.clone());
        } else {
            let mut d = Diagnostic::error(
                RULE_YAML,
                Span::file_start(Arc::new(path.clone())),
                "state file not found",
            );
            if path == Path::new("plugsync.yaml") {
                d = d.with_hint("pass the state with -s PATH (a file or a directory)");
            }
            loaded.diagnostics.push(d);
        }
    }
    let mut secrets = BTreeSet::new();
    let mut select_tags = BTreeSet::new();
    let mut cp_name: Option<(String, Span)> = None;
    for file in files {
        let file = Arc::new(file);
        loaded.state.files.push(file.clone());
        let mut fl = FileLoader {
            file: file.clone(),
            source,
            env,
            diags: &mut loaded.diagnostics,
            secrets: &mut secrets,
            rejected_plugins: &mut loaded.rejected_plugins,
            unresolved_instances: &mut loaded.unresolved_instances,
        };
        let Some(parsed) = fl.load_file() else {
            continue;
        };
        select_tags.extend(parsed.select_tags);
        if let Some((name, span)) = parsed.konnect_cp {
            match &cp_name {
                Some((prev, prev_span)) if *prev != name => {
                    loaded.diagnostics.push(Diagnostic::error(
                        RULE_YAML,
                        span,
                        format!(
                            "_konnect.control_plane_name is `{name}` here but `{prev}` at {prev_span}"
                        ),
                    ));
                }
                Some(_) => {}
                None => cp_name = Some((name, span)),
            }
        }
        loaded.state.custom_plugins.extend(parsed.custom_plugins);
        loaded.state.plugins.extend(parsed.plugins);
    }
    loaded.state.select_tags = select_tags.into_iter().collect();
    loaded.state.konnect_control_plane_name = cp_name.map(|(n, _)| n);
    let values: BTreeSet<String> = secrets
        .iter()
        .map(|(_, v): &(String, String)| v.clone())
        .collect();
    loaded.state.secrets = values.into_iter().collect();
    loaded.state.secret_vars = secrets.into_iter().collect();
    check_duplicates(&mut loaded);
    loaded
}

/// Names declared twice: custom plugins by name, instances by `instance_name` and by
/// (plugin, scope). Each name is looked up in a map of the first declarations, so this stays
/// linear in the number of declarations.
fn check_duplicates(loaded: &mut Loaded) {
    let state = &loaded.state;
    let mut diags = Vec::new();
    let mut first_plugin: HashMap<&str, &CustomPluginDecl> = HashMap::new();
    for cp in &state.custom_plugins {
        if let Some(first) = first_plugin.get(cp.name.as_str()) {
            diags.push(
                Diagnostic::error(
                    RULE_DUPLICATE,
                    cp.span.clone(),
                    format!(
                        "custom plugin `{}` is declared twice: here and at {}",
                        cp.name, first.span
                    ),
                )
                .with_hint("a custom plugin name must be unique across all state files"),
            );
        } else {
            first_plugin.insert(cp.name.as_str(), cp);
        }
    }
    // Kong allows one instance of a plugin per scope (plugin name, service, route, consumer,
    // consumer group) whatever its `instance_name`, and one instance per `instance_name`.
    let mut first_named: HashMap<&str, &InstanceDecl> = HashMap::new();
    let mut first_scoped: HashMap<(&str, &Scope), &InstanceDecl> = HashMap::new();
    for p in &state.plugins {
        let mut dups = Vec::new();
        if let Some(n) = &p.instance_name {
            match first_named.entry(n.as_str()) {
                Entry::Occupied(e) => dups.push((
                    format!("instance_name `{n}` is declared twice"),
                    *e.get(),
                    None,
                )),
                Entry::Vacant(e) => {
                    e.insert(p);
                }
            }
        }
        match first_scoped.entry((p.name.as_str(), &p.scope)) {
            Entry::Occupied(e) => {
                let first = *e.get();
                // Already reported under its name when both share one.
                if !(p.instance_name.is_some() && p.instance_name == first.instance_name) {
                    let hint = (p.instance_name.is_some() || first.instance_name.is_some()).then(|| {
                        "Kong allows one instance of a plugin per scope (service, route, consumer, consumer group) whatever its instance_name: merge them, or bind one to another scope".to_string()
                    });
                    dups.push((
                        format!(
                            "plugin `{}` has two instances at scope {}",
                            p.name,
                            scope_label(&p.scope)
                        ),
                        first,
                        hint,
                    ));
                }
            }
            Entry::Vacant(e) => {
                e.insert(p);
            }
        }
        for (what, first, hint) in dups {
            let mut d = Diagnostic::error(
                RULE_DUPLICATE,
                p.span.clone(),
                format!("{what}: here and at {} ({})", first.span, first.label()),
            );
            if let Some(h) = hint {
                d = d.with_hint(h);
            }
            diags.push(d);
        }
    }
    loaded.diagnostics.extend(diags);
}

/// `service=a, route=b`, or `global`.
fn scope_label(scope: &Scope) -> String {
    let parts: Vec<String> = [
        ("service", &scope.service),
        ("route", &scope.route),
        ("consumer", &scope.consumer),
        ("consumer_group", &scope.consumer_group),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
    .collect();
    if parts.is_empty() {
        "global".to_string()
    } else {
        parts.join(", ")
    }
}

struct FileParts {
    custom_plugins: Vec<CustomPluginDecl>,
    plugins: Vec<InstanceDecl>,
    select_tags: Vec<String>,
    konnect_cp: Option<(String, Span)>,
}

struct FileLoader<'a> {
    file: Arc<PathBuf>,
    source: &'a dyn FileSource,
    env: EnvLookup<'a>,
    diags: &'a mut Vec<Diagnostic>,
    /// (variable, value) of every substitution.
    secrets: &'a mut BTreeSet<(String, String)>,
    rejected_plugins: &'a mut BTreeSet<String>,
    unresolved_instances: &'a mut Vec<Span>,
}

pub const TOP_KEYS: &[&str] = &[
    "_format_version",
    "_konnect",
    "_info",
    "_transform",
    "_workspace",
    "custom_plugins",
    "plugins",
];
pub const DECK_ENTITY_KEYS: &[&str] = &[
    "services",
    "routes",
    "consumers",
    "consumer_groups",
    "upstreams",
    "certificates",
    "ca_certificates",
    "vaults",
    "partials",
    "key_sets",
    "keys",
    "snis",
    "filter_chains",
    "cloned_plugins",
    "_plugin_configs",
];
pub const INFO_KEYS: &[&str] = &[
    "select_tags",
    "defaults",
    "include_plugin_definitions",
    "default_lookup_tags",
];
pub const KONNECT_KEYS: &[&str] = &["control_plane_name", "runtime_group_name"];
pub const CUSTOM_PLUGIN_KEYS: &[&str] = &[
    "name",
    "path",
    "handler",
    "schema",
    "replaces",
    "tags",
    "protected",
    "streamed",
    "id",
    "created_at",
    "updated_at",
];
pub const INSTANCE_KEYS: &[&str] = &[
    "name",
    "instance_name",
    "config",
    "enabled",
    "protocols",
    "service",
    "route",
    "consumer",
    "consumer_group",
    "condition",
    "ordering",
    "tags",
    "id",
    "created_at",
    "updated_at",
];

impl FileLoader<'_> {
    fn span(&self, pos: Pos) -> Span {
        Span::new(self.file.clone(), pos.line, pos.column)
    }

    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        let span = self.span(pos);
        self.diags.push(Diagnostic::error(RULE_YAML, span, message));
    }

    fn warning(&mut self, pos: Pos, message: impl Into<String>) {
        let span = self.span(pos);
        self.diags
            .push(Diagnostic::warning(RULE_YAML, span, message));
    }

    fn note(&mut self, pos: Pos, message: impl Into<String>) {
        let span = self.span(pos);
        self.diags.push(Diagnostic::note(RULE_YAML, span, message));
    }

    fn load_file(&mut self) -> Option<FileParts> {
        let start = Pos { line: 1, column: 1 };
        let bytes = match self.source.read(&self.file) {
            Ok(b) => b,
            Err(e) => {
                self.error(start, format!("cannot read state file: {e}"));
                return None;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let pos = pos_at_end(valid);
                self.error(
                    pos,
                    format!(
                        "the file is not valid UTF-8 (byte {} is not)",
                        e.utf8_error().valid_up_to() + 1
                    ),
                );
                return None;
            }
        };
        // A UTF-8 byte order mark (Windows editors write one) is not part of the YAML.
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_string(),
            None => text,
        };
        if let Some(i) = text.find('\0') {
            self.error(
                pos_at_end(&text.as_bytes()[..i]),
                "the file holds a NUL byte",
            );
            return None;
        }
        let root = match yaml::parse(&text) {
            Ok(n) => n,
            Err(e) => {
                self.error(e.pos, format!("invalid YAML: {}", e.message));
                return None;
            }
        };
        let mut parts = FileParts {
            custom_plugins: Vec::new(),
            plugins: Vec::new(),
            select_tags: Vec::new(),
            konnect_cp: None,
        };
        let entries = match &root.value {
            NodeValue::Null => return Some(parts),
            NodeValue::Map(entries) => entries,
            _ => {
                self.error(
                    root.pos,
                    format!("a state file is a mapping of keys, found {}", root.kind()),
                );
                return None;
            }
        };
        for (k, v) in entries {
            let key = k.key_text();
            match key.as_str() {
                "_format_version" => {
                    let ok = match &v.value {
                        NodeValue::Str { value, .. } => value == "3.0",
                        NodeValue::Float(f) => *f == 3.0,
                        _ => false,
                    };
                    if !ok {
                        let span = self.span(v.pos);
                        self.diags.push(
                            Diagnostic::error(
                                RULE_YAML,
                                span,
                                format!(
                                    "_format_version must be \"3.0\", found {}",
                                    scalar_text(v)
                                ),
                            )
                            .with_hint("write _format_version: \"3.0\" (quoted)"),
                        );
                    }
                }
                "_transform" => {
                    if !matches!(v.value, NodeValue::Bool(_)) {
                        self.error(
                            v.pos,
                            format!("_transform must be a boolean, found {}", v.kind()),
                        );
                    }
                }
                "_workspace" => {
                    if v.as_str().is_some() {
                        self.note(
                            k.pos,
                            "_workspace is ignored: pass --workspace NAME to target a Kong workspace",
                        );
                    } else {
                        self.error(
                            v.pos,
                            format!("_workspace must be a string, found {}", v.kind()),
                        );
                    }
                }
                "_konnect" => parts.konnect_cp = self.konnect(v),
                "_info" => parts.select_tags = self.info(v),
                "custom_plugins" => {
                    for item in self.seq(v, "custom_plugins") {
                        if let Some(cp) = self.custom_plugin(item) {
                            parts.custom_plugins.push(cp);
                        }
                    }
                }
                "plugins" => {
                    for item in self.seq(v, "plugins") {
                        if let Some(p) = self.instance(item) {
                            parts.plugins.push(p);
                        }
                    }
                }
                other => self.unknown_key(k, other, TOP_KEYS, "at the top level"),
            }
        }
        Some(parts)
    }

    fn unknown_key(&mut self, k: &Node, key: &str, known: &[&str], place: &str) {
        let span = self.span(k.pos);
        let mut d = Diagnostic::error(RULE_YAML, span, format!("unknown key `{key}` {place}"));
        if place == "at the top level" && DECK_ENTITY_KEYS.contains(&key) {
            d = d.with_hint(format!(
                "plugsync manages custom plugins and their instances only; keep `{key}` in a separate decK file"
            ));
        } else if let Some(best) = closest(key, known) {
            d = d.with_hint(format!("did you mean `{best}`?"));
        } else {
            d = d.with_hint(format!("known keys: {}", known.join(", ")));
        }
        self.diags.push(d);
    }

    fn seq<'n>(&mut self, v: &'n Node, what: &str) -> &'n [Node] {
        match &v.value {
            NodeValue::Seq(items) => items,
            NodeValue::Null => &[],
            _ => {
                self.error(
                    v.pos,
                    format!("`{what}` must be a list, found {}", v.kind()),
                );
                &[]
            }
        }
    }

    fn map<'n>(&mut self, v: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match &v.value {
            NodeValue::Map(entries) => Some(entries),
            _ => {
                self.error(
                    v.pos,
                    format!("{what} must be a mapping, found {}", v.kind()),
                );
                None
            }
        }
    }

    /// A string value with templates substituted (the values become secrets).
    fn string(&mut self, v: &Node, what: &str) -> Option<String> {
        match &v.value {
            NodeValue::Str { value, .. } => self.substitute(value, v.pos),
            _ => {
                self.error(
                    v.pos,
                    format!("`{what}` must be a string, found {}", v.kind()),
                );
                None
            }
        }
    }

    /// A plugin's name (or the name it `replaces`): a [`Self::name`] without templates. Names
    /// identify entities in plans and on the control plane; a secret cannot be one.
    fn identity(&mut self, v: &Node, what: &str) -> Option<String> {
        if v.as_str().is_some_and(env::has_template) {
            self.error(
                v.pos,
                format!("`{what}` cannot use `${{{{ env … }}}}`: names are shown in every plan and are not secrets"),
            );
            return None;
        }
        self.name(v, what)
    }

    /// A name: a string without control characters (a NUL, say, written `"\0"` in YAML),
    /// which no control plane accepts and no terminal shows.
    fn name(&mut self, v: &Node, what: &str) -> Option<String> {
        let s = self.string(v, what)?;
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            self.error(
                v.pos,
                format!(
                    "`{what}` holds the control character U+{:04X}{}; names must be printable",
                    c as u32,
                    if c == '\0' { " (NUL)" } else { "" }
                ),
            );
            return None;
        }
        Some(s)
    }

    fn substitute(&mut self, value: &str, pos: Pos) -> Option<String> {
        if !env::has_template(value) {
            return Some(value.to_string());
        }
        match env::substitute_named(value, self.env) {
            Ok((out, secrets)) => {
                self.secrets.extend(secrets);
                Some(out)
            }
            Err(msg) => {
                self.error(pos, msg);
                None
            }
        }
    }

    fn bool(&mut self, v: &Node, what: &str) -> Option<bool> {
        match v.value {
            NodeValue::Bool(b) => Some(b),
            _ => {
                self.error(
                    v.pos,
                    format!("`{what}` must be true or false, found {}", scalar_text(v)),
                );
                None
            }
        }
    }

    fn strings(&mut self, v: &Node, what: &str) -> Vec<String> {
        let mut out = Vec::new();
        for item in self.seq(v, what) {
            if let Some(s) = self.string(item, what) {
                out.push(s);
            }
        }
        out
    }

    /// A set of tags, each checked as Kong's `typedefs.tag` checks it on write (and warned about
    /// past Konnect's length limit) (a templated tag
    /// is checked by the control plane once resolved).
    fn tags(&mut self, v: &Node) -> Vec<String> {
        let mut set = BTreeSet::new();
        for item in self.seq(v, "tags") {
            let Some(tag) = self.string(item, "tags") else {
                continue;
            };
            if !env::has_template(&tag) {
                if let Err(message) = crate::schema::builtins::check(Builtin::Tag, &tag) {
                    self.error(item.pos, format!("tags: {message}"));
                    continue;
                }
                let length = tag.chars().count();
                if length > crate::model::KONNECT_TAG_LIMIT {
                    self.warning(
                        item.pos,
                        format!(
                            "tags: Konnect refuses tags longer than {} characters (this one has {length}); Kong Gateway accepts them",
                            crate::model::KONNECT_TAG_LIMIT
                        ),
                    );
                }
            }
            set.insert(tag);
        }
        set.into_iter().collect()
    }

    /// An instance's `instance_name`, checked as Kong's `typedefs.utf8_name` checks it.
    fn instance_name(&mut self, v: &Node) -> Option<String> {
        let name = self.name(v, "instance_name")?;
        if !env::has_template(&name) {
            if let Err(message) = crate::schema::builtins::check(Builtin::Utf8Name, &name) {
                self.error(v.pos, format!("instance_name: {message}"));
                return None;
            }
        }
        Some(name)
    }

    fn konnect(&mut self, v: &Node) -> Option<(String, Span)> {
        let entries = self.map(v, "`_konnect`")?;
        let mut out = None;
        for (k, val) in entries {
            let key = k.key_text();
            match key.as_str() {
                "control_plane_name" | "runtime_group_name" => {
                    if let Some(s) = self.string(val, &key) {
                        out = Some((s, self.span(val.pos)));
                    }
                }
                other => self.unknown_key(k, other, KONNECT_KEYS, "in `_konnect`"),
            }
        }
        out
    }

    fn info(&mut self, v: &Node) -> Vec<String> {
        let Some(entries) = self.map(v, "`_info`") else {
            return Vec::new();
        };
        let mut tags = Vec::new();
        for (k, val) in entries {
            let key = k.key_text();
            match key.as_str() {
                "select_tags" => tags = self.strings(val, "select_tags"),
                "defaults" => {
                    let empty = match &val.value {
                        NodeValue::Map(e) => e.is_empty(),
                        NodeValue::Null => true,
                        _ => false,
                    };
                    if !empty {
                        self.note(
                            k.pos,
                            "_info.defaults is ignored: instance configs are filled from their plugin's schema",
                        );
                    }
                }
                "include_plugin_definitions" => {
                    self.bool(val, "include_plugin_definitions");
                }
                "default_lookup_tags" => {
                    self.note(
                        k.pos,
                        "_info.default_lookup_tags is ignored: services, routes and consumers are looked up by name or id",
                    );
                }
                other => self.unknown_key(k, other, INFO_KEYS, "in `_info`"),
            }
        }
        tags
    }

    fn custom_plugin(&mut self, item: &Node) -> Option<CustomPluginDecl> {
        let entries = self.map(item, "a custom plugin")?;
        let mut name = None;
        let (mut path, mut handler, mut schema) = (None, None, None);
        let (mut replaces, mut replaces_span) = (None, None);
        let (mut tags, mut protected, mut id) = (Vec::new(), false, None);
        // An unknown key that was meant as `path`, `handler` or `schema` is the cause of a
        // missing source: reported once, as that key.
        let mut misspelt_source = false;
        let mut streamed = true;
        for (k, v) in entries {
            let key = k.key_text();
            match key.as_str() {
                "name" => name = self.identity(v, "name"),
                "path" => path = self.string(v, "path").map(|p| (p, v.pos)),
                "handler" => handler = self.lua_inline(v, "handler"),
                "schema" => schema = self.lua_inline(v, "schema"),
                "replaces" => {
                    replaces = self.identity(v, "replaces");
                    replaces_span = Some(self.span(v.pos));
                }
                "tags" => tags = self.tags(v),
                "protected" => protected = self.bool(v, "protected").unwrap_or(false),
                "streamed" => streamed = self.bool(v, "streamed").unwrap_or(true),
                "id" => id = self.string(v, "id"),
                "created_at" | "updated_at" => {}
                other => {
                    misspelt_source |= matches!(
                        closest(other, CUSTOM_PLUGIN_KEYS),
                        Some("path" | "handler" | "schema")
                    );
                    self.unknown_key(k, other, CUSTOM_PLUGIN_KEYS, "in a custom plugin")
                }
            }
        }
        let Some(name) = name else {
            self.error(item.pos, "a custom plugin needs a `name`");
            return None;
        };
        let decl =
            self.custom_plugin_sources(item, name.clone(), path, handler, schema, misspelt_source);
        let Some((handler, schema, dir, extra_files)) = decl else {
            self.rejected_plugins.insert(name);
            return None;
        };
        let span = self.span(item.pos);
        Some(CustomPluginDecl {
            name,
            handler,
            schema,
            replaces,
            tags,
            protected,
            streamed,
            id,
            dir,
            extra_files,
            span,
            replaces_span,
        })
    }

    /// The handler and schema of a custom plugin: from `path`, or inline.
    #[allow(clippy::type_complexity)]
    fn custom_plugin_sources(
        &mut self,
        item: &Node,
        name: String,
        path: Option<(String, Pos)>,
        handler: Option<LuaSource>,
        schema: Option<LuaSource>,
        misspelt_source: bool,
    ) -> Option<(LuaSource, LuaSource, Option<PathBuf>, Vec<PathBuf>)> {
        let span = self.span(item.pos);
        Some(match (path, handler, schema) {
            (Some((p, pos)), None, None) => {
                let (h, s, dir, extra) = self.plugin_dir(&p, pos)?;
                (h, s, Some(dir), extra)
            }
            (Some((_, pos)), _, _) => {
                self.error(
                    pos,
                    format!("custom plugin `{name}` has both `path` and inline `handler`/`schema`; use one"),
                );
                return None;
            }
            (None, Some(h), Some(s)) => (h, s, None, Vec::new()),
            (None, _, _) if misspelt_source => return None,
            (None, h, s) => {
                let missing = match (h.is_some(), s.is_some()) {
                    (true, false) => "`schema`",
                    (false, true) => "`handler`",
                    _ => "`path`, or `handler` and `schema`",
                };
                self.diags.push(
                    Diagnostic::error(
                        RULE_YAML,
                        span,
                        format!("custom plugin `{name}` needs {missing}"),
                    )
                    .with_hint("declare `path: plugins/NAME` (a directory with handler.lua and schema.lua) or inline `handler` and `schema`"),
                );
                return None;
            }
        })
    }

    fn lua_inline(&mut self, v: &Node, what: &str) -> Option<LuaSource> {
        match &v.value {
            // A block scalar's mark is at its first content line, a flow scalar's at its
            // start: either way Lua line 1 is the mark's line.
            NodeValue::Str { value, .. } => Some(LuaSource {
                text: value.as_str().into(),
                origin: LuaOrigin::Inline {
                    file: self.file.clone(),
                    line_offset: v.pos.line - 1,
                },
            }),
            _ => {
                self.error(
                    v.pos,
                    format!("`{what}` must be Lua source text, found {}", v.kind()),
                );
                None
            }
        }
    }

    /// Reads a plugin directory, refusing paths that leave the repository.
    fn plugin_dir(
        &mut self,
        rel: &str,
        pos: Pos,
    ) -> Option<(LuaSource, LuaSource, PathBuf, Vec<PathBuf>)> {
        let base = self.file.parent().unwrap_or(Path::new("")).to_path_buf();
        let dir = base.join(rel);
        let root = self.source.containment_root(&self.file);
        let escape_hint = format!(
            "plugin directories must stay inside {} (the repository's root, or the state file's directory outside a repository)",
            root.display()
        );
        let resolved = match self.source.resolve(&dir) {
            Ok(p) => p,
            Err(e) => {
                self.error(pos, format!("plugin directory `{rel}` cannot be read: {e}"));
                return None;
            }
        };
        if !resolved.starts_with(&root) {
            let span = self.span(pos);
            self.diags.push(
                Diagnostic::error(
                    RULE_YAML,
                    span,
                    format!("plugin path `{rel}` leads outside the repository that holds the state file"),
                )
                .with_hint(escape_hint.clone()),
            );
            return None;
        }
        if !self.source.is_dir(&resolved) {
            self.error(pos, format!("plugin path `{rel}` is not a directory"));
            return None;
        }
        let entries = match self.source.list(&dir) {
            Ok(e) => e,
            Err(e) => {
                self.error(pos, format!("plugin directory `{rel}` cannot be read: {e}"));
                return None;
            }
        };
        let mut extra = Vec::new();
        for e in &entries {
            let fname = e.file_name().and_then(|f| f.to_str()).unwrap_or("");
            if fname != "handler.lua" && fname != "schema.lua" {
                extra.push(tidy(e));
            }
        }
        let mut read = |fname: &str| -> Option<LuaSource> {
            let path = dir.join(fname);
            if !self.source.exists(&path) {
                self.error(pos, format!("plugin directory `{rel}` has no {fname}"));
                return None;
            }
            match self.source.resolve(&path) {
                Ok(r) if r.starts_with(&root) => {}
                Ok(_) => {
                    let span = self.span(pos);
                    self.diags.push(
                        Diagnostic::error(
                            RULE_YAML,
                            span,
                            format!("`{rel}/{fname}` is a link that leads outside the repository that holds the state file"),
                        )
                        .with_hint(escape_hint.clone()),
                    );
                    return None;
                }
                Err(e) => {
                    self.error(pos, format!("cannot read `{rel}/{fname}`: {e}"));
                    return None;
                }
            }
            let bytes = match self.source.read(&path) {
                Ok(b) => b,
                Err(e) => {
                    self.error(pos, format!("cannot read `{rel}/{fname}`: {e}"));
                    return None;
                }
            };
            match String::from_utf8(bytes) {
                Ok(text) => Some(LuaSource {
                    text: text.into(),
                    origin: LuaOrigin::File(Arc::new(tidy(&path))),
                }),
                Err(_) => {
                    self.error(pos, format!("`{rel}/{fname}` is not valid UTF-8"));
                    None
                }
            }
        };
        let handler = read("handler.lua");
        let schema = read("schema.lua");
        Some((handler?, schema?, dir, extra))
    }

    fn instance(&mut self, item: &Node) -> Option<InstanceDecl> {
        let entries = self.map(item, "a plugin instance")?;
        let mut p = InstanceDecl::new(String::new(), self.span(item.pos));
        let mut name = None;
        for (k, v) in entries {
            let key = k.key_text();
            match key.as_str() {
                "name" => name = self.identity(v, "name"),
                "instance_name" => p.instance_name = self.instance_name(v),
                "config" => {
                    if !matches!(v.value, NodeValue::Map(_) | NodeValue::Null) {
                        self.error(
                            v.pos,
                            format!("`config` must be a mapping, found {}", v.kind()),
                        );
                        continue;
                    }
                    let mut spans = vec![("config".to_string(), self.span(k.pos))];
                    self.collect_spans(v, "config", &mut spans);
                    // The first place a path is written wins.
                    p.config_spans = crate::model::ConfigSpans::new(
                        spans.into_iter().map(|(path, s)| (path, s.line, s.column)),
                    );
                    match v.to_json() {
                        // Most configs hold no template: one value serves as both.
                        Ok(raw) if !holds_template(&raw) => p.config = Some(raw),
                        Ok(raw) => {
                            let mut ok = true;
                            let resolved = self.substitute_json(&raw, v, &mut ok);
                            if ok {
                                // Kept apart only when a template was substituted: most
                                // configs have none, and one copy serves both.
                                p.config_template = (raw != resolved).then_some(raw);
                                p.config = Some(resolved);
                            } else {
                                self.unresolved_instances.push(p.span.clone());
                            }
                        }
                        Err((pos, msg)) => self.error(pos, msg),
                    }
                }
                "enabled" => p.enabled = self.bool(v, "enabled"),
                "protocols" => p.protocols = Some(self.strings(v, "protocols")),
                "service" => p.scope.service = self.string(v, "service"),
                "route" => p.scope.route = self.string(v, "route"),
                "consumer" => p.scope.consumer = self.string(v, "consumer"),
                "consumer_group" => p.scope.consumer_group = self.string(v, "consumer_group"),
                "condition" => p.condition = self.string(v, "condition"),
                "ordering" => match v.to_json() {
                    Ok(o) => {
                        // As the control plane checks it: phases, before/after, plugin names.
                        let mut errors = Vec::new();
                        if !o.is_null() {
                            crate::schema::ordering::check_ordering(&o, &mut errors);
                        }
                        for e in errors {
                            let span = self.span(v.pos);
                            self.diags.push(Diagnostic::error(
                                RULE_INSTANCE_CONFIG,
                                span,
                                format!("{}: {}", e.path, e.message),
                            ));
                        }
                        p.ordering = Some(o);
                    }
                    Err((pos, msg)) => self.error(pos, msg),
                },
                "tags" => p.tags = self.tags(v),
                "id" => p.id = self.string(v, "id"),
                "created_at" | "updated_at" => {}
                other => self.unknown_key(k, other, INSTANCE_KEYS, "in a plugin instance"),
            }
        }
        let Some(name) = name else {
            self.error(
                item.pos,
                "a plugin instance needs a `name` (the custom plugin it runs)",
            );
            return None;
        };
        p.name = name;
        Some(p)
    }

    /// Records where each config key and list item is written, by dotted path (list items
    /// are numbered from 1, as Kong numbers them in errors).
    fn collect_spans(&self, node: &Node, path: &str, out: &mut Vec<(String, Span)>) {
        match &node.value {
            NodeValue::Map(entries) => {
                for (k, v) in entries {
                    let p = format!("{path}.{}", k.key_text());
                    out.push((p.clone(), self.span(k.pos)));
                    self.collect_spans(v, &p, out);
                }
            }
            NodeValue::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    let p = format!("{path}.{}", i + 1);
                    out.push((p.clone(), self.span(v.pos)));
                    self.collect_spans(v, &p, out);
                }
            }
            _ => {}
        }
    }

    /// Substitutes templates in every string of a JSON value; `node` is the same value as
    /// written, for error positions.
    fn substitute_json(
        &mut self,
        value: &serde_json::Value,
        node: &Node,
        ok: &mut bool,
    ) -> serde_json::Value {
        use serde_json::Value;
        match (value, &node.value) {
            (Value::String(s), _) => match self.substitute(s, node.pos) {
                Some(v) => Value::String(v),
                None => {
                    *ok = false;
                    value.clone()
                }
            },
            (Value::Array(items), NodeValue::Seq(nodes)) => Value::Array(
                items
                    .iter()
                    .zip(nodes)
                    .map(|(i, n)| self.substitute_json(i, n, ok))
                    .collect(),
            ),
            (Value::Object(map), NodeValue::Map(entries)) => {
                let mut out = serde_json::Map::new();
                for (k, n) in entries {
                    let key = k.key_text();
                    if let Some(v) = map.get(&key) {
                        out.insert(key, self.substitute_json(v, n, ok));
                    }
                }
                Value::Object(out)
            }
            _ => value.clone(),
        }
    }
}

/// Whether a string anywhere in `v` holds a `${{ … }}` template.
fn holds_template(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => env::has_template(s),
        Value::Array(items) => items.iter().any(holds_template),
        Value::Object(map) => map.values().any(holds_template),
        _ => false,
    }
}

/// `path` with `.` and `name/..` pairs removed, for display: the file was read (and its
/// containment checked) through the path as written.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.iter().collect()
}

fn scalar_text(v: &Node) -> String {
    match &v.value {
        NodeValue::Str { value, .. } => format!("\"{value}\""),
        NodeValue::Seq(_) | NodeValue::Map(_) => v.kind().to_string(),
        _ => v.key_text(),
    }
}

/// The 1-based position just after `bytes`.
fn pos_at_end(bytes: &[u8]) -> Pos {
    let line = bytes.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    Pos {
        line,
        column: bytes.len() - line_start + 1,
    }
}

/// The known key closest to `key`, when it is close enough to be a likely typo.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
