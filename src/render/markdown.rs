//! The Markdown rendering of a plan, for pull-request comments and GitHub step summaries.
//!
//! The report is a list of blocks, most important first: title, summary table, banners, the
//! table of changed custom plugins, the table of changed instances (one block per row), then a
//! `<details>` block per changed plugin with its schema changes and Lua diffs. The bulky diffs
//! come last so that a report cut to its size limit loses them first; the cut always falls
//! between blocks and ends with a note saying what was left out.

use crate::model::{Action, TargetKind};
use crate::plan::{CustomPluginEntry, Plan, PluginEntry};

use super::{
    banners, compact, has_changes, is_field, leaf_changes, lua_views, scope_label,
    shows_update_path, symbol, target_kind, Banner, BannerKind, LuaView,
};

/// The size a GitHub PR comment safely holds.
pub const DEFAULT_MAX_CHARS: usize = 60_000;

/// Options of the Markdown rendering.
#[derive(Debug, Clone, Copy)]
pub struct MarkdownOptions {
    /// Upper bound of the result's length in bytes of UTF-8 (never fewer than its characters),
    /// the truncation note included.
    pub max_chars: usize,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        Self {
            max_chars: DEFAULT_MAX_CHARS,
        }
    }
}

/// The plan as Markdown, at most `opts.max_chars` bytes long.
pub fn markdown(plan: &Plan, opts: &MarkdownOptions) -> String {
    fit(&blocks(plan), opts.max_chars)
}

/// The report's blocks, in order; each ends with a newline and can be cut after.
fn blocks(plan: &Plan) -> Vec<String> {
    let mut out = vec![title(plan), summary(plan)];
    if !has_changes(plan) {
        out.push("**No changes.** The control plane matches the state.\n".to_string());
        return out;
    }
    let label = |s: &str| text(s);
    for b in banners(plan, &code, &label) {
        out.push(banner(&b));
    }
    if !plan.custom_plugins.is_empty() {
        let mut table = String::from(
            "\n### Custom plugins\n\n| | plugin | action | update path |\n|---|---|---|---|\n",
        );
        for c in &plan.custom_plugins {
            table.push_str(&plugin_row(c));
        }
        out.push(table);
    }
    if !plan.plugins.is_empty() {
        out.push(
            "\n### Plugin instances\n\n| | plugin | instance | scope | id | changes |\n\
             |---|---|---|---|---|---|\n"
                .to_string(),
        );
        // One block per row: a long table is cut between rows and stays a table.
        out.extend(plan.plugins.iter().map(instance_row));
    }
    if let Some(order) = super::rollout_order(plan) {
        let mut block = String::from(
            "\n### Order (hybrid mode)\n\nplugsync performs the control-plane steps; the data-plane rollouts are yours.\n\n",
        );
        for line in order {
            block.push_str(&text(&line));
            block.push('\n');
        }
        out.push(block);
    }
    let mut details = plan.custom_plugins.iter().filter_map(details);
    if let Some(first) = details.next() {
        // The heading travels with the first block so that a cut never leaves it alone.
        out.push(format!("\n### Custom plugin details\n{first}"));
        out.extend(details);
    }
    out
}

fn title(plan: &Plan) -> String {
    let t = &plan.target;
    let review = t.kind == TargetKind::Git;
    let mut s = if review {
        format!("## plugsync review against {}\n\n", code(&t.control_plane))
    } else {
        format!(
            "## plugsync plan for {} control plane {}\n\n",
            text(target_kind(t.kind)),
            code(&t.control_plane)
        )
    };
    let mut facts = Vec::new();
    if review {
        facts.push(format!("Base commit: {}", code(&t.address)));
    } else if !t.address.is_empty() {
        facts.push(format!("Target: {}", code(&t.address)));
    }
    if let Some(commit) = plan.source.git_commit.as_deref() {
        let dirty = if plan.source.dirty {
            " (with uncommitted changes)"
        } else {
            ""
        };
        facts.push(format!("State: commit {}{dirty}", code(commit)));
    } else if plan.source.dirty {
        facts.push("State: with uncommitted changes".to_string());
    }
    if !plan.select_tags.is_empty() {
        let tags: Vec<String> = plan.select_tags.iter().map(|t| code(t)).collect();
        facts.push(format!("Select tags: {}", tags.join(", ")));
    }
    if !facts.is_empty() {
        s.push_str(&facts.join(" · "));
        s.push('\n');
    }
    s
}

