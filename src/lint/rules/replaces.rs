//! `replaces`: a new version replaces a plugin that is no longer declared, once, without cycles.

use std::collections::BTreeMap;

use super::Rule;
use crate::lint::{Context, Diagnostic};

pub const RULE: Rule = Rule {
    id: "replaces",
    summary: "`replaces` names a plugin also declared in the state, names itself, forms a cycle, or two plugins replace the same one",
    check: Some(check),
};

fn check(ctx: &Context<'_>, out: &mut Vec<Diagnostic>) {
    let decls = &ctx.state.custom_plugins;
    let mut replaced_by: BTreeMap<&str, &str> = BTreeMap::new();
    for c in decls {
        let Some(old) = c.replaces.as_deref() else {
            continue;
        };
        let span = c.replaces_span.clone().unwrap_or_else(|| c.span.clone());
        if old == c.name {
            out.push(Diagnostic::error(
                RULE.id,
                span,
                format!("`{}` replaces itself", c.name),
            ));
            continue;
        }
        if let Some(prev) = replaced_by.insert(old, &c.name) {
            out.push(Diagnostic::error(
                RULE.id,
                span.clone(),
                format!("`{}` and `{prev}` both replace `{old}`", c.name),
            ));
        }
        if let Some(other) = decls.iter().find(|d| d.name == old) {
            out.push(
                Diagnostic::error(
                    RULE.id,
                    span,
                    format!(
                        "`{}` replaces `{old}`, which is still declared at {}",
                        c.name, other.span
                    ),
                )
                .with_hint(format!(
                    "remove `{old}` from the state: plugsync moves its instances to `{}` and then deletes it",
                    c.name
                )),
            );
        }
    }
    // Cycles: follow `replaces` from each plugin.
    let by_name: BTreeMap<&str, Option<&str>> = decls
        .iter()
        .map(|c| (c.name.as_str(), c.replaces.as_deref()))
        .collect();
    for c in decls {
        let mut seen = vec![c.name.as_str()];
        let mut cur = c.replaces.as_deref();
        while let Some(n) = cur {
            if n == c.name && seen.len() > 1 {
                out.push(Diagnostic::error(
                    RULE.id,
                    c.span.clone(),
                    format!("`replaces` forms a cycle: {} → {}", seen.join(" → "), n),
                ));
                break;
            }
            if seen.contains(&n) {
                break;
            }
            seen.push(n);
            cur = by_name.get(n).copied().flatten();
        }
    }
}
