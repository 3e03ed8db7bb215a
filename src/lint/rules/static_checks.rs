//! `init-worker`, `timer`, `filesystem`, `require`: what the Lua AST shows a streamed plugin
//! may not do.

use super::Rule;
use crate::lint::{Context, Diagnostic};
use crate::lua::Check;

pub const INIT_WORKER: Rule = Rule {
    id: "init-worker",
    summary: "the handler implements the init_worker phase",
    check: Some(init_worker),
};
pub const TIMER: Rule = Rule {
    id: "timer",
    summary: "the handler creates timers (ngx.timer.at, ngx.timer.every, kong.timer)",
    check: Some(timer),
};
pub const FILESYSTEM: Rule = Rule {
    id: "filesystem",
    summary:
        "the handler or schema touches the filesystem or processes (io.*, os.execute, loadfile, …)",
    check: Some(filesystem),
};
pub const REQUIRE: Rule = Rule {
    id: "require",
    summary: "the schema or handler requires a module outside the sandbox profile's allowlist (plus --sandbox-requires); every form of require counts",
    check: Some(require),
};

fn hint(check: Check) -> Option<&'static str> {
    Some(match check {
        Check::InitWorker => "streamed plugins cannot run in the init_worker phase; do the work lazily in access or another request phase",
        Check::Timer => "streamed plugins cannot create timers",
        Check::Filesystem => "streamed plugins have no filesystem or process access",
        Check::Require => "Kong's allowlists are fixed per version (docs/kong-fidelity.md): pick the profile your Kong runs with --sandbox-profile or --kong-version, or add a module your nodes allow with --sandbox-requires NAME; a schema may require only bit, string.buffer, table.*, kong.db.schema.typedefs and the redis schema modules",
        _ => return None,
    })
}

fn emit(ctx: &Context<'_>, check: Check, out: &mut Vec<Diagnostic>) {
    let rule = super::for_check(check).id;
    for p in &ctx.plugins {
        for (what, src, findings) in [
            ("handler", &p.decl.handler, &p.handler_findings),
            ("schema", &p.decl.schema, &p.schema_findings),
        ] {
            for f in findings.iter().filter(|f| f.rule == check) {
                let span = src.origin.span(f.line, f.column);
                let message = format!("{what} of `{}`: {}", p.decl.name, f.message);
                let mut d = if f.warning {
                    Diagnostic::warning(rule, span, message)
                } else {
                    Diagnostic::error(rule, span, message)
                };
                if f.message.contains("hybrid-mode schema") {
                    d = d.with_hint("the control plane loads a hybrid-mode schema on its own: write typedef values such as `{ type = \"string\" }` inline instead of requiring modules");
                } else if let Some(h) = hint(check) {
                    d = d.with_hint(h);
                }
                out.push(d);
            }
        }
    }
}

fn init_worker(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    emit(ctx, Check::InitWorker, out);
}
fn timer(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    emit(ctx, Check::Timer, out);
}
fn filesystem(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    emit(ctx, Check::Filesystem, out);
}
fn require(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    emit(ctx, Check::Require, out);
}
