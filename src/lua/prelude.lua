-- plugsync sandbox prelude: turns a fresh Lua 5.1 state (base, string, table and math libraries)
-- into the plugin sandbox. Run once per state, before any user code, with:
--   mode             "schema" or "handler"
--   tripped          Rust function: true once the instruction/time budget is spent
--   note_forbidden   Rust function: records the name of a module `require` refused
--   compile_typedefs Rust function: returns the compiled typedefs chunk
--   null             ngx.null (the NULL light userdata)
-- Returns the builtin-marker registry and the metatable shared by all stubs; neither is
-- reachable from user code.

local mode, tripped, note_forbidden, compile_typedefs, null = ...

local G = _G
local type, error, tostring, tonumber, select = type, error, tostring, tonumber, select
local setmetatable, rawset, ipairs = setmetatable, rawset, ipairs
local raw_pcall, raw_xpcall = pcall, xpcall
local sbyte, raw_find, raw_match, raw_gmatch, raw_gsub, raw_rep =
  string.byte, string.find, string.match, string.gmatch, string.gsub, string.rep
local raw_sort = table.sort
local raw_resume = coroutine.resume

local BUDGET_MESSAGE = "plugin sandbox: execution budget exhausted"
local MEMORY_MESSAGE = "not enough memory"
local REP_LIMIT = 8 * 1024 * 1024
local PATTERN_COST_LIMIT = 1e8
local SORT_LIMIT = 100000

-- Loading code, introspecting or steering the collector, and printing are not available.
for _, name in ipairs { "dofile", "loadfile", "load", "loadstring", "collectgarbage", "gcinfo",
                        "getfenv", "setfenv", "newproxy", "module", "require", "print" } do
  G[name] = nil
end
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

G.pcall = function(f, ...)
  return settle(raw_pcall(f, ...))
end

G.xpcall = function(f, handler)
  return settle(raw_xpcall(f, handler))
end

coroutine.resume = function(co, ...)
  return settle(raw_resume(co, ...))
end

-- C functions run without instruction hooks, so the ones whose cost the script controls are
-- bounded up front.
string.rep = function(s, n, ...)
  local len = type(s) == "string" and #s or (type(s) == "number" and #tostring(s) or 0)
  local count = tonumber(n) or 0
  if len * count > REP_LIMIT then
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
  local unanchored = not (anchorable and not plain and sbyte(p, 1) == 94)
  local exponent = q + (unanchored and 1 or 0)
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

-- Absorbing stubs: any field, call or arithmetic on a stub yields another stub, so top-level
-- code such as `local log = kong.log.err` or `local cjson = require "cjson.safe"` loads.
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

local ngx = stub()
rawset(ngx, "null", null)
for name, value in G.pairs {
  OK = 0, ERROR = -1, AGAIN = -2, DONE = -4, DECLINED = -5,
  STDERR = 0, EMERG = 1, ALERT = 2, CRIT = 3, ERR = 4, WARN = 5, NOTICE = 6, INFO = 7, DEBUG = 8,
  HTTP_GET = 2, HTTP_HEAD = 4, HTTP_PUT = 16, HTTP_POST = 8, HTTP_DELETE = 32,
  HTTP_OPTIONS = 512, HTTP_PATCH = 16384,
  HTTP_OK = 200, HTTP_CREATED = 201, HTTP_NO_CONTENT = 204, HTTP_MOVED_PERMANENTLY = 301,
  HTTP_MOVED_TEMPORARILY = 302, HTTP_NOT_MODIFIED = 304, HTTP_BAD_REQUEST = 400,
  HTTP_UNAUTHORIZED = 401, HTTP_FORBIDDEN = 403, HTTP_NOT_FOUND = 404,
  HTTP_NOT_ALLOWED = 405, HTTP_TOO_MANY_REQUESTS = 429, HTTP_INTERNAL_SERVER_ERROR = 500,
  HTTP_BAD_GATEWAY = 502, HTTP_SERVICE_UNAVAILABLE = 503, HTTP_GATEWAY_TIMEOUT = 504,
} do
  rawset(ngx, name, value)
end
local ngx_config = stub()
rawset(ngx_config, "subsystem", "http")
rawset(ngx, "config", ngx_config)
G.ngx = ngx

local kong = stub()
rawset(kong, "version", "3.15.0.0")
rawset(kong, "version_num", 3015000)
G.kong = kong

-- Builtin markers: one function per name, recognised by identity.
local markers = {}
local function builtin(name)
  local marker_name = name
  local marker = function()
    return marker_name ~= nil
  end
  markers[marker] = name
  return marker
end

if mode == "schema" then
  local typedefs
  G.require = function(name)
    if type(name) ~= "string" then
      error("bad argument #1 to 'require' (string expected, got " .. type(name) .. ")", 2)
    end
    if name == "kong.db.schema.typedefs" then
      if typedefs == nil then
        typedefs = compile_typedefs()(builtin, null)
      end
      return typedefs
    end
    note_forbidden(name)
    error("module '" .. name .. "' is not available in the plugin sandbox", 2)
  end
else
  local loaded = {}
  G.require = function(name)
    if type(name) ~= "string" then
      error("bad argument #1 to 'require' (string expected, got " .. type(name) .. ")", 2)
    end
    local m = loaded[name]
    if m == nil then
      m = stub()
      loaded[name] = m
    end
    return m
  end
end

return markers, stub_mt
