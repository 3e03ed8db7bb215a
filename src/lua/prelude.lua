-- plugsync sandbox prelude: turns a fresh LuaJIT state (base, bit, jit, os, package, string,
-- table and math libraries) into a factory of one of Kong's streamed-plugin environments. Run
-- once per state, before any user code, with:
--   mode             "schema" or "handler"
--   tripped          Rust function: true once the instruction/time budget is spent
--   note_forbidden   Rust function: records the name of a module `require` refused
--   compile_typedefs Rust function: returns the compiled typedefs chunk
--   null             ngx.null (the NULL light userdata)
--   globals          array of the dotted paths the environment holds (the profile's list)
--   requires         set of the module names `require` may load
--   kong_version     the Kong version the profile stands for ("3.10.0.0")
-- Builds the environment once, as a template, and returns:
--   instantiate      function returning a fresh environment for one evaluation (a copy of every
--                    table of the template, with its own `require`, module cache and protecting
--                    metatables) and that evaluation's builtin-marker registry
--   stub_mt          the metatable shared by all stubs
-- None of these is reachable from user code; only the copies are.

local mode, tripped, note_forbidden, compile_typedefs, null, globals, requires, kong_version = ...

local G = _G
local type, error, tostring, tonumber, select, pairs, next = type, error, tostring, tonumber, select, pairs, next
local setmetatable, getmetatable, rawset, rawget, ipairs = setmetatable, getmetatable, rawset, rawget, ipairs
local raw_pcall, raw_xpcall = pcall, xpcall
local sbyte, raw_find, raw_match, raw_gmatch, raw_gsub, raw_rep, sformat =
  string.byte, string.find, string.match, string.gmatch, string.gsub, string.rep, string.format
local raw_sort, raw_insert, raw_remove, tconcat = table.sort, table.insert, table.remove, table.concat
local raw_resume = coroutine.resume
local mmin = math.min
local raw_randomseed = math.randomseed
local real_require = require

-- Hooks fire only in LuaJIT's interpreter: the JIT stays off so the budget always counts.
if G.jit then
  G.jit.off()
  G.jit.flush()
end

local BUDGET_MESSAGE = "plugin sandbox: execution budget exhausted"
local MEMORY_MESSAGE = "not enough memory"
local REP_LIMIT = 8 * 1024 * 1024
local PATTERN_COST_LIMIT = 1e9
local PATTERN_QUANTIFIER_LIMIT = 200
local SORT_LIMIT = 100000

G.print = function() end
string.dump = nil -- the string metatable's __index is this very table

-- A caught error must not let a script outlive its budget or memory cap: once either is spent,
-- every protected call re-raises.
local function settle(ok, ...)
  if tripped() then
    error(BUDGET_MESSAGE, 0)
  end
  if not ok and (...) == MEMORY_MESSAGE then
    error(MEMORY_MESSAGE, 0)
  end
  return ok, ...
end

local function sandbox_pcall(f, ...)
  return settle(raw_pcall(f, ...))
end

local function sandbox_xpcall(f, handler, ...)
  return settle(raw_xpcall(f, handler, ...))
end

coroutine.resume = function(co, ...)
  return settle(raw_resume(co, ...))
end

-- C functions run without instruction hooks, so the ones whose cost the script controls are
-- bounded up front.
local function text_length(s)
  return type(s) == "string" and #s or (type(s) == "number" and #tostring(s) or 0)
end

string.rep = function(s, n, sep, ...)
  local count = tonumber(n) or 0
  local len = text_length(s) + text_length(sep)
  if count > 0 and (len * count > REP_LIMIT or (len == 0 and count > REP_LIMIT)) then
    error("string.rep: a result of " .. tostring(len * count) ..
          " bytes is more than the plugin sandbox allows", 2)
  end
  return raw_rep(s, n, ...)
end

-- Quantifiers (and %b) in a Lua pattern: each one can multiply the work by the subject length.
local function quantifiers(p)
  local q, i, n = 0, 1, #p
  while i <= n do
    local c = sbyte(p, i)
    if c == 37 then -- %
      if sbyte(p, i + 1) == 98 then -- %bxy
        q = q + 1
        i = i + 4
      else
        i = i + 2
      end
    elseif c == 91 then -- [set]
      i = i + 1
      if sbyte(p, i) == 94 then i = i + 1 end
      if sbyte(p, i) == 93 then i = i + 1 end
      while i <= n and sbyte(p, i) ~= 93 do
        if sbyte(p, i) == 37 then i = i + 1 end
        i = i + 1
      end
      i = i + 1
    else
      i = i + 1
    end
    local nx = sbyte(p, i)
    if nx == 42 or nx == 43 or nx == 45 or nx == 63 then -- * + - ?
      q = q + 1
      i = i + 1
    end
  end
  return q
end

local function check_pattern(s, p, anchorable, plain)
  if type(s) ~= "string" or type(p) ~= "string" then
    return
  end
  local q = plain and 0 or quantifiers(p)
  if q > PATTERN_QUANTIFIER_LIMIT then
    error("a pattern with " .. q .. " quantifiers is more than the plugin sandbox allows (at most " ..
          PATTERN_QUANTIFIER_LIMIT .. ")", 3)
  end
  local unanchored = not (anchorable and not plain and sbyte(p, 1) == 94)
  -- Backtracking grows with the subject length to the power of the quantifiers that can
  -- overlap; beyond three the estimate is so pessimistic that it would refuse ordinary body
  -- rewrites, while the quantifier count and the subject length still bound the real cost.
  local exponent = mmin(q, 3) + (unanchored and 1 or 0)
  if exponent == 0 then
    return
  end
  local cost = (#s + 1) ^ exponent * (#p + 1)
  if cost > PATTERN_COST_LIMIT then
    error("pattern matching on a " .. #s .. "-byte subject with " .. q ..
          " quantifier(s) is more than the plugin sandbox allows", 3)
  end
end

string.find = function(s, p, init, plain, ...)
  check_pattern(s, p, true, plain)
  return raw_find(s, p, init, plain, ...)
end

string.match = function(s, p, ...)
  check_pattern(s, p, true, false)
  return raw_match(s, p, ...)
end

string.gmatch = function(s, p, ...)
  check_pattern(s, p, false, false)
  return raw_gmatch(s, p, ...)
end

string.gsub = function(s, p, ...)
  check_pattern(s, p, true, false)
  return raw_gsub(s, p, ...)
end

table.sort = function(t, ...)
  if type(t) == "table" and #t > SORT_LIMIT then
    error("table.sort: more than " .. SORT_LIMIT .. " elements is more than the plugin sandbox allows", 2)
  end
  return raw_sort(t, ...)
end


-- table.insert and table.remove move elements in C: positions outside the array are refused
-- before any work, as Lua 5.2 does.
table.insert = function(t, ...)
  local n = select("#", ...)
  if n == 2 and type(t) == "table" then
    local pos = (...)
    local size = #t
    if type(pos) == "number" and (pos < 1 or pos > size + 1) then
      error("bad argument #2 to 'insert' (position out of bounds)", 2)
    end
  end
  return raw_insert(t, ...)
end

table.remove = function(t, pos, ...)
  if type(t) == "table" and type(pos) == "number" then
    local size = #t
    if size > 0 and (pos < 1 or pos > size + 1) then
      error("bad argument #2 to 'remove' (position out of bounds)", 2)
    end
  end
  return raw_remove(t, pos, ...)
end

-- table.maxn walks the whole table in C: done in Lua instead, so the budget counts it.
table.maxn = function(t)
  local max = 0
  for k in next, t do
    if type(k) == "number" and k > max then max = k end
  end
  return max
end

-- OpenResty's table extensions, with plain-Lua fallbacks where this LuaJIT lacks one.
local function extension(name, fallback)
  local ok, f = raw_pcall(real_require, name)
  if ok and type(f) == "function" then
    return f
  end
  return fallback
end
local table_ext = {
  new = extension("table.new", function() return {} end),
  clear = extension("table.clear", function(t) for k in next, t do t[k] = nil end end),
  isempty = extension("table.isempty", function(t) return next(t) == nil end),
  nkeys = extension("table.nkeys", function(t) local n = 0 for _ in next, t do n = n + 1 end return n end),
  isarray = extension("table.isarray", function(t)
    local n = 0
    for k in next, t do
      if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then return false end
      n = n + 1
    end
    for i = 1, n do if t[i] == nil then return false end end
    return true
  end),
  clone = extension("table.clone", function(t) local c = {} for k, v in next, t do c[k] = v end return c end),
}
for name, f in pairs(table_ext) do
  rawset(table, name, f)
end

-- Absorbing stubs: any field, call or arithmetic on a stub yields another stub, so top-level
-- code such as `local log = ffi_thing.x.y` or `local http = require("resty.http").new()` loads.
local stub_mt = {}
local function stub()
  return setmetatable({}, stub_mt)
end
stub_mt.__index = function(t, k)
  local s = stub()
  rawset(t, k, s)
  return s
end
stub_mt.__call = function()
  return stub()
end
for _, event in ipairs { "__add", "__sub", "__mul", "__div", "__mod", "__pow", "__unm", "__concat" } do
  stub_mt[event] = function()
    return stub()
  end
end
stub_mt.__tostring = function()
  return "<plugin sandbox stub>"
end
stub_mt.__metatable = false

-- ----- Kong's values -----

local function nothing() end

local NGX_VALUES = {
  OK = 0, ERROR = -1, AGAIN = -2, DONE = -4, DECLINED = -5,
  STDERR = 0, EMERG = 1, ALERT = 2, CRIT = 3, ERR = 4, WARN = 5, NOTICE = 6, INFO = 7, DEBUG = 8,
  HTTP_GET = 2, HTTP_HEAD = 4, HTTP_POST = 8, HTTP_PUT = 16, HTTP_DELETE = 32, HTTP_MKCOL = 64,
  HTTP_COPY = 128, HTTP_MOVE = 256, HTTP_OPTIONS = 512, HTTP_PROPFIND = 1024,
  HTTP_PROPPATCH = 2048, HTTP_LOCK = 4096, HTTP_UNLOCK = 8192, HTTP_PATCH = 16384, HTTP_TRACE = 32768,
  HTTP_CONTINUE = 100, HTTP_SWITCHING_PROTOCOLS = 101, HTTP_OK = 200, HTTP_CREATED = 201,
  HTTP_ACCEPTED = 202, HTTP_NO_CONTENT = 204, HTTP_PARTIAL_CONTENT = 206,
  HTTP_SPECIAL_RESPONSE = 300, HTTP_MOVED_PERMANENTLY = 301, HTTP_MOVED_TEMPORARILY = 302,
  HTTP_SEE_OTHER = 303, HTTP_NOT_MODIFIED = 304, HTTP_TEMPORARY_REDIRECT = 307,
  HTTP_PERMANENT_REDIRECT = 308, HTTP_BAD_REQUEST = 400, HTTP_UNAUTHORIZED = 401,
  HTTP_PAYMENT_REQUIRED = 402, HTTP_FORBIDDEN = 403, HTTP_NOT_FOUND = 404, HTTP_NOT_ALLOWED = 405,
  HTTP_NOT_ACCEPTABLE = 406, HTTP_REQUEST_TIMEOUT = 408, HTTP_CONFLICT = 409, HTTP_GONE = 410,
  HTTP_UPGRADE_REQUIRED = 426, HTTP_TOO_MANY_REQUESTS = 429, HTTP_CLOSE = 444, HTTP_ILLEGAL = 451,
  HTTP_INTERNAL_SERVER_ERROR = 500, HTTP_METHOD_NOT_IMPLEMENTED = 501, HTTP_BAD_GATEWAY = 502,
  HTTP_SERVICE_UNAVAILABLE = 503, HTTP_GATEWAY_TIMEOUT = 504, HTTP_VERSION_NOT_SUPPORTED = 505,
  HTTP_INSUFFICIENT_STORAGE = 507,
}

local major, minor, patch = raw_match(kong_version, "^(%d+)%.(%d+)%.?(%d*)")
major, minor, patch = tonumber(major) or 3, tonumber(minor) or 10, tonumber(patch) or 0
local version_num = major * 1000000 + minor * 1000 + patch

-- Values that are not functions, by dotted path; every other `kong.*`/`ngx.*` path is a
-- function that does nothing offline.
local VALUES = {
  ["kong.version"] = kong_version,
  ["kong.version_num"] = version_num,
  ["kong.default_workspace"] = "00000000-0000-0000-0000-000000000000",
  ["kong.configuration"] = {},
  ["kong.ctx.shared"] = {},
  ["kong.ctx.plugin"] = {},
  ["ngx.null"] = null,
  ["ngx.var"] = {},
  ["ngx.arg"] = {},
  ["ngx.header"] = {},
  ["ngx.ctx"] = {},
  ["ngx.status"] = 0,
  ["ngx.headers_sent"] = false,
  ["ngx.is_subrequest"] = false,
  ["ngx.config.debug"] = false,
  ["ngx.config.nginx_version"] = 1027001,
  ["ngx.config.ngx_lua_version"] = 10027,
  ["ngx.config.subsystem"] = "http",
}
for name, value in pairs(NGX_VALUES) do
  VALUES["ngx." .. name] = value
end

-- Tables scripts may write new keys into (ngx itself is not protected either).
local WRITABLE = {
  ["ngx"] = true, ["ngx.var"] = true, ["ngx.arg"] = true, ["ngx.header"] = true, ["ngx.ctx"] = true,
  ["kong.ctx.shared"] = true, ["kong.ctx.plugin"] = true,
}
-- Tables that are themselves callable.
local CALLABLE = { ["kong.log"] = true, ["kong.log.inspect"] = true, ["kong.log.deprecation"] = true }

-- The real value behind a Lua-library path (`string.find`, `bit.band`, `pcall`, …).
local LUA_SOURCE = {
  pcall = sandbox_pcall, xpcall = sandbox_xpcall,
  io = { type = function(v) return nil end },
}
local function lua_value(path)
  local dot = raw_find(path, ".", 1, true)
  if not dot then
    local v = LUA_SOURCE[path]
    if v == nil then v = G[path] end
    return v
  end
  local lib, key = path:sub(1, dot - 1), path:sub(dot + 1)
  local t = LUA_SOURCE[lib] or G[lib]
  return t and t[key]
end

local function value_for(path)
  local v = VALUES[path]
  if v ~= nil then
    return v
  end
  local root = raw_match(path, "^[^.]+")
  if root == "kong" or root == "ngx" then
    return nothing
  end
  return lua_value(path)
end

-- ----- the environment template -----

-- Built once per state from the profile's lists; every evaluation gets its own copy of it
-- (`instantiate` below), so nothing a chunk writes into its environment reaches the next one.
local template = {}
local paths = {} -- template table -> its dotted path ("" for the environment)
paths[template] = ""
for _, path in ipairs(globals) do
  local parent, prefix = template, nil
  local start = 1
  while true do
    local dot = raw_find(path, ".", start, true)
    if not dot then break end
    local key = path:sub(start, dot - 1)
    prefix = prefix and (prefix .. "." .. key) or key
    local t = rawget(parent, key)
    if type(t) ~= "table" then
      t = VALUES[prefix]
      if type(t) ~= "table" then t = {} end
      rawset(parent, key, t)
      paths[t] = prefix
    end
    parent = t
    start = dot + 1
  end
  local leaf = path:sub(start)
  if rawget(parent, leaf) == nil then
    local v = value_for(path)
    rawset(parent, leaf, v)
    if type(v) == "table" and paths[v] == nil then paths[v] = path end
  end
end
rawset(template, "_G", template)

-- New keys are refused with Kong's message; existing keys may be overwritten (as in Kong).
local function refusal(path)
  local shown
  if path == "" then
    shown = "_G"
  elseif raw_find(path, "kong.configuration", 1, true) == 1 or raw_find(path, "kong.ctx", 1, true) == 1 then
    shown = path
  else
    shown = "_G." .. path
  end
  return function(_, k)
    error("Cannot modify " .. shown .. "." .. tostring(k) .. ". Protected by the sandbox.", 0)
  end
end

-- The template as a flat list of nodes, each table once (parents before children), with its
-- entries as triples (key, value, index of the node the value is, or false).
local nodes, index_of = {}, {}
local function collect(t)
  if index_of[t] then return end
  local i = #nodes + 1
  nodes[i] = t
  index_of[t] = i
  for _, v in next, t do
    if type(v) == "table" then collect(v) end
  end
end
collect(template)
local entries, sizes, refuse, calls = {}, {}, {}, {}
for i, t in ipairs(nodes) do
  local list, n = {}, 0
  for k, v in next, t do
    list[#list + 1] = k
    list[#list + 1] = v
    list[#list + 1] = type(v) == "table" and index_of[v] or false
    n = n + 1
  end
  entries[i], sizes[i] = list, n
  local path = paths[t]
  -- Tables outside the lists' paths (none today) are copied too, but left writable.
  if path ~= nil and not WRITABLE[path] then
    refuse[i] = refusal(path)
    calls[i] = CALLABLE[path] and nothing or false
  else
    refuse[i], calls[i] = false, false
  end
end
template, paths, index_of = nil, nil, nil

local new_table = extension("table.new", function() return {} end)

-- A fresh copy of every table of the template, with fresh protecting metatables.
local function copy_template()
  local copies = {}
  for i = 1, #nodes do
    copies[i] = new_table(0, sizes[i] + 1) -- + 1: the root's `require`
  end
  for i = 1, #nodes do
    local c, list = copies[i], entries[i]
    for j = 1, #list, 3 do
      local child = list[j + 2]
      if child then
        c[list[j]] = copies[child]
      else
        c[list[j]] = list[j + 1]
      end
    end
  end
  return copies
end

local function protect(copies)
  for i = 1, #nodes do
    local newindex = refuse[i]
    if newindex then
      local call = calls[i]
      setmetatable(copies[i], call and { __newindex = newindex, __call = call } or { __newindex = newindex })
    end
  end
end

-- ----- modules -----

local function with_stub_fields(t)
  return setmetatable(t, { __index = function(self, k)
    local s = stub()
    rawset(self, k, s)
    return s
  end })
end

-- A small JSON encoder, so top-level code that encodes constants gets a string.
local function json_encode(value, depth)
  depth = depth or 0
  if depth > 100 then error("Cannot serialise, excessive nesting (101)", 2) end
  local t = type(value)
  if value == nil or value == null then return "null" end
  if t == "boolean" then return value and "true" or "false" end
  if t == "number" then
    if value ~= value or value == math.huge or value == -math.huge then
      error("Cannot serialise number: must not be NaN or Infinity", 2)
    end
    if value % 1 == 0 and value > -1e15 and value < 1e15 then return sformat("%d", value) end
    return sformat("%.14g", value)
  end
  if t == "string" then
    return '"' .. raw_gsub(value, '[%c"\\]', function(c)
      local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
      return named[c] or sformat("\\u%04x", sbyte(c))
    end) .. '"'
  end
  if t == "table" then
    local n = #value
    if n > 0 or next(value) == nil then
      local out = {}
      for i = 1, n do out[i] = json_encode(value[i], depth + 1) end
      return (n == 0 and "{}") or ("[" .. tconcat(out, ",") .. "]")
    end
    local keys = {}
    for k in pairs(value) do keys[#keys + 1] = tostring(k) end
    raw_sort(keys)
    local out = {}
    for i, k in ipairs(keys) do
      local v = value[k]
      if v == nil then v = value[tonumber(k)] end
      out[i] = json_encode(k) .. ":" .. json_encode(v, depth + 1)
    end
    return "{" .. tconcat(out, ",") .. "}"
  end
  error("Cannot serialise " .. t .. ": type not supported", 2)
end

local function cjson_module()
  return with_stub_fields {
    encode = function(v) return json_encode(v) end,
    null = null,
    empty_array = stub(),
    array_mt = {},
    empty_array_mt = {},
    _NAME = "cjson",
    _VERSION = "2.1.0.14",
  }
end

-- The typedefs chunk, compiled once per state; each evaluation runs it for its own tables.
local typedefs_chunk

-- Module makers, called with the evaluation's context (its marker registry and module cache).
-- Each returns tables of its own, so one evaluation's writes never reach another's.
local MODULES = {
  ["bit"] = function()
    local copy = {}
    for k, v in next, G.bit do copy[k] = v end
    return copy
  end,
  ["table.new"] = function() return table_ext.new end,
  ["table.clear"] = function() return table_ext.clear end,
  ["table.isempty"] = function() return table_ext.isempty end,
  ["table.isarray"] = function() return table_ext.isarray end,
  ["table.nkeys"] = function() return table_ext.nkeys end,
  ["table.clone"] = function() return table_ext.clone end,
  ["cjson"] = cjson_module,
  ["cjson.safe"] = cjson_module,
  ["kong.meta"] = function()
    return with_stub_fields {
      _NAME = "kong",
      _VERSION = kong_version,
      -- Three parts, so `VERSION = require("kong.meta").version` passes Kong's VERSION check
      -- (docs/kong-fidelity.md: the Enterprise four-part form is not modelled here).
      version = major .. "." .. minor .. "." .. patch,
      core_version = major .. "." .. minor .. "." .. patch,
      _VERSION_TABLE = { major = major, minor = minor, patch = patch },
      _SERVER_TOKENS = "kong/" .. kong_version,
      _DEPENDENCIES = {},
    }
  end,
  ["kong.db.schema.typedefs"] = function(ctx)
    if ctx.typedefs == nil then
      if typedefs_chunk == nil then
        typedefs_chunk = compile_typedefs()
      end
      ctx.typedefs = typedefs_chunk(ctx.builtin, null)
    end
    return ctx.typedefs
  end,
}
MODULES["kong.tools.redis.schema"] = function(ctx)
  local t = MODULES["kong.db.schema.typedefs"](ctx)
  return {
    config_schema = {
      type = "record",
      fields = {
        { host = t.host },
        { port = t.port },
        { timeout = t.timeout { default = 2000 } },
        { username = { type = "string", referenceable = true } },
        { password = { type = "string", encrypted = true, referenceable = true } },
        { database = { type = "integer", default = 0 } },
        { ssl = { type = "boolean", required = false, default = false } },
        { ssl_verify = { type = "boolean", required = false, default = false } },
        { server_name = t.sni { required = false } },
      },
    },
  }
end

-- ----- one evaluation -----

-- Returns a new environment (a copy of the template, with its own `require` and module cache)
-- and the builtin-marker registry its typedefs will fill.
local function instantiate()
  -- `math.random` starts each evaluation where a new state starts (the seed LuaJIT opens the
  -- library with is the one for 0), so evaluations stay deterministic.
  raw_randomseed(0)
  local copies = copy_template()
  local env = copies[1]

  -- Builtin markers: one function per name, recognised by identity.
  local markers = {}
  local ctx = { markers = markers }
  ctx.builtin = function(name)
    local marker_name = name
    local marker = function()
      return marker_name ~= nil
    end
    markers[marker] = name
    return marker
  end

  local loaded = {}
  env.require = function(name)
    if type(name) ~= "string" or not requires[name] then
      if type(name) == "string" then
        note_forbidden(name)
      end
      error("require '" .. tostring(name) .. "' not allowed within sandbox", 2)
    end
    local m = loaded[name]
    if m == nil then
      local make = MODULES[name]
      m = make and make(ctx) or stub()
      loaded[name] = m
    end
    return m
  end

  protect(copies)
  return env, markers
end

return instantiate, stub_mt
