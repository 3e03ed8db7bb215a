//! The Terraform-like text rendering of a plan, for terminals and logs.
//!
//! Layout: a header naming the target, the changed custom plugins (symbol, name, update path,
//! schema changes, tag changes, Lua diffs), the changed instances (symbol, plugin, scope, id,
//! field-level changes), the banners, and the summary line. Colour only when asked for.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::model::{Action, TargetKind};
use crate::plan::{CustomPluginEntry, Plan, PluginEntry};
use crate::ui::{paint, Style};

use super::{
    banners, compact, has_changes, instance_label, leaf_changes, lua_views, schema_change_line,
    shows_update_path, summary_line, symbol, target_kind, Banner, BannerKind, LuaView,
};

/// Options of the text rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// Use ANSI colours (the caller decides: a TTY and no `NO_COLOR`).
    pub color: bool,
}

/// The plan as Terraform-like text, ending with the summary line and a newline.
pub fn text(plan: &Plan, opts: &TextOptions) -> String {
    let color = opts.color;
    let mut out = String::new();
    header(&mut out, plan);

    if has_changes(plan) {
        if !plan.custom_plugins.is_empty() {
            out.push_str("\nCustom plugins:\n");
            for c in &plan.custom_plugins {
                out.push('\n');
                custom_plugin(&mut out, c, color);
            }
        }
        if !plan.plugins.is_empty() {
            out.push_str("\nPlugin instances:\n");
            for p in &plan.plugins {
                out.push('\n');
                instance(&mut out, p, color);
            }
        }
        if let Some(order) = super::rollout_order(plan) {
            out.push_str("\nOrder (hybrid mode):\n");
            for line in order {
                out.push_str(&format!("  {}\n", clean(&line)));
            }
        }
        let clean_owned = |s: &str| clean(s).into_owned();
        for b in banners(plan, &clean_owned, &clean_owned) {
            out.push('\n');
            banner(&mut out, &b, color);
        }
    }

    out.push('\n');
    out.push_str(&paint(color, Style::Bold, &summary_line(plan)));
    out.push('\n');
    out
}

