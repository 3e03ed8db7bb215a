#!/usr/bin/env python3
"""Summarises the failures in a schemathesis NDJSON report (`--report ndjson`): one line per
distinct (operation, check, status, first line of the message), with a count; `-v` adds one
example request and response for each."""
import base64
import collections
import json
import sys


def decode(body):
    if isinstance(body, dict) and "$base64" in body:
        return base64.b64decode(body["$base64"]).decode("utf-8", "replace")
    return body if isinstance(body, str) else json.dumps(body)


def failures(path):
    for line in open(path, encoding="utf-8"):
        fin = json.loads(line).get("ScenarioFinished")
        if not fin:
            continue
        rec = fin.get("recorder", {})
        interactions = rec.get("interactions") or {}
        for case_id, checks in (rec.get("checks") or {}).items():
            for chk in checks:
                if chk.get("status") != "failure":
                    continue
                f = (chk.get("failure_info") or {}).get("failure") or {}
                inter = interactions.get(case_id) or {}
                resp = inter.get("response") or {}
                req = inter.get("request") or {}
                yield (rec.get("label", "?"), chk.get("name"), resp.get("status_code"),
                       f.get("message") or f.get("title") or "", req, resp)


def main():
    verbose = "-v" in sys.argv
    path = [a for a in sys.argv[1:] if a != "-v"][0]
    seen = collections.OrderedDict()
    for label, name, status, msg, req, resp in failures(path):
        key = (label, name, status, msg.split("\n")[0][:160])
        if key not in seen:
            seen[key] = [0, req, resp, msg]
        seen[key][0] += 1
    for (label, name, status, first), (n, req, resp, msg) in seen.items():
        print(f"{n:4} {label} | {name} | {status} | {first}")
        if verbose:
            print("       req:", req.get("method"), req.get("uri"), decode(req.get("body") or "")[:400])
            print("       resp:", decode(resp.get("content") or "")[:400])
    total = sum(v[0] for v in seen.values())
    print(f"{len(seen)} distinct failures ({total} failing checks)", file=sys.stderr)


if __name__ == "__main__":
    main()
