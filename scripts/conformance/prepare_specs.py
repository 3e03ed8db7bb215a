#!/usr/bin/env python3
"""Writes the copies of Kong's OpenAPI specs that the conformance checks run against.

Kong's Konnect specs list their paths without the `/v2` that their `servers` entries carry
(`https://us.api.konghq.com/v2`), while plugsync (like decK) requests full paths from the
address root. Every copy therefore gets paths that start at the root, and `servers: [/]`:

* konnect-full.yaml   the Konnect control planes config spec, every path prefixed with `/v2`, plus
                      `GET/POST /v2/control-planes` and `GET /v2/control-planes/{controlPlaneId}`
                      from the Konnect control planes spec (plugsync resolves a control plane
                      name through them). Prism validates plugsync's requests against it.
* admin-full.yaml     the Kong Admin API 3.15 spec with `servers: [/]`. Prism's copy.
* konnect-served.yaml / admin-served.yaml
                      the same, restricted to the operations `plugsync serve` implements, with
                      the deviations listed in DEVIATIONS added (each one is a response Kong
                      really gives that the spec does not declare; docs/conformance.md explains
                      them). Schemathesis runs against these; with `--cp-id`, the
                      `controlPlaneId` path parameter is pinned to that control plane.

Nothing else in the specs is changed.
"""

import argparse
import copy
import os
import re
import sys

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

# Served core-entity paths (after the `/v2/control-planes/{controlPlaneId}/core-entities`
# prefix on Konnect, at the root on the Admin API).
ENTITY = r"(custom-plugins|plugins|services|routes|consumers|consumer_groups)"
SERVED_TAIL = re.compile(
    r"^/" + ENTITY + r"(/\{[^}/]+\}(/plugins(/\{[^}/]+\})?)?)?$|^/schemas/plugins/\{[^}/]+\}$"
    # Konnect hybrid mode (legacy shapes); the Admin API spec has no such path.
    r"|^/plugin-schemas(/\{[^}/]+\})?$"
)
KONNECT_PREFIX = "/v2/control-planes/{controlPlaneId}"
CORE = KONNECT_PREFIX + "/core-entities"
KONNECT_PLATFORM_SERVED = {
    "/v2/control-planes": ("get", "post"),
    "/v2/control-planes/{controlPlaneId}": ("get",),
    "/v2/control-planes/{controlPlaneId}/expected-config-hash": ("get",),
    "/v2/control-planes/{controlPlaneId}/nodes": ("get",),
}
ADMIN_EXTRA_SERVED = {"/": ("get",)}