fn header(out: &mut String, plan: &Plan) {
    let t = &plan.target;
    if t.kind == TargetKind::Git {
        // An offline review: the base revision stands where a control plane would.
        let _ = write!(
            out,
            "Review of the state against {} (commit {})",
            clean(&t.control_plane),
            clean(&t.address)
        );
    } else {
        let _ = write!(
            out,
            "Plan for {} control plane \"{}\"",
            clean(target_kind(t.kind)),
            clean(&t.control_plane)
        );
        if !t.address.is_empty() {
            let _ = write!(out, " at {}", clean(&t.address));
        }
    }
    out.push('\n');
    let mut facts = Vec::new();
    if let Some(commit) = plan.source.git_commit.as_deref() {
        let dirty = if plan.source.dirty {
            " (with uncommitted changes)"
        } else {
            ""
        };
        facts.push(format!("state from commit {}{dirty}", clean(commit)));
    } else if plan.source.dirty {
        facts.push("state with uncommitted changes".to_string());
    }
    if !plan.select_tags.is_empty() {
        let tags: Vec<Cow<str>> = plan.select_tags.iter().map(|t| clean(t)).collect();
        facts.push(format!("select tags: {}", tags.join(", ")));
    }
    if !facts.is_empty() {
        let _ = writeln!(out, "{}", capitalise(&facts.join("; ")));
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn action_style(action: Action) -> Style {
    match action {
        Action::Create => Style::Green,
        Action::Update => Style::Yellow,
        Action::Migrate => Style::Cyan,
        Action::Delete => Style::Red,
        Action::Rollout => Style::Bold,
    }
}

fn custom_plugin(out: &mut String, c: &CustomPluginEntry, color: bool) {
    let sym = paint(color, action_style(c.action), symbol(c.action));
    let _ = write!(out, "  {sym} {}", clean(&c.name));
    if let Some(r) = c.replaces.as_deref() {
        let _ = write!(out, " (replaces {})", clean(r));
    }
    out.push('\n');
    if c.action == Action::Delete {
        return;
    }
    if shows_update_path(c) {
        let _ = writeln!(out, "      update path: {}", c.update_path.as_str());
    }
    if !c.schema_changes.is_empty() {
        let against = super::compared_with(c);
        if against == c.name {
            out.push_str("      schema changes:\n");
        } else {
            let _ = writeln!(out, "      schema changes (against {}):", clean(against));
        }
        for ch in &c.schema_changes {
            let _ = writeln!(out, "        {}", clean(&schema_change_line(ch)));
        }
    }
    if let Some((old, new)) = &c.detail.tags {
        let _ = writeln!(
            out,
            "      tags: {} → {}",
            clean(&serde_json::json!(old).to_string()),
            clean(&serde_json::json!(new).to_string())
        );
    }
    for (file, view) in lua_views(c) {
        match view {
            LuaView::New {
                bytes,
                lines,
                sha256,
                inline,
            } => {
                let _ = write!(
                    out,
                    "      {file}: new file, {bytes} bytes, {}",
                    crate::lint::report::count(lines, "line")
                );
                if let Some(sha) = sha256 {
                    let _ = write!(out, ", sha256 {}", clean(&sha));
                }
                out.push('\n');
                if let Some(d) = inline {
                    diff_lines(out, &d, color);
                }
            }
            LuaView::Changed(d) => {
                let _ = writeln!(out, "      {file}:");
                diff_lines(out, &d, color);
            }
        }
    }
}

fn diff_lines(out: &mut String, diff: &str, color: bool) {
    for line in diff.lines() {
        let style = if line.starts_with("+++") || line.starts_with("---") {
            Some(Style::Bold)
        } else if line.starts_with('+') {
            Some(Style::Green)
        } else if line.starts_with('-') {
            Some(Style::Red)
        } else if line.starts_with("@@") {
            Some(Style::Cyan)
        } else {
            None
        };
        let line = clean(line);
        let shown = match style {
            Some(s) => paint(color, s, &line),
            None => line.into_owned(),
        };
        let _ = writeln!(out, "        {shown}");
    }
}

fn instance(out: &mut String, p: &PluginEntry, color: bool) {
    let sym = paint(color, action_style(p.action), symbol(p.action));
    let _ = write!(out, "  {sym} {}", clean(&p.name));
    if let Some(from) = p.from.as_deref() {
        let _ = write!(out, " ← {}", clean(from));
    }
    let _ = writeln!(out, " ({})", clean(&instance_label(p)));
    match p.action {
        Action::Delete => {}
        Action::Create => {
            for l in leaf_changes(p) {
                let _ = writeln!(
                    out,
                    "      {} = {}",
                    clean(&l.path),
                    clean(&compact(l.new.as_ref()))
                );
            }
        }
        Action::Update | Action::Migrate | Action::Rollout => {
            for l in leaf_changes(p) {
                let _ = writeln!(
                    out,
                    "      {}: {} → {}",
                    clean(&l.path),
                    clean(&compact(l.old.as_ref())),
                    clean(&compact(l.new.as_ref()))
                );
            }
        }
    }
}

fn banner(out: &mut String, b: &Banner, color: bool) {
    let word = match b.kind {
        BannerKind::Deletion | BannerKind::Breaking => "Warning",
        BannerKind::MaintenanceWindow => "Maintenance window",
    };
    out.push_str("╷\n");
    let title = format!("{word}: {}", b.title);
    let _ = writeln!(out, "│ {}", paint(color, Style::Bold, &title));
    out.push_str("│\n");
    for (i, para) in b.body.iter().enumerate() {
        if i > 0 {
            out.push_str("│\n");
        }
        let _ = writeln!(out, "│ {para}");
    }
    if !b.items.is_empty() {
        out.push_str("│\n");
        for item in &b.items {
            let _ = writeln!(out, "│   - {item}");
        }
    }
    out.push_str("╵\n");
}

/// Text from the plan with control characters (other than tab) written as escapes, so that a
/// name or a Lua line cannot move the cursor or change the terminal's colours.
fn clean(s: &str) -> Cow<'_, str> {
    if s.chars().any(|c| c.is_control() && c != '\t') {
        Cow::Owned(
            s.chars()
                .map(|c| {
                    if c.is_control() && c != '\t' {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}
