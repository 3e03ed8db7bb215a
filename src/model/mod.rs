//! The values the pipeline passes along: the desired state read from state files, and the
//! diagnostics any stage can report about them.
//!
//! `state` builds a [`DesiredState`]; `lint`, the planner and the local control plane read it.
//! The plan's vocabulary — entity kinds, actions, step and target kinds — lives here too, so
//! the planner, the executor, the backends and the local control plane share one definition.

mod diagnostic;
pub mod hash;
pub mod live;
pub mod mask;
mod vocab;

pub use diagnostic::{Diagnostic, Severity, Span};
pub use live::{
    LiveConfig, LiveCustomPlugin, LivePlugin, LiveState, ScopeEntity, ScopeKind, Unmanaged,
};
pub use mask::mask_secrets;
pub use vocab::{Action, EntityKind, SourceInfo, StepKind, TargetInfo, TargetKind};

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

/// The longest tag Konnect accepts (it answers `length must be <= 128` past it); Kong Gateway
/// has no limit.
pub const KONNECT_TAG_LIMIT: usize = 128;

/// Everything the state files declare, merged.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    /// Custom plugins, in the order declared (files in the order given).
    pub custom_plugins: Vec<CustomPluginDecl>,
    /// Plugin instances, in the order declared.
    pub plugins: Vec<InstanceDecl>,
    /// `_info.select_tags` of every file, merged, sorted and de-duplicated.
    pub select_tags: Vec<String>,
    /// `_konnect.control_plane_name`, when a file names one.
    pub konnect_control_plane_name: Option<String>,
    /// The state files read, in order.
    pub files: Vec<Arc<PathBuf>>,
    /// Values substituted from the environment: secrets, never to be shown.
    pub secrets: Vec<String>,
    /// The same values with the variable each came from, so a plan file can keep the
    /// template instead of the value.
    pub secret_vars: Vec<(String, String)>,
}

impl DesiredState {
    /// The custom plugin declared with `name`.
    pub fn custom_plugin(&self, name: &str) -> Option<&CustomPluginDecl> {
        self.custom_plugins.iter().find(|c| c.name == name)
    }

    /// Replaces every secret value inside `text` with `[masked]` (see `mask`).
    pub fn mask(&self, text: &str) -> String {
        mask_secrets(text, &self.secrets)
    }
}

/// Where a plugin's Lua source came from.
#[derive(Debug, Clone, PartialEq)]
pub enum LuaOrigin {
    /// A file of a plugin directory (`path:`): positions inside it are its own.
    File(Arc<PathBuf>),
    /// Inline in a state file: Lua line `n` is at `line_offset + n` of the state file.
    Inline {
        file: Arc<PathBuf>,
        line_offset: usize,
    },
}

impl LuaOrigin {
    /// The span of Lua line/column `line`/`column` (1-based) in the file that holds it.
    pub fn span(&self, line: usize, column: usize) -> Span {
        match self {
            LuaOrigin::File(f) => Span::new(f.clone(), line, column),
            LuaOrigin::Inline { file, line_offset } => {
                Span::new(file.clone(), line_offset + line, column)
            }
        }
    }
}

/// One Lua source file of a custom plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct LuaSource {
    /// The exact bytes (as text) that are uploaded and hashed.
    /// (Shared: the plan's records of a plugin refer to the same text.)
    pub text: std::sync::Arc<str>,
    pub origin: LuaOrigin,
}

/// Where each value of an instance's config is written (line and column in the instance's
/// file), by dotted path; the first place a path is written wins. Sorted by path for lookups
/// (lint looks one up per finding, and a config can have 100,000 keys), and compact: a large
/// state holds one per instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigSpans(Vec<(Box<str>, u32, u32)>);

impl ConfigSpans {
    /// From `(path, line, column)` entries in the order they are written.
    pub fn new(entries: impl IntoIterator<Item = (String, usize, usize)>) -> ConfigSpans {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let mut all: Vec<(Box<str>, u32, u32)> = entries
            .into_iter()
            .map(|(p, l, c)| (p.into_boxed_str(), clamp(l), clamp(c)))
            .collect();
        // Stable: of equal paths the first written stays first, and is kept.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.dedup_by(|later, first| later.0 == first.0);
        all.shrink_to_fit();
        ConfigSpans(all)
    }

    /// Line and column of `path`.
    pub fn get(&self, path: &str) -> Option<(usize, usize)> {
        let i = self.0.binary_search_by(|(p, _, _)| (**p).cmp(path)).ok()?;
        let (_, line, column) = &self.0[i];
        Some((*line as usize, *column as usize))
    }

    /// Every written position (line, column).
    pub fn positions(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.0.iter().map(|(_, l, c)| (*l as usize, *c as usize))
    }
}

/// A custom plugin declared in a state file.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomPluginDecl {
    pub name: String,
    pub handler: LuaSource,
    pub schema: LuaSource,
    /// The plugin this one is a new version of.
    pub replaces: Option<String>,
    /// Sorted, de-duplicated.
    pub tags: Vec<String>,
    /// Sync never deletes a protected plugin.
    pub protected: bool,
    /// `true` (the default): a streamed plugin, uploaded whole through `custom-plugins`.
    /// `false`: a Konnect hybrid-mode plugin: only its schema goes to the control plane
    /// (`plugin-schemas`); its files go to the data planes (`plugsync bundle`).
    pub streamed: bool,
    /// An id given in the state file (decK files may carry one).
    pub id: Option<String>,
    /// The plugin directory for `path:` plugins.
    pub dir: Option<PathBuf>,
    /// Files in the plugin directory other than `handler.lua` and `schema.lua`.
    pub extra_files: Vec<PathBuf>,
    /// Where the entry starts (its `name`).
    pub span: Span,
    /// Where `replaces` is written, when it is.
    pub replaces_span: Option<Span>,
}