# --- documented deviations (docs/conformance.md, "Deviations") -------------------------------
# Each entry: (spec, method, path regex, status, response object). Filled in below.
KONNECT_ERROR = {
    "description": "Kong core-entities error (gRPC-gateway style); see reference/kong-api.md 1.6",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "integer"},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object"}},
                },
            }
        }
    },
}
ADMIN_ERROR = {
    "description": "Kong Admin API error {code,name,message,fields}; see reference/kong-api.md 2.5",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["message"],
                "properties": {
                    "code": {"type": "integer"},
                    "name": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {"type": "object"},
                },
            }
        }
    },
}
ADMIN_401 = {
    "description": "Kong's 401 body {message} (reference/kong-api.md 2.5)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["message"],
                "properties": {"message": {"type": "string"}, "status": {"type": "integer"}},
            }
        }
    },
}
PLATFORM_404 = {
    "description": "Konnect problem document (reference/kong-api.md 1.6, 1.7)",
    "content": {
        "application/problem+json": {
            "schema": {
                "type": "object",
                "required": ["status", "title", "detail"],
                "properties": {
                    "status": {"type": "integer"},
                    "title": {"type": "string"},
                    "instance": {"type": "string"},
                    "detail": {"type": "string"},
                },
            }
        }
    },
}
# An operation with a path parameter: an empty parameter value makes another route of the
# same API match (`/services//plugins` is `/services/{id}` with id `plugins`), which allows
# other methods only.
WITH_PARAM = r"\{[^}]+\}"
LEGACY_ERROR = {
    "description": "Konnect's legacy error body {message} (plugin-schemas)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["message"],
                "properties": {"message": {"type": "string"}},
            }
        }
    },
}
DEVIATIONS = {
    "konnect": [
        # D8: refusing to delete a hybrid-mode plugin schema that instances use is a 400 in
        # the legacy shape of the plugin-schemas paths (the spec declares no 400 on DELETE).
        ("delete", r"/plugin-schemas/", "400", LEGACY_ERROR),
        # D1: Kong and Konnect answer a refused write (schema violation, unknown reference,
        # unique or in-use conflict) and a malformed query parameter with 400; the specs
        # declare no 400 on core entities.
        ("*", r"^" + re.escape(CORE) + r"/", "400", KONNECT_ERROR),
        # D2: an unknown control plane, or the unknown parent entity of a nested path, is 404.
        ("*", r"^" + re.escape(CORE) + r"/", "404", KONNECT_ERROR),
        ("*", r"/(expected-config-hash|nodes)$", "404", PLATFORM_404),
        # D1 for the nodes list: a bad `page[size]` is 400, as on Konnect's other lists.
        ("*", r"/nodes$", "400", PLATFORM_404),
        # D3: 405 when an empty path parameter makes another route match.
        ("*", r"^" + re.escape(CORE) + r"/.*" + WITH_PARAM, "405", KONNECT_ERROR),
    ],
    "admin": [
        # D1 and D2, in Kong's body {code, name, message, fields} / {message}.
        ("*", r"^/(?!$)", "400", ADMIN_ERROR),
        ("*", r"^/(?!$)", "404", ADMIN_ERROR),
        # D4: Kong answers a unique constraint violation with 409 (reference/kong-api.md 2.5).
        (r"post|put|patch", r"^/(?!$)", "409", ADMIN_ERROR),
        ("*", r"^/.*" + WITH_PARAM, "405", ADMIN_ERROR),
        # D5: every operation needs the token (the spec's global security), so every one can
        # answer 401, with Kong's bare {message} body.
        ("*", r"^/", "401", ADMIN_401),
    ],
}


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def dump(doc, path):
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f, sort_keys=False, allow_unicode=True, width=1000)


def prefixed_konnect(cpc, cp):
    doc = copy.deepcopy(cpc)
    doc["servers"] = [{"url": "/"}]
    doc["paths"] = {"/v2" + p: item for p, item in cpc["paths"].items()}
    for p in ("/control-planes", "/control-planes/{controlPlaneId}"):
        item = copy.deepcopy(cp["paths"][p])
        # Only the operations plugsync's client may send (and serve implements).
        for m in list(item):
            if m in HTTP_METHODS and m not in KONNECT_PLATFORM_SERVED["/v2" + p]:
                del item[m]
        doc["paths"]["/v2" + p] = item
    # The two specs share component names only for identical definitions, except the
    # description of one bearer security scheme; the config spec's wins.
    for kind, entries in cp.get("components", {}).items():
        target = doc.setdefault("components", {}).setdefault(kind, {})
        for name, value in entries.items():
            target.setdefault(name, value)
    return doc


def served_only(doc, konnect):
    out = copy.deepcopy(doc)
    paths = {}
    for p, item in doc["paths"].items():
        allowed = None
        if konnect:
            if p in KONNECT_PLATFORM_SERVED:
                allowed = KONNECT_PLATFORM_SERVED[p]
            elif p.startswith(CORE + "/") and SERVED_TAIL.match(p[len(CORE):]):
                allowed = HTTP_METHODS
        else:
            if p in ADMIN_EXTRA_SERVED:
                allowed = ADMIN_EXTRA_SERVED[p]
            elif SERVED_TAIL.match(p):
                allowed = HTTP_METHODS
        if allowed is None:
            continue
        item = copy.deepcopy(item)
        for m in list(item):
            if m in HTTP_METHODS and m not in allowed:
                del item[m]
        paths[p] = item
    out["paths"] = paths
    return out