fn summary(plan: &Plan) -> String {
    let s = &plan.summary;
    format!(
        "\n| create | update | migrate | delete | unchanged |\n|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {} | {} |\n",
        s.create, s.update, s.migrate, s.delete, s.unchanged
    )
}

fn banner(b: &Banner) -> String {
    let word = match b.kind {
        BannerKind::Deletion | BannerKind::Breaking => "Warning",
        BannerKind::MaintenanceWindow => "Important",
    };
    let mut s = format!("\n> **{word}**: {}\n", b.title);
    for para in &b.body {
        s.push_str(">\n> ");
        s.push_str(para);
        s.push('\n');
    }
    if !b.items.is_empty() {
        s.push_str(">\n");
        for item in &b.items {
            s.push_str("> - ");
            s.push_str(item);
            s.push('\n');
        }
    }
    s
}

fn action_cell(action: Action) -> String {
    format!("{} {}", code(symbol(action)), text(action.as_str()))
}

fn plugin_row(c: &CustomPluginEntry) -> String {
    let mut name = code(&c.name);
    if let Some(r) = c.replaces.as_deref() {
        name.push_str(&format!(" (replaces {})", code(r)));
    }
    let path = if shows_update_path(c) {
        let p = text(c.update_path.as_str());
        if c.update_path >= crate::schema::classify::UpdatePath::Long {
            format!("**{p}**")
        } else {
            p
        }
    } else {
        "—".to_string()
    };
    format!(
        "| {} | {} | {} | {} |\n",
        code(symbol(c.action)),
        cell(&name),
        cell(&text(c.action.as_str())),
        cell(&path)
    )
}

fn instance_row(p: &PluginEntry) -> String {
    let mut name = code(&p.name);
    if let Some(from) = p.from.as_deref() {
        name.push_str(&format!(" ← {}", code(from)));
    }
    let instance = p
        .instance_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .map(code)
        .unwrap_or_else(|| "—".to_string());
    let changes: Vec<String> = match p.action {
        Action::Delete => Vec::new(),
        Action::Create => leaf_changes(p)
            .iter()
            .map(|l| format!("{} = {}", code(&l.path), code(&compact(l.new.as_ref()))))
            .collect(),
        Action::Update | Action::Migrate | Action::Rollout => leaf_changes(p)
            .iter()
            .map(|l| {
                format!(
                    "{}: {} → {}",
                    code(&l.path),
                    code(&compact(l.old.as_ref())),
                    code(&compact(l.new.as_ref()))
                )
            })
            .collect(),
    };
    let changes = if changes.is_empty() {
        "—".to_string()
    } else {
        changes
            .iter()
            .map(|c| cell(c))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    format!(
        "| {} | {} | {} | {} | {} | {} |\n",
        action_cell(p.action),
        cell(&name),
        cell(&instance),
        cell(&text(&scope_label(p))),
        cell(&code(&p.id)),
        changes
    )
}

/// The `<details>` block of a changed plugin, when it has anything to show.
fn details(c: &CustomPluginEntry) -> Option<String> {
    let views = lua_views(c);
    if c.action == Action::Delete
        || (c.schema_changes.is_empty() && c.detail.tags.is_none() && views.is_empty())
    {
        return None;
    }
    let mut summary = format!(
        "<code>{}</code> <b>{}</b>: {}",
        symbol(c.action),
        html(&c.name),
        html(c.action.as_str())
    );
    if let Some(r) = c.replaces.as_deref() {
        summary.push_str(&format!(", replaces <b>{}</b>", html(r)));
    }
    if shows_update_path(c) {
        summary.push_str(&format!(
            ", update path <b>{}</b>",
            html(c.update_path.as_str())
        ));
    }
    let mut s = format!("\n<details><summary>{summary}</summary>\n");

    if !c.schema_changes.is_empty() {
        let against = super::compared_with(c);
        if against == c.name {
            s.push_str("\n**Schema changes**\n\n");
        } else {
            s.push_str(&format!(
                "\n**Schema changes** (against {})\n\n",
                code(against)
            ));
        }
        s.push_str(
            "| field | change | required | default | update path | detail |\n\
             |---|---|---|---|---|---|\n",
        );
        for ch in &c.schema_changes {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                cell(&code(&ch.field)),
                cell(&text(ch.change.as_str())),
                attribute(&ch.field, ch.required),
                attribute(&ch.field, ch.has_default),
                cell(&text(ch.update_path.as_str())),
                cell(&text(ch.detail.as_deref().unwrap_or("")))
            ));
        }
    }
    if let Some((old, new)) = &c.detail.tags {
        s.push_str(&format!(
            "\n**Tags**: {} → {}\n",
            code(&serde_json::json!(old).to_string()),
            code(&serde_json::json!(new).to_string())
        ));
    }
    for (file, view) in views {
        match view {
            LuaView::New {
                bytes,
                lines,
                sha256,
                inline,
            } => {
                s.push_str(&format!(
                    "\n**{file}**: new file, {bytes} bytes, {}",
                    crate::lint::report::count(lines, "line")
                ));
                if let Some(sha) = sha256 {
                    s.push_str(&format!(", sha256 {}", code(&sha)));
                }
                s.push('\n');
                if let Some(d) = inline {
                    s.push_str(&fenced("diff", &d));
                }
            }
            LuaView::Changed(d) => {
                s.push_str(&format!("\n**{file}**\n"));
                s.push_str(&fenced("diff", &d));
            }
        }
    }
    s.push_str("\n</details>\n");
    Some(s)
}

