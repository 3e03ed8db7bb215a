#!/usr/bin/env python3
"""W1 generator: a plugsync state directory with N custom plugins and N*SERVICES instances.

Each custom plugin has a ~20-field config schema (nested records, arrays, maps, defaults,
constraints) and a ~2 KB handler; each is instanced once on each of SERVICES services.
Deterministic: the same arguments give the same files (ids included).

  gen_w1.py OUT_DIR [--plugins 1000] [--services 10] [--change-pct 0]

Writes OUT_DIR/plugsync.yaml (custom plugins), OUT_DIR/instances-NNN.yaml (10,000 instances
each), OUT_DIR/plugins/<name>/{handler,schema}.lua,
OUT_DIR/services.txt (`id name` of each service, to create on the control plane first) and
OUT_DIR/requests.jsonl (the PUTs of a first sync, for the raw load generator and the
curl+jq baseline: one JSON object per line {"stage", "path", "body"}).
With --change-pct P, P% of the instances get a different config value (for "5% changes").
"""
import argparse
import json
import os
import uuid

NS = uuid.UUID("6f1c3f9e-2b7a-4c1e-9a77-5d1b0c2e8a10")


def handler(name, i):
    body = f"""-- {name}: generated benchmark handler ({i})
local kong = kong
local fmt = string.format

local Plugin = {{
  PRIORITY = {1000 + i % 500},
  VERSION = "1.0.{i % 100}",
}}

local function header_value(conf, key)
  local v = kong.request.get_header(key)
  if v == nil or v == "" then
    return conf.default_value
  end
  return v
end

local function within_limits(conf, n)
  if conf.limits.minute and n > conf.limits.minute then
    return false, "minute"
  end
  if conf.limits.hour and n > conf.limits.hour then
    return false, "hour"
  end
  return true
end

function Plugin:access(conf)
  if not conf.enabled_flag then
    return
  end
  local key = header_value(conf, conf.header_name)
  if conf.redis and conf.redis.host then
    kong.log.debug(fmt("redis %s:%d db %d", conf.redis.host, conf.redis.port, conf.redis.database))
  end
  local count = tonumber(kong.request.get_header("X-Count") or "0") or 0
  local ok, which = within_limits(conf, count)
  if not ok then
    return kong.response.exit(conf.status_code, {{ message = conf.message .. " (" .. which .. ")" }})
  end
  for _, p in ipairs(conf.bypass_paths or {{}}) do
    if kong.request.get_path() == p then
      return
    end
  end
  for k, v in pairs(conf.extra_headers or {{}}) do
    kong.service.request.set_header(k, v)
  end
  kong.service.request.set_header(conf.header_name, key or "none")
end

function Plugin:header_filter(conf)
  if conf.add_response_header then
    kong.response.set_header("X-{name}", conf.response_value)
  end
  if conf.timeouts.read > 0 then
    kong.response.set_header("X-Read-Timeout", tostring(conf.timeouts.read))
  end
end

function Plugin:log(conf)
  if conf.log_level == "debug" then
    kong.log.debug("{name} done for ", kong.request.get_path())
  elseif conf.log_level == "info" then
    kong.log.info("{name} done")
  end
end

return Plugin
"""
    # pad to about 2 KB with comments
    pad = 2048 - len(body)
    if pad > 0:
        line = "-- " + ("padding " * 12).strip() + "\n"
        body = body + line * (pad // len(line) + 1)
    return body


def schema(name):
    return f"""local typedefs = require "kong.db.schema.typedefs"

return {{
  name = "{name}",
  fields = {{
    {{ protocols = typedefs.protocols_http }},
    {{ config = {{
        type = "record",
        fields = {{
          {{ header_name = typedefs.header_name {{ required = true, default = "X-Bench" }} }},
          {{ default_value = {{ type = "string", required = false }} }},
          {{ enabled_flag = {{ type = "boolean", required = true, default = true }} }},
          {{ message = {{ type = "string", required = true, default = "limited" }} }},
          {{ status_code = {{ type = "integer", required = true, default = 429, between = {{ 400, 599 }} }} }},
          {{ log_level = {{ type = "string", default = "info", one_of = {{ "debug", "info", "warn" }} }} }},
          {{ add_response_header = {{ type = "boolean", default = false }} }},
          {{ response_value = {{ type = "string", default = "ok", len_min = 1 }} }},
          {{ bypass_paths = {{ type = "array", elements = {{ type = "string", starts_with = "/" }}, default = {{ "/health" }} }} }},
          {{ extra_headers = {{ type = "map", keys = {{ type = "string" }}, values = {{ type = "string" }} }} }},
          {{ weight = {{ type = "number", default = 1.5, gt = 0 }} }},
          {{ sample_rate = {{ type = "number", default = 0.1, between = {{ 0, 1 }} }} }},
          {{ tier = {{ type = "string", required = true }} }},
          {{ owner = {{ type = "string" }} }},
          {{ allow_list = {{ type = "set", elements = {{ type = "string" }} }} }},
          {{ limits = {{
              type = "record",
              required = true,
              fields = {{
                {{ minute = {{ type = "integer", gt = 0 }} }},
                {{ hour = {{ type = "integer", gt = 0 }} }},
                {{ policy = {{ type = "string", default = "local", one_of = {{ "local", "redis", "cluster" }} }} }},
              }},
          }} }},
          {{ redis = {{
              type = "record",
              fields = {{
                {{ host = typedefs.host }},
                {{ port = typedefs.port {{ default = 6379 }} }},
                {{ database = {{ type = "integer", default = 0 }} }},
                {{ timeout = {{ type = "integer", default = 2000 }} }},
                {{ ssl = {{ type = "boolean", default = false }} }},
              }},
          }} }},
          {{ timeouts = {{
              type = "record",
              required = true,
              fields = {{
                {{ connect = {{ type = "integer", default = 1000 }} }},
                {{ read = {{ type = "integer", default = 5000 }} }},
                {{ write = {{ type = "integer", default = 5000 }} }},
              }},
          }} }},
          {{ retries = {{ type = "integer", default = 3, between = {{ 0, 10 }} }} }},
          {{ fail_open = {{ type = "boolean", default = true }} }},
        }},
      }},
    }},
  }},
}}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--plugins", type=int, default=1000)
    ap.add_argument("--services", type=int, default=10)
    ap.add_argument("--change-pct", type=float, default=0.0)
    ap.add_argument("--tag", default="bench")
    a = ap.parse_args()

    os.makedirs(os.path.join(a.out, "plugins"), exist_ok=True)
    services = [f"svc-{s:03d}" for s in range(a.services)]
    svc_id = {s: str(uuid.uuid5(NS, "svc/" + s)) for s in services}
    with open(os.path.join(a.out, "services.txt"), "w") as f:
        f.write("".join(f"{svc_id[s]} {s}\n" for s in services))

    y = ['_format_version: "3.0"', "_info:", f"  select_tags: [{a.tag}]", "custom_plugins:"]
    reqs = []
    inst = []
    n_inst = a.plugins * a.services
    change_every = int(round(100 / a.change_pct)) if a.change_pct > 0 else 0
    k = 0
    for i in range(a.plugins):
        name = f"bench-p{i:05d}"
        d = os.path.join(a.out, "plugins", name)
        os.makedirs(d, exist_ok=True)
        h, s = handler(name, i), schema(name)
        for fn, text in (("handler.lua", h), ("schema.lua", s)):
            p = os.path.join(d, fn)
            # keep mtimes stable when content is unchanged
            if not os.path.exists(p) or open(p).read() != text:
                with open(p, "w") as f:
                    f.write(text)
        y += [f"  - name: {name}", f"    path: plugins/{name}", f"    tags: [{a.tag}]"]
        cp_id = str(uuid.uuid5(NS, "cp/" + name))
        reqs.append({"stage": 1, "path": f"/custom-plugins/{cp_id}",
                     "body": {"name": name, "handler": h, "schema": s, "tags": [a.tag]}})
        for svc in services:
            changed = change_every and k % change_every == 0
            k += 1
            minute = 100 + (i % 50) + (1 if changed else 0)
            cfg = {"tier": "gold" if i % 2 else "silver",
                   "limits": {"minute": minute, "hour": minute * 30},
                   "timeouts": {"read": 3000},
                   "bypass_paths": ["/health", f"/status/{i}"],
                   "extra_headers": {"X-Svc": svc}}
            inst.append((name, svc, cfg))
            pid = str(uuid.uuid5(NS, f"pl/{name}/{svc}"))
            reqs.append({"stage": 2, "path": f"/plugins/{pid}",
                         "body": {"name": name, "service": {"id": svc_id[svc]}, "config": cfg,
                                  "tags": [a.tag]}})
    with open(os.path.join(a.out, "plugsync.yaml"), "w") as f:
        f.write("\n".join(y) + "\n")
    # Instances go in files of at most 10,000 (the loader caps a document at 1,000,000 YAML
    # nodes); the directory's files merge into one state.
    for old in os.listdir(a.out):
        if old.startswith("instances-") and old.endswith(".yaml"):
            os.remove(os.path.join(a.out, old))
    for part in range(0, len(inst), 10000):
        y = ['_format_version: "3.0"', "plugins:"]
        for name, svc, cfg in inst[part:part + 10000]:
            y += [f"  - name: {name}", f"    service: {svc}",
                  "    config: " + json.dumps(cfg, sort_keys=True), f"    tags: [{a.tag}]"]
        with open(os.path.join(a.out, f"instances-{part // 10000:03d}.yaml"), "w") as f:
            f.write("\n".join(y) + "\n")
    with open(os.path.join(a.out, "requests.jsonl"), "w") as f:
        for r in reqs:
            f.write(json.dumps(r) + "\n")
    print(f"{a.out}: {a.plugins} custom plugins, {n_inst} instances, {len(services)} services")


if __name__ == "__main__":
    main()
