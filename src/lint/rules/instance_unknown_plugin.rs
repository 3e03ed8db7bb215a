//! `instance-unknown-plugin`: an instance must run a custom plugin declared in the state.

use super::Rule;
use crate::lint::{Context, Diagnostic};

pub const RULE: Rule = Rule {
    id: crate::state::RULE_UNKNOWN_PLUGIN,
    summary: "an instance names a plugin not declared in the state",
    check: Some(check),
};

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let declared: std::collections::HashSet<&str> = ctx
        .state
        .custom_plugins
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    for inst in &ctx.state.plugins {
        if declared.contains(inst.name.as_str()) {
            continue;
        }
        let mut d = Diagnostic::error(
            RULE.id,
            inst.span.clone(),
            format!(
                "plugin instance runs `{}`, which no state file declares as a custom plugin",
                inst.name
            ),
        );
        let replaced_by = ctx
            .state
            .custom_plugins
            .iter()
            .find(|c| c.replaces.as_deref() == Some(inst.name.as_str()));
        d = match replaced_by {
            Some(c) => d.with_hint(format!(
                "`{}` replaces `{}`: name the new version here",
                c.name, inst.name
            )),
            None => d.with_hint(
                "declare it under custom_plugins (plugsync manages streamed custom plugins only)",
            ),
        };
        out.push(d);
    }
}