/// A yes/no attribute of a schema change, `—` for entity checks (not fields).
fn attribute(path: &str, yes: bool) -> &'static str {
    match (is_field(path), yes) {
        (false, _) => "—",
        (true, true) => "yes",
        (true, false) => "no",
    }
}

/// Joins the blocks, cutting between blocks so that the result and its note fit in `max`.
fn fit(blocks: &[String], max: usize) -> String {
    let total: usize = blocks.iter().map(String::len).sum();
    if total <= max {
        return blocks.concat();
    }
    // Longest prefix of whole blocks that leaves room for the note about the rest.
    let mut kept_len = total;
    for kept in (0..blocks.len()).rev() {
        kept_len -= blocks[kept].len();
        let omitted = blocks.len() - kept;
        let note = note(omitted, total - kept_len, max);
        if kept_len + note.len() <= max {
            let mut s = blocks[..kept].concat();
            s.push_str(&note);
            return s;
        }
    }
    // Not even the note fits: give as much of it as the limit allows.
    let note = note(blocks.len(), total, max);
    let mut end = max.min(note.len());
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    note[..end].to_string()
}

fn note(sections: usize, chars: usize, max: usize) -> String {
    let (noun, verb) = if sections == 1 {
        ("section", "was")
    } else {
        ("sections", "were")
    };
    format!(
        "\n> **Note**: this report was truncated to fit {max} characters: {sections} {noun} \
         ({chars} characters) {verb} left out. The text rendering (`--format text`) and the plan \
         JSON hold the full plan.\n"
    )
}

/// An inline code span holding `s` verbatim (newlines become spaces).
fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    let longest = longest_run(&s, '`');
    let fence = "`".repeat(longest + 1);
    if s.starts_with('`') || s.ends_with('`') || s.is_empty() {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

/// A fenced code block that `body` cannot close early.
fn fenced(lang: &str, body: &str) -> String {
    let fence = "`".repeat((longest_run(body, '`') + 1).max(3));
    let mut s = format!("\n{fence}{lang}\n{body}");
    if !body.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&fence);
    s.push('\n');
    s
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for ch in s.chars() {
        if ch == c {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// Plain text with Markdown and HTML syntax escaped.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            _ => out.push(ch),
        }
    }
    out
}

/// Text inside an HTML element.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A table cell: `|` escaped (also inside code spans, as GitHub's tables need).
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}
