#!/usr/bin/env python3
"""JSON and text chores of the plugsync GitHub Action's step (scripts/action/run.sh).

Standard library only. Subcommands:

  split-args STRING            shell-like words of STRING, each ended by NUL
  analyze PLAN_JSON            has_changes=… and has_breaking_changes=… lines
  sync-report SYNC_JSON PLAN [COMMAND]
                               writes the plan of a `sync --format json` (or `apply`) run to
                               PLAN and prints a Markdown report of the plan and the apply
  fit IN OUT LIMIT UNIT NOTE   copies IN to OUT cut to LIMIT bytes (UNIT=bytes) or characters
                               (UNIT=chars), closing open code fences and <details>, ending with
                               NOTE when cut
  pr-number EVENT_JSON         the pull request number of the event, or nothing
  comment-json IN OUT          {"body": contents of IN} as JSON into OUT
  find-comment PAGE MARKER     the id of the first comment of PAGE (a JSON list) whose body holds
                               MARKER; prints "more" instead when none does and the page is full
"""

import json
import shlex
import sys

BREAKING_PATHS = {"long", "cp_dp_sync"}


def split_args(text):
    sys.stdout.write("".join(word + "\0" for word in shlex.split(text)))


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def analyze_plan(plan):
    """(has_changes, has_breaking_changes) of a plan (CONTRACT 4.4).

    Breaking: a custom plugin whose update path is `long` or `cp_dp_sync`, or any deletion (of
    a custom plugin or an instance)."""
    if not isinstance(plan, dict):
        return False, False
    summary = plan.get("summary") or {}
    changes = bool(plan.get("steps")) or any(
        (summary.get(k) or 0) > 0 for k in ("create", "update", "migrate", "delete")
    )
    breaking = False
    for c in plan.get("custom_plugins") or []:
        if c.get("update_path") in BREAKING_PATHS or c.get("action") == "delete":
            breaking = True
    for p in plan.get("plugins") or []:
        if p.get("action") == "delete":
            breaking = True
    return changes, breaking


def analyze(path):
    changes, breaking = analyze_plan(load_json(path))
    print(f"has_changes={'true' if changes else 'false'}")
    print(f"has_breaking_changes={'true' if breaking else 'false'}")


def md_code(text):
    text = str(text).replace("\n", " ")
    ticks = "`"
    while ticks in text:
        ticks += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


SYMBOLS = {"create": "+", "update": "~", "migrate": "±", "delete": "-"}


def sync_report(sync_path, plan_out, command="sync"):
    doc = load_json(sync_path)
    if not isinstance(doc, dict) or not isinstance(doc.get("plan"), dict):
        return
    plan = doc["plan"]
    with open(plan_out, "w", encoding="utf-8") as f:
        json.dump(plan, f, indent=2)
        f.write("\n")
    result = doc.get("result") or {}
    target = plan.get("target") or {}
    out = [f"## plugsync {command} to {target.get('kind', '')} control plane {md_code(target.get('control_plane', ''))}", ""]
    source = plan.get("source") or {}
    if source.get("git_commit"):
        out.append(f"State: commit {md_code(source['git_commit'])}" + (" (with uncommitted changes)" if source.get("dirty") else ""))
        out.append("")
    s = plan.get("summary") or {}
    out += [
        "| create | update | migrate | delete | unchanged |",
        "|---:|---:|---:|---:|---:|",
        f"| {s.get('create', 0)} | {s.get('update', 0)} | {s.get('migrate', 0)} | {s.get('delete', 0)} | {s.get('unchanged', 0)} |",
        "",
    ]
    changes, breaking = analyze_plan(plan)
    if not changes:
        out.append("**No changes.** The control plane matched the state.")
    for c in plan.get("custom_plugins") or []:
        if c.get("update_path") in BREAKING_PATHS:
            out.append(f"> [!WARNING]\n> {md_code(c.get('name'))} has update path {md_code(c.get('update_path'))}.\n")
    steps = result.get("steps") if isinstance(result, dict) else None
    if isinstance(steps, list) and steps:
        out += ["### Steps", "", "| stage | action | kind | name | status |", "|---:|---|---|---|---|"]
        for st in steps:
            status = st.get("status", "")
            reason = st.get("reason")
            if reason:
                status = f"{status}: {str(reason).replace('|', '/')}"
            out.append(
                f"| {st.get('stage', '')} | {SYMBOLS.get(st.get('action'), '')} {st.get('action', '')} | "
                f"{st.get('kind', '')} | {md_code(st.get('name', ''))} | {status} |"
            )
        out.append("")
    elif plan.get("steps"):
        out += ["### Steps", "", "| stage | action | kind | name |", "|---:|---|---|---|"]
        for st in plan["steps"]:
            out.append(
                f"| {st.get('stage', '')} | {SYMBOLS.get(st.get('action'), '')} {st.get('action', '')} | "
                f"{st.get('kind', '')} | {md_code(st.get('name', ''))} |"
            )
        out.append("")
    sys.stdout.write("\n".join(out) + "\n")


