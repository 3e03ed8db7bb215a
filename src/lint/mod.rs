//! `plugsync lint`: every offline check of the state, as [`Diagnostic`]s.
//!
//! Loading (`state`) reports the `yaml` and `duplicate-name` rules; this module evaluates each
//! custom plugin once in the Lua sandbox ([`analyse`]) and runs the rules of [`rules::RULES`]
//! over the results. The same analysis serves the planner and the local control plane, so a
//! plugin that lints clean is one they accept. [`cache`] keeps each plugin's analysis across
//! runs, keyed by the exact bytes of its files, the sandbox profile and the binary.

pub mod cache;
pub mod report;
pub mod rules;
pub mod upload;

use std::collections::BTreeMap;

use crate::lua::{self, Finding, HandlerInfo, SandboxError, SchemaCache};
use crate::model::{CustomPluginDecl, DesiredState};
pub use crate::model::{Diagnostic, Severity};
use crate::schema::PluginSchema;

/// Largest handler or schema a control plane accepts (Konnect: 100 KB per file).
pub const MAX_LUA_BYTES: usize = 102_400;

/// Options of a lint run.
#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// Modules a handler may `require` besides the profile's allowlist (`--sandbox-requires`).
    pub sandbox_requires: Vec<String>,
    /// Kong's sandbox environment the plugins are checked against.
    pub profile: lua::ProfileName,
    /// Where the outcomes of the Lua work are kept across runs (`None`: analyse every plugin).
    pub cache: Option<cache::LintCache>,
}

/// What the sandbox and the static checks made of one custom plugin.
#[derive(Debug)]
pub struct PluginAnalysis<'a> {
    pub decl: &'a CustomPluginDecl,
    /// Syntax errors of handler.lua (positions within it).
    pub handler_syntax: Vec<Finding>,
    /// Syntax errors of schema.lua.
    pub schema_syntax: Vec<Finding>,
    /// The evaluated schema; `None` when it has syntax errors.
    pub schema: Option<Result<std::sync::Arc<PluginSchema>, SandboxError>>,
    /// The loaded handler; `None` when it has syntax errors.
    pub handler: Option<Result<HandlerInfo, SandboxError>>,
    /// Static findings in handler.lua.
    pub handler_findings: Vec<Finding>,
    /// Static findings in schema.lua.
    pub schema_findings: Vec<Finding>,
}

impl PluginAnalysis<'_> {
    /// The schema, when it evaluated.
    pub fn schema(&self) -> Option<&PluginSchema> {
        match &self.schema {
            Some(Ok(s)) => Some(s),
            _ => None,
        }
    }
}

/// Everything the rules look at.
#[derive(Debug)]
pub struct Context<'a> {
    pub state: &'a DesiredState,
    pub options: &'a LintOptions,
    /// One analysis per declared custom plugin, in declaration order.
    pub plugins: Vec<PluginAnalysis<'a>>,
}

impl<'a> Context<'a> {
    /// The analysis of the custom plugin named `name` (the first one declared).
    pub fn plugin(&self, name: &str) -> Option<&PluginAnalysis<'a>> {
        self.plugins.iter().find(|p| p.decl.name == name)
    }

    /// Evaluated schemas by plugin name (the first declaration of a name wins).
    pub fn schemas(&self) -> BTreeMap<&str, &PluginSchema> {
        let mut out = BTreeMap::new();
        for p in &self.plugins {
            if let Some(s) = p.schema() {
                out.entry(p.decl.name.as_str()).or_insert(s);
            }
        }
        out
    }
}

/// Evaluates one custom plugin: syntax, sandbox evaluation and static checks; from the cache
/// when `options` has one that holds the outcome.
pub fn analyse<'a>(decl: &'a CustomPluginDecl, options: &LintOptions) -> PluginAnalysis<'a> {
    analyse_with(decl, options, &SchemaCache::new())
}

