//! `extra-files`: a plugin directory holds only handler.lua and schema.lua.

use std::sync::Arc;

use super::Rule;
use crate::lint::{Context, Diagnostic};
use crate::model::Span;

pub const RULE: Rule = Rule {
    id: "extra-files",
    summary: "a plugin directory holds files besides handler.lua and schema.lua",
    check: Some(check),
};

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    for p in &ctx.plugins {
        for f in &p.decl.extra_files {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            out.push(
                Diagnostic::error(
                    RULE.id,
                    Span::file_start(Arc::new(f.clone())),
                    format!(
                        "`{name}` in the directory of `{}`: a streamed plugin is handler.lua and schema.lua only",
                        p.decl.name
                    ),
                )
                .with_hint("streamed plugins cannot use DAOs, custom APIs, migrations or extra modules; move the logic into handler.lua"),
            );
        }
    }
}