def add_deviations(doc, rules):
    added = 0
    for p, item in doc["paths"].items():
        for m, op in item.items():
            if m not in HTTP_METHODS:
                continue
            for method, path_re, status, response in rules:
                if method != "*" and not re.fullmatch(method, m):
                    continue
                if not re.search(path_re, p):
                    continue
                responses = op.setdefault("responses", {})
                if status not in responses or response is ADMIN_401:
                    responses[status] = copy.deepcopy(response)
                    added += 1
    return added


def nullable_next(doc):
    """D0: `next` of a list is null on the last page. Kong writes `"next": null` (the Admin
    spec's own examples show it) and the Konnect spec describes `next` as "URI to the next
    page (may be null)", but both type it as a plain string. Allows null there, and only there."""
    patched = 0
    schemas = doc.get("components", {}).get("schemas", {})

    def fix(prop):
        nonlocal patched
        if "$ref" in prop:
            name = prop["$ref"].rsplit("/", 1)[-1]
            target = schemas.get(name)
            if target is not None and target.get("type") == "string":
                target["type"] = ["string", "null"]
                patched += 1
        elif prop.get("type") == "string":
            prop["type"] = ["string", "null"]
            patched += 1

    def walk(node):
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict) and "data" in props and isinstance(props.get("next"), dict):
                fix(props["next"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return patched


def pin_control_plane(doc, cp_id):
    params = doc.get("components", {}).get("parameters", {})
    for name, param in params.items():
        if param.get("name") == "controlPlaneId" and param.get("in") == "path":
            param["schema"] = {"type": "string", "enum": [cp_id]}
    for item in doc["paths"].values():
        for obj in [item] + [op for m, op in item.items() if m in HTTP_METHODS]:
            for param in obj.get("parameters", []) or []:
                if param.get("name") == "controlPlaneId" and param.get("in") == "path":
                    param["schema"] = {"type": "string", "enum": [cp_id]}


def count_ops(doc):
    return sum(1 for item in doc["paths"].values() for m in item if m in HTTP_METHODS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", required=True, help="the directory of Kong's specs (../shared/specs)")
    ap.add_argument("--out", required=True, help="where to write the copies")
    ap.add_argument("--cp-id", help="pin controlPlaneId in konnect-served.yaml")
    ap.add_argument(
        "--no-deviations", action="store_true", help="leave out the documented deviations"
    )
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    cpc = load(os.path.join(args.specs, "konnect-control-planes-config-v2.openapi.yaml"))
    cp = load(os.path.join(args.specs, "konnect-control-planes-v2.openapi.yaml"))
    admin = load(os.path.join(args.specs, "kong-admin-ee-3.15.openapi.yaml"))

    konnect = prefixed_konnect(cpc, cp)
    admin_full = copy.deepcopy(admin)
    admin_full["servers"] = [{"url": "/"}]
    if not args.no_deviations:
        nullable_next(konnect)
        nullable_next(admin_full)
    dump(konnect, os.path.join(args.out, "konnect-full.yaml"))
    dump(admin_full, os.path.join(args.out, "admin-full.yaml"))

    k_served = served_only(konnect, True)
    k_dev = 0 if args.no_deviations else add_deviations(k_served, DEVIATIONS["konnect"])
    if args.cp_id:
        pin_control_plane(k_served, args.cp_id)
    dump(k_served, os.path.join(args.out, "konnect-served.yaml"))
    a_served = served_only(admin_full, False)
    a_dev = 0 if args.no_deviations else add_deviations(a_served, DEVIATIONS["admin"])
    dump(a_served, os.path.join(args.out, "admin-served.yaml"))

    print(
        f"specs: konnect-full {count_ops(konnect)} ops, admin-full {count_ops(admin_full)} ops; "
        f"served: konnect {count_ops(k_served)} ops (+{k_dev} deviation responses), "
        f"admin {count_ops(a_served)} ops (+{a_dev} deviation responses)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