/// [`analyse`], evaluating the schema through `schemas` (the run's cache: a schema evaluated
/// once is not evaluated again, and the plan reads it from there). An outcome served by the
/// lint cache across runs (`options.cache`) puts its schema into `schemas` too, so the plan
/// evaluates nothing lint did not.
pub fn analyse_with<'a>(
    decl: &'a CustomPluginDecl,
    options: &LintOptions,
    schemas: &SchemaCache,
) -> PluginAnalysis<'a> {
    let Some(store) = &options.cache else {
        return evaluate(decl, options, schemas).into_analysis(decl);
    };
    let key = store.key(decl, options);
    if let Some(hit) = store.get(&key) {
        if let Some(schema) = &hit.schema {
            schemas.insert(&decl.schema.text, schema.clone());
        }
        return hit.into_analysis(decl);
    }
    let outcome = evaluate(decl, options, schemas);
    store.put(&key, &outcome);
    outcome.into_analysis(decl)
}

/// The Lua work of [`analyse`], never served by the lint cache.
fn evaluate(
    decl: &CustomPluginDecl,
    options: &LintOptions,
    schemas: &SchemaCache,
) -> cache::Outcome {
    let handler_syntax = lua::syntax_errors(&decl.handler.text);
    let schema_syntax = lua::syntax_errors(&decl.schema.text);
    let schema = schema_syntax
        .is_empty()
        .then(|| schemas.evaluate(&decl.schema.text));
    // A hybrid-mode handler is installed on the data planes as a file and runs with Kong's full
    // environment: only its syntax is checked here.
    let handler = (decl.streamed && handler_syntax.is_empty()).then(|| {
        lua::load_handler(
            &decl.handler.text,
            options.profile,
            &options.sandbox_requires,
        )
    });
    let handler_findings = if decl.streamed && handler_syntax.is_empty() {
        lua::handler_findings(
            &decl.handler.text,
            options.profile,
            &options.sandbox_requires,
        )
    } else {
        Vec::new()
    };
    let schema_findings = if schema_syntax.is_empty() && !decl.streamed {
        lua::hybrid_schema_findings(&decl.schema.text)
    } else if schema_syntax.is_empty() {
        lua::schema_findings(&decl.schema.text)
    } else {
        Vec::new()
    };
    cache::Outcome {
        handler_syntax,
        schema_syntax,
        schema,
        handler,
        handler_findings,
        schema_findings,
    }
}

/// Analyses every custom plugin, spread over the machine's cores.
pub fn analyse_all<'a>(state: &'a DesiredState, options: &LintOptions) -> Vec<PluginAnalysis<'a>> {
    analyse_all_with(state, options, &SchemaCache::new())
}

/// [`analyse_all`] through the run's schema cache.
pub fn analyse_all_with<'a>(
    state: &'a DesiredState,
    options: &LintOptions,
    schemas: &SchemaCache,
) -> Vec<PluginAnalysis<'a>> {
    let decls = &state.custom_plugins;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(decls.len().max(1));
    if threads <= 1 {
        return decls
            .iter()
            .map(|d| analyse_with(d, options, schemas))
            .collect();
    }
    let chunk = decls.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = decls
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|d| analyse_with(d, options, schemas))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("lint worker panicked"))
            .collect()
    })
}

/// Runs every rule over the state; returns the diagnostics sorted by place.
pub fn lint(state: &DesiredState, options: &LintOptions) -> Vec<Diagnostic> {
    lint_with(state, options, &SchemaCache::new())
}

/// [`lint`], evaluating the schemas through `schemas`: afterwards the cache holds the schema of
/// every declared custom plugin whose `schema.lua` compiles, for the plan to read.
pub fn lint_with(
    state: &DesiredState,
    options: &LintOptions,
    schemas: &SchemaCache,
) -> Vec<Diagnostic> {
    // Instance configs run their schemas' custom functions (idempotent).
    crate::lua::custom::install();
    let ctx = Context {
        state,
        options,
        plugins: analyse_all_with(state, options, schemas),
    };
    let mut out = Vec::new();
    for rule in rules::RULES {
        if let Some(check) = rule.check {
            check(&ctx, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests;