def size(text, unit):
    return len(text.encode("utf-8")) if unit == "bytes" else len(text)


def cut(text, limit, unit):
    """The longest prefix of `text` within `limit`, never splitting a character."""
    if size(text, unit) <= limit:
        return text
    if unit == "bytes":
        return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
    return text[:limit]


def closers(text):
    """What closes the code fences and <details> blocks left open in `text`."""
    fence = None
    details = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith(fence) and stripped.strip("`~") == "":
                fence = None
            continue
        if stripped.startswith("```") or stripped.startswith("~~~"):
            marker = stripped[0]
            n = len(stripped) - len(stripped.lstrip(marker))
            fence = marker * n
            continue
        details += stripped.count("<details") - stripped.count("</details>")
    out = ""
    if fence is not None:
        out += "\n" + fence + "\n"
    out += "\n</details>\n" * max(details, 0)
    return out


def fit(src, dst, limit, unit, note):
    with open(src, encoding="utf-8", errors="replace") as f:
        text = f.read()
    limit = int(limit)
    if size(text, unit) > limit:
        tail = f"\n\n> [!NOTE]\n> {note}\n"
        budget = limit - size(tail, unit)
        body = ""
        # Cut at a line end, then close what the cut left open; shrink until it all fits.
        while budget > 0:
            body = cut(text, budget, unit)
            if "\n" in body:
                body = body[: body.rindex("\n") + 1]
            body += closers(body)
            if size(body, unit) + size(tail, unit) <= limit:
                break
            budget -= max(256, size(body, unit) + size(tail, unit) - limit)
        else:
            body = ""
        text = body + tail
    with open(dst, "w", encoding="utf-8") as f:
        f.write(text)


def pr_number(path):
    event = load_json(path)
    if not isinstance(event, dict):
        return
    for key in ("pull_request", "issue"):
        item = event.get(key)
        if isinstance(item, dict) and isinstance(item.get("number"), int):
            if key == "issue" and "pull_request" not in item:
                continue
            print(item["number"])
            return
    if isinstance(event.get("number"), int) and "pull_request" in event:
        print(event["number"])


def comment_json(src, dst):
    with open(src, encoding="utf-8", errors="replace") as f:
        body = f.read()
    with open(dst, "w", encoding="utf-8") as f:
        json.dump({"body": body}, f)


def find_comment(page_path, marker):
    page = load_json(page_path)
    if not isinstance(page, list):
        return
    for c in page:
        if isinstance(c, dict) and marker in (c.get("body") or ""):
            print(c.get("id"))
            return
    if len(page) >= 100:
        print("more")


def main(argv):
    if not argv:
        sys.exit(__doc__)
    cmd, args = argv[0], argv[1:]
    table = {
        "split-args": split_args,
        "analyze": analyze,
        "sync-report": sync_report,
        "fit": fit,
        "pr-number": pr_number,
        "comment-json": comment_json,
        "find-comment": find_comment,
    }
    if cmd not in table:
        sys.exit(f"unknown subcommand {cmd}")
    table[cmd](*args)


if __name__ == "__main__":
    main(sys.argv[1:])