/// Which entity an instance is bound to; all `None` is a global instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    pub service: Option<String>,
    pub route: Option<String>,
    pub consumer: Option<String>,
    pub consumer_group: Option<String>,
}

impl Scope {
    /// The names of the scope fields that are set (`service`, `route`, …).
    pub fn bound(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.service.is_some() {
            out.push("service");
        }
        if self.route.is_some() {
            out.push("route");
        }
        if self.consumer.is_some() {
            out.push("consumer");
        }
        if self.consumer_group.is_some() {
            out.push("consumer_group");
        }
        out
    }

    /// Whether the instance is global.
    pub fn is_global(&self) -> bool {
        self.bound().is_empty()
    }
}

/// A plugin instance declared in a state file.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceDecl {
    /// The custom plugin it runs.
    pub name: String,
    pub instance_name: Option<String>,
    /// The config with environment values substituted (`None` when not given).
    pub config: Option<Value>,
    /// The config as written, templates kept, when it differs from `config` (see
    /// [`InstanceDecl::config_as_written`]).
    pub config_template: Option<Value>,
    pub enabled: Option<bool>,
    pub protocols: Option<Vec<String>>,
    pub scope: Scope,
    pub condition: Option<String>,
    pub ordering: Option<Value>,
    /// Sorted, de-duplicated.
    pub tags: Vec<String>,
    /// An id given in the state file.
    pub id: Option<String>,
    /// Where the entry starts.
    pub span: Span,
    /// Where each config value is written, by dotted path (`config.redis.host`).
    pub config_spans: ConfigSpans,
}

impl InstanceDecl {
    /// An instance of plugin `name` declared at `span`, nothing else set yet.
    pub fn new(name: String, span: Span) -> InstanceDecl {
        InstanceDecl {
            name,
            instance_name: None,
            config: None,
            config_template: None,
            enabled: None,
            protocols: None,
            scope: Scope::default(),
            condition: None,
            ordering: None,
            tags: Vec::new(),
            id: None,
            span,
            config_spans: ConfigSpans::default(),
        }
    }

    /// Validates the instance as Kong does on insert: its config, its protocols (the schema's
    /// default when none are declared) and its scope together, the schema's entity checks
    /// included. Returns the filled config. Lint and the diff both validate through here, so an
    /// instance that lints is one the plan accepts.
    pub fn validate(
        &self,
        schema: &crate::schema::PluginSchema,
    ) -> Result<Value, Vec<crate::schema::validate::FieldError>> {
        use crate::schema::validate;
        let protocols = match &self.protocols {
            Some(p) => Value::from(p.clone()),
            None => validate::default_protocols(schema),
        };
        validate::validate_plugin(
            schema,
            self.config.as_ref(),
            Some(&protocols),
            &self.scope.bound(),
        )
    }

    /// The config as written, templates kept: what a plan file stores.
    pub fn config_as_written(&self) -> Option<&Value> {
        self.config_template.as_ref().or(self.config.as_ref())
    }

    /// The span of the config value at `path` (or its closest written ancestor), falling back to
    /// the instance itself.
    pub fn span_of(&self, path: &str) -> Span {
        let mut p = path;
        loop {
            if let Some((line, column)) = self.config_spans.get(p) {
                return Span::new(self.span.file.clone(), line, column);
            }
            match p.rfind('.') {
                Some(i) => p = &p[..i],
                None => return self.span.clone(),
            }
        }
    }

    /// A short label for messages: `name` plus instance name or scope.
    pub fn label(&self) -> String {
        if let Some(n) = &self.instance_name {
            return format!("{} ({n})", self.name);
        }
        let mut parts = Vec::new();
        for (k, v) in [
            ("service", &self.scope.service),
            ("route", &self.scope.route),
            ("consumer", &self.scope.consumer),
            ("consumer_group", &self.scope.consumer_group),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        if parts.is_empty() {
            format!("{} (global)", self.name)
        } else {
            format!("{} ({})", self.name, parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_spans_keep_the_first_place_a_path_is_written() {
        let spans = ConfigSpans::new([
            ("config.b".to_string(), 4, 5),
            ("config".to_string(), 2, 3),
            ("config.b".to_string(), 9, 9),
            ("config.a.c".to_string(), 3, 7),
        ]);
        assert_eq!(spans.get("config.b"), Some((4, 5)));
        assert_eq!(spans.get("config"), Some((2, 3)));
        assert_eq!(spans.get("config.a.c"), Some((3, 7)));
        assert_eq!(spans.get("config.a"), None);
        assert_eq!(spans.positions().count(), 3);
        let file = std::sync::Arc::new(std::path::PathBuf::from("s.yaml"));
        let decl = InstanceDecl {
            config_spans: spans,
            ..InstanceDecl::new("p".into(), Span::new(file.clone(), 1, 3))
        };
        // A path not written itself points at its closest written ancestor, in the same file.
        assert_eq!(decl.span_of("config.a.d"), Span::new(file.clone(), 2, 3));
        assert_eq!(decl.span_of("config.a.c"), Span::new(file.clone(), 3, 7));
        assert_eq!(decl.span_of("other"), Span::new(file, 1, 3));
    }
}
