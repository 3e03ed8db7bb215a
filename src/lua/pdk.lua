-- plugsync PDK stand-in: turns the handler environment the prelude built (where every kong.* and
-- ngx.* function is a no-op) into one that serves a single simulated request, for
-- `plugsync test`. Run once per state, after the prelude and before the handler chunk, with:
--   env      the handler environment returned by the prelude
--   null     ngx.null
--   host     Rust helpers: json_encode(v) -> string | nil, err; json_decode(s) -> v | nil, err;
--            tripped() -> true once the budget is spent
-- Returns a table with `prepare(request)` (before the handler chunk runs) and `run(handler, conf)`
-- (runs the phases, returns what happened). Only trusted code: it is never reachable from the
-- handler except through the functions it installs in the environment.

local env, null, host = ...

local type, error, tostring, tonumber, select, pairs, ipairs, next =
  type, error, tostring, tonumber, select, pairs, ipairs, next
local setmetatable, getmetatable, rawset, rawget, pcall = setmetatable, getmetatable, rawset, rawget, pcall
local sfind, ssub, slower, supper, sgsub, sformat, sbyte, schar, smatch, sgmatch =
  string.find, string.sub, string.lower, string.upper, string.gsub, string.format, string.byte,
  string.char, string.match, string.gmatch
local tconcat, tsort = table.concat, table.sort
local floor = math.floor
local band, bor, lshift, rshift = bit.band, bit.bor, bit.lshift, bit.rshift
local os_date = os.date

local BUDGET_MESSAGE = "plugin sandbox: execution budget exhausted"
local MEMORY_MESSAGE = "not enough memory"

-- The simulated clock: every case runs at the same instant, so tests are repeatable.
local NOW = 1700000000

-- Thrown by kong.response.exit / ngx.exit to end the phase; recognised by identity.
local EXIT = setmetatable({}, { __tostring = function() return "kong.response.exit" end })
local PHASE_END = setmetatable({}, { __tostring = function() return "ngx.exit" end })

local phase = "init"
local S -- the request being simulated (see prepare)

-- ----- phases each function may be called in -----

local function set(list)
  local t = {}
  for _, v in ipairs(list) do t[v] = true end
  return t
end

local ANY = set { "init", "rewrite", "access", "response", "header_filter", "body_filter", "log" }
local REQUEST = set { "rewrite", "access", "response", "header_filter", "body_filter", "log" }
local REQUEST_BODY = set { "rewrite", "access", "response" }
local SERVICE_REQUEST = set { "rewrite", "access" }
local RESPONSE_READ = set { "header_filter", "response", "body_filter", "log" }
local RESPONSE_WRITE = set { "rewrite", "access", "response", "header_filter" }
local EXIT_PHASES = set { "rewrite", "access", "response", "header_filter" }
local BODY_FILTER = set { "body_filter" }
local SERVICE_RESPONSE = set { "header_filter", "response", "body_filter", "log" }
local CONSUMER = set { "access", "response", "header_filter", "body_filter", "log" }
local AUTHENTICATE = set { "rewrite", "access" }

local function check(allowed)
  if not allowed[phase] then
    error("function cannot be called in " .. phase .. " phase", 3)
  end
end

-- ----- headers: an ordered list of {name, value}, looked up case-insensitively -----

local NORM = {}
local function norm(name)
  local n = NORM[name]
  if n == nil then
    n = sgsub(slower(name), "_", "-")
    NORM[name] = n
  end
  return n
end

local Headers = {}
Headers.__index = Headers

local function new_headers(list)
  local h = setmetatable({ list = {} }, Headers)
  for _, e in ipairs(list or {}) do
    h.list[#h.list + 1] = { e[1], e[2] }
  end
  return h
end

function Headers:copy()
  return new_headers(self.list)
end

function Headers:get(name)
  local k = norm(name)
  for _, e in ipairs(self.list) do
    if norm(e[1]) == k then return e[2] end
  end
  return nil
end

function Headers:clear(name)
  local k = norm(name)
  local out = {}
  for _, e in ipairs(self.list) do
    if norm(e[1]) ~= k then out[#out + 1] = e end
  end
  self.list = out
end

function Headers:add(name, value)
  if type(value) == "table" then
    for _, v in ipairs(value) do
      self.list[#self.list + 1] = { name, v }
    end
  else
    self.list[#self.list + 1] = { name, value }
  end
end

function Headers:set(name, value)
  self:clear(name)
  self:add(name, value)
end

-- Kong's shape: lowercase keys, a string or (repeated header) an array of strings; lookups
-- are case-insensitive and accept `_` for `-`.
local headers_table_mt = {
  __index = function(t, k)
    if type(k) == "string" then
      local n = norm(k)
      if n ~= k then return rawget(t, n) end
    end
  end,
}

function Headers:table(max)
  local t, count = {}, 0
  for _, e in ipairs(self.list) do
    count = count + 1
    if max and count > max then break end
    local k = slower(e[1])
    local cur = t[k]
    if cur == nil then
      t[k] = e[2]
    elseif type(cur) == "table" then
      cur[#cur + 1] = e[2]
    else
      t[k] = { cur, e[2] }
    end
  end
  return setmetatable(t, headers_table_mt)
end

local function header_name(name)
  if type(name) ~= "string" or name == "" then
    return nil, "invalid header name \"" .. tostring(name) .. "\": got " .. type(name) .. ", expected a non-empty string"
  end
  return name
end

local function header_value(name, value)
  local t = type(value)
  if t == "string" then return value end
  if t == "number" or t == "boolean" then return tostring(value) end
  if t == "table" then
    local out = {}
    for i, v in ipairs(value) do
      if type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then
        return nil, "invalid header value in array \"" .. name .. "\": got " .. type(v) ..
          ", expected string, number or boolean"
      end
      out[i] = tostring(v)
    end
    return out
  end
  return nil, "invalid header value for \"" .. name .. "\": got " .. t ..
    ", expected array of string, string, number or boolean"
end

-- ----- text helpers: URIs, query strings, base64 -----

local function unescape(s, plus)
  if plus then s = sgsub(s, "+", " ") end
  return (sgsub(s, "%%(%x%x)", function(h) return schar(tonumber(h, 16)) end))
end

local function escape(s)
  return (sgsub(s, "[^%w%-%._~]", function(c) return sformat("%%%02X", sbyte(c)) end))
end

-- `a=1&b&a=2` -> { a = { "1", "2" }, b = true }, as ngx.decode_args does.
local function decode_args(s, max)
  local out, count = {}, 0
  if type(s) ~= "string" then return out end
  for pair in sgmatch(s, "[^&]+") do
    count = count + 1
    if max and max > 0 and count > max then break end
    local k, v = smatch(pair, "^([^=]*)=(.*)$")
    if k then
      k, v = unescape(k, true), unescape(v, true)
    else
      k, v = unescape(pair, true), true
    end
    if k ~= "" then
      local cur = out[k]
      if cur == nil then
        out[k] = v
      elseif type(cur) == "table" then
        cur[#cur + 1] = v
      else
        out[k] = { cur, v }
      end
    end
  end
  return out
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  tsort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function encode_args(args)
  local parts = {}
  for _, k in ipairs(sorted_keys(args)) do
    local v = args[k]
    local key = escape(tostring(k))
    local values = type(v) == "table" and v or { v }
    for _, x in ipairs(values) do
      if x == true then
        parts[#parts + 1] = key
      elseif x ~= false and x ~= nil then
        parts[#parts + 1] = key .. "=" .. escape(tostring(x))
      end
    end
  end
  return tconcat(parts, "&")
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64_INDEX = {}
for i = 1, 64 do
  B64_INDEX[sbyte(B64, i)] = i - 1
end

local function encode_base64(s, no_padding)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = sbyte(s, i, i + 2)
    local n = lshift(a, 16) + lshift(b or 0, 8) + (c or 0)
    out[#out + 1] = ssub(B64, rshift(n, 18) + 1, rshift(n, 18) + 1)
    out[#out + 1] = ssub(B64, band(rshift(n, 12), 63) + 1, band(rshift(n, 12), 63) + 1)
    out[#out + 1] = b and ssub(B64, band(rshift(n, 6), 63) + 1, band(rshift(n, 6), 63) + 1) or (no_padding and "" or "=")
    out[#out + 1] = c and ssub(B64, band(n, 63) + 1, band(n, 63) + 1) or (no_padding and "" or "=")
  end
  return tconcat(out)
end

local function decode_base64(s)
  if type(s) ~= "string" then return nil end
  s = sgsub(s, "=+$", "")
  if #s % 4 == 1 then return nil end
  local out, bits, count = {}, 0, 0
  for i = 1, #s do
    local v = B64_INDEX[sbyte(s, i)]
    if v == nil then return nil end
    bits = bor(lshift(bits, 6), v)
    count = count + 6
    if count >= 8 then
      count = count - 8
      out[#out + 1] = schar(band(rshift(bits, count), 255))
      bits = band(bits, lshift(1, count) - 1)
    end
  end
  return tconcat(out)
end

-- Kong's path normalisation: merged slashes, `.` and `..` segments resolved.
local function normalize_path(path)
  local segments = {}
  for seg in sgmatch(path, "[^/]+") do
    if seg == ".." then
      segments[#segments] = nil
    elseif seg ~= "." then
      segments[#segments + 1] = unescape(seg)
    end
  end
  local out = "/" .. tconcat(segments, "/")
  if #segments > 0 and ssub(path, -1) == "/" then out = out .. "/" end
  return out
end

local function media_type(content_type)
  if type(content_type) ~= "string" then return nil end
  return slower(smatch(content_type, "^%s*([^;%s]+)") or "")
end

-- Parses a body by its media type, as kong.request.get_body and kong.service.response.get_body do.
local function parse_body(body, content_type, what)
  local mime = media_type(content_type)
  if not mime or mime == "" then
    return nil, "missing content type"
  end
  if mime == "application/x-www-form-urlencoded" then
    return decode_args(body or ""), nil, mime
  end
  if mime == "application/json" or smatch(mime, "^application/[%w%.%-]+%+json$") then
    local value = host.json_decode(body or "")
    if type(value) ~= "table" then
      return nil, "invalid json body", mime
    end
    return value, nil, mime
  end
  if mime == "multipart/form-data" then
    error("not available offline: " .. what .. " of a multipart/form-data body", 3)
  end
  return nil, "unsupported content type '" .. mime .. "'", mime
end

-- Encodes a table as a body of `mime`, as kong.service.request.set_body does.
local function encode_body(args, mime)
  if mime == "application/x-www-form-urlencoded" then
    return encode_args(args)
  end
  if mime == "application/json" or smatch(mime, "^application/[%w%.%-]+%+json$") then
    local s, err = host.json_encode(args)
    if not s then error(err, 3) end
    return s
  end
  if mime == "multipart/form-data" then
    error("not available offline: kong.service.request.set_body with multipart/form-data", 3)
  end
  error("unsupported content type '" .. tostring(mime) .. "'", 3)
end

local function describe(v)
  if type(v) == "string" then return v end
  if type(v) == "table" and getmetatable(v) == nil then
    local s = host.json_encode(v)
    if s then return s end
  end
  return tostring(v)
end

-- ----- logs -----

local LEVEL_NAMES = { [0] = "stderr", "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug" }

local function record(level, ...)
  local parts = {}
  for i = 1, select("#", ...) do
    parts[i] = tostring((select(i, ...)))
  end
  S.logs[#S.logs + 1] = { level = level, message = tconcat(parts), phase = phase }
end

local function logger(level)
  return function(...)
    check(ANY)
    record(level, ...)
  end
end

-- ----- responses -----

local function status_code(status, low)
  if type(status) ~= "number" or status % 1 ~= 0 then
    return nil, "code must be a number"
  end
  if status < (low or 100) or status > 599 then
    return nil, "code must be a number between " .. (low or 100) .. " and 599"
  end
  return status
end

local DEFAULT_MESSAGES = {
  [400] = "Bad request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not found",
  [405] = "Method not allowed", [406] = "Not acceptable", [409] = "Conflict",
  [413] = "Request size limit exceeded", [429] = "API rate limit exceeded",
  [500] = "An unexpected error occurred", [502] = "An invalid response was received from the upstream server",
  [503] = "Service unavailable", [504] = "The upstream server is timing out",
}

local JSON_TYPE = "application/json; charset=utf-8"

-- Produces the response in the current phase and ends it (rewrite, access, response), or in
-- header_filter replaces the status and headers of the response about to be sent.
local function do_exit(status, body, headers, level)
  for name, value in pairs(headers or {}) do
    local ok, err = header_name(name)
    if not ok then error(err, level) end
    local v
    v, err = header_value(name, value)
    if v == nil then error(err, level) end
    S.resp.headers:set(name, v)
  end
  S.resp.status = status
  if phase == "header_filter" then
    if body ~= nil then
      error("body must be nil in header_filter phase", level)
    end
    S.resp.source = "exit"
    return
  end
  if type(body) == "table" then
    local s, err = host.json_encode(body)
    if not s then error(err, level) end
    body = s
    if not S.resp.headers:get("Content-Type") then
      S.resp.headers:set("Content-Type", JSON_TYPE)
    end
  elseif body ~= nil and type(body) ~= "string" then
    error("body must be a nil, string or table", level)
  end
  S.resp.body = body or ""
  S.resp.source = "exit"
  S.exited = true
  error(EXIT, 0)
end

-- ----- the implementations, by dotted path -----

local IMPL = {}

-- kong.log and ngx.log
for _, level in ipairs { "alert", "crit", "debug", "emerg", "err", "info", "notice", "warn" } do
  IMPL["kong.log." .. level] = logger(level)
end
IMPL["kong.log.inspect.on"] = function() end
IMPL["kong.log.inspect.off"] = function() end
IMPL["kong.log.deprecation.write"] = logger("warn")
IMPL["ngx.log"] = function(level, ...)
  check(ANY)
  record(LEVEL_NAMES[level] or tostring(level), ...)
end

-- kong.request
local function req() return S.req end
IMPL["kong.request.get_scheme"] = function() check(REQUEST) return req().scheme end
IMPL["kong.request.get_host"] = function() check(REQUEST) return req().host end
IMPL["kong.request.get_port"] = function() check(REQUEST) return req().port end
IMPL["kong.request.get_forwarded_scheme"] = function() check(REQUEST) return req().scheme end
IMPL["kong.request.get_forwarded_host"] = function() check(REQUEST) return req().host end
IMPL["kong.request.get_forwarded_port"] = function() check(REQUEST) return req().port end
IMPL["kong.request.get_forwarded_path"] = function() check(REQUEST) return req().path end
IMPL["kong.request.get_forwarded_prefix"] = function() check(REQUEST) return nil end
IMPL["kong.request.get_http_version"] = function() check(REQUEST) return 1.1 end
IMPL["kong.request.get_method"] = function() check(REQUEST) return req().method end
IMPL["kong.request.get_path"] = function() check(REQUEST) return req().path end
IMPL["kong.request.get_raw_path"] = function() check(REQUEST) return req().raw_path end
IMPL["kong.request.get_path_with_query"] = function()
  check(REQUEST)
  local r = req()
  return r.query ~= "" and (r.raw_path .. "?" .. r.query) or r.raw_path
end
IMPL["kong.request.get_raw_query"] = function() check(REQUEST) return req().query end
IMPL["kong.request.get_query"] = function(max)
  check(REQUEST)
  return decode_args(req().query, max or 100)
end
IMPL["kong.request.get_query_arg"] = function(name)
  check(REQUEST)
  if type(name) ~= "string" then error("query argument name must be a string", 2) end
  local v = decode_args(req().query)[name]
  if type(v) == "table" then return v[1] end
  return v
end
IMPL["kong.request.get_header"] = function(name)
  check(REQUEST)
  if type(name) ~= "string" then error("header name must be a string", 2) end
  return req().headers:get(name)
end
IMPL["kong.request.get_headers"] = function(max)
  check(REQUEST)
  return req().headers:table(max or 100)
end
IMPL["kong.request.get_raw_body"] = function()
  check(REQUEST_BODY)
  return req().body
end
IMPL["kong.request.get_body"] = function(mimetype)
  check(REQUEST_BODY)
  local r = req()
  return parse_body(r.body, mimetype or r.headers:get("Content-Type"), "kong.request.get_body")
end
IMPL["kong.request.get_start_time"] = function() check(REQUEST) return NOW * 1000 end
IMPL["kong.request.get_uri_captures"] = function() check(REQUEST) return { unnamed = {}, named = {} } end

-- kong.service.request: changes to the request that goes to the upstream
local function svc_header(name, value, add)
  local ok, err = header_name(name)
  if not ok then error(err, 3) end
  local v
  v, err = header_value(name, value)
  if v == nil then error(err, 3) end
  if add then req().headers:add(name, v) else req().headers:set(name, v) end
end
IMPL["kong.service.request.set_header"] = function(name, value)
  check(SERVICE_REQUEST)
  svc_header(name, value, false)
end
IMPL["kong.service.request.add_header"] = function(name, value)
  check(SERVICE_REQUEST)
  svc_header(name, value, true)
end
IMPL["kong.service.request.clear_header"] = function(name)
  check(SERVICE_REQUEST)
  local ok, err = header_name(name)
  if not ok then error(err, 2) end
  req().headers:clear(name)
end
IMPL["kong.service.request.set_headers"] = function(headers)
  check(SERVICE_REQUEST)
  if type(headers) ~= "table" then error("headers must be a table", 2) end
  for _, name in ipairs(sorted_keys(headers)) do
    svc_header(name, headers[name], false)
  end
end
local METHODS = set { "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "MKCOL", "COPY", "MOVE",
  "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH", "TRACE", "CONNECT" }
IMPL["kong.service.request.set_method"] = function(method)
  check(SERVICE_REQUEST)
  if type(method) ~= "string" then error("method must be a string", 2) end
  if not METHODS[method] then error("invalid method: " .. method, 2) end
  req().method = method
end
IMPL["kong.service.request.set_path"] = function(path)
  check(SERVICE_REQUEST)
  if type(path) ~= "string" then error("path must be a string", 2) end
  if ssub(path, 1, 1) ~= "/" then error("path must start with /", 2) end
  S.upstream_path = path
end
IMPL["kong.service.request.set_raw_query"] = function(query)
  check(SERVICE_REQUEST)
  if type(query) ~= "string" then error("query must be a string", 2) end
  req().query = query
end
IMPL["kong.service.request.set_query"] = function(args)
  check(SERVICE_REQUEST)
  if type(args) ~= "table" then error("args must be a table", 2) end
  req().query = encode_args(args)
end
IMPL["kong.service.request.clear_query_arg"] = function(name)
  check(SERVICE_REQUEST)
  if type(name) ~= "string" then error("argument name must be a string", 2) end
  local args = decode_args(req().query)
  args[name] = nil
  req().query = encode_args(args)
end
IMPL["kong.service.request.set_scheme"] = function(scheme)
  check(SERVICE_REQUEST)
  if scheme ~= "http" and scheme ~= "https" then
    error("invalid scheme: " .. tostring(scheme), 2)
  end
  S.upstream_scheme = scheme
end
IMPL["kong.service.request.set_raw_body"] = function(body)
  check(SERVICE_REQUEST)
  if type(body) ~= "string" then error("body must be a string", 2) end
  req().body = body
end
IMPL["kong.service.request.set_body"] = function(args, mimetype)
  check(SERVICE_REQUEST)
  if type(args) ~= "table" then error("args must be a table", 2) end
  local mime = media_type(mimetype) or media_type(req().headers:get("Content-Type"))
  if not mime then error("content type was neither explicitly given as an argument or received as a header", 2) end
  req().body = encode_body(args, mime)
  if mimetype then req().headers:set("Content-Type", mimetype) end
  return true
end
IMPL["kong.service.request.enable_buffering"] = function()
  check(SERVICE_REQUEST)
  S.buffering = true
end

-- kong.response: the response sent to the client
local function resp_header(name, value, add)
  local ok, err = header_name(name)
  if not ok then error(err, 3) end
  local v
  v, err = header_value(name, value)
  if v == nil then error(err, 3) end
  if add then S.resp.headers:add(name, v) else S.resp.headers:set(name, v) end
end
IMPL["kong.response.get_status"] = function() check(RESPONSE_READ) return S.resp.status end
IMPL["kong.response.get_header"] = function(name)
  check(RESPONSE_READ)
  if type(name) ~= "string" then error("header name must be a string", 2) end
  return S.resp.headers:get(name)
end
IMPL["kong.response.get_headers"] = function(max)
  check(RESPONSE_READ)
  return S.resp.headers:table(max or 100)
end
IMPL["kong.response.get_source"] = function()
  check(RESPONSE_READ)
  return S.resp.source or "service"
end
IMPL["kong.response.set_status"] = function(status)
  check(RESPONSE_WRITE)
  local code, err = status_code(status)
  if not code then error(err, 2) end
  S.resp.status = code
end
IMPL["kong.response.set_header"] = function(name, value)
  check(RESPONSE_WRITE)
  resp_header(name, value, false)
end
IMPL["kong.response.add_header"] = function(name, value)
  check(RESPONSE_WRITE)
  resp_header(name, value, true)
end
IMPL["kong.response.clear_header"] = function(name)
  check(RESPONSE_WRITE)
  local ok, err = header_name(name)
  if not ok then error(err, 2) end
  S.resp.headers:clear(name)
  S.resp.cleared[norm(name)] = true
end
IMPL["kong.response.set_headers"] = function(headers)
  check(RESPONSE_WRITE)
  if type(headers) ~= "table" then error("headers must be a table", 2) end
  for _, name in ipairs(sorted_keys(headers)) do
    resp_header(name, headers[name], false)
  end
end
IMPL["kong.response.exit"] = function(status, body, headers)
  check(EXIT_PHASES)
  local code, err = status_code(status)
  if not code then error(err, 2) end
  if headers ~= nil and type(headers) ~= "table" then error("headers must be a nil or table", 2) end
  do_exit(code, body, headers, 3)
end
IMPL["kong.response.error"] = function(status, message, headers)
  check(EXIT_PHASES)
  local code, err = status_code(status, 400)
  if not code then error(err, 2) end
  if message ~= nil and type(message) ~= "string" then error("message must be a nil or string", 2) end
  if headers ~= nil and type(headers) ~= "table" then error("headers must be a nil or table", 2) end
  local h = { ["Content-Type"] = JSON_TYPE }
  for k, v in pairs(headers or {}) do h[k] = v end
  local body = nil
  if phase ~= "header_filter" then
    body = { message = message or DEFAULT_MESSAGES[code] or "The upstream server responded with " .. code }
  end
  do_exit(code, body, h, 3)
end
IMPL["kong.response.get_raw_body"] = function()
  check(BODY_FILTER)
  local arg = rawget(env.ngx, "arg")
  local chunk = arg[1]
  if type(chunk) == "string" and chunk ~= "" then
    S.body_buffer[#S.body_buffer + 1] = chunk
  end
  if arg[2] then
    return tconcat(S.body_buffer)
  end
  arg[1] = nil
  return nil
end
IMPL["kong.response.set_raw_body"] = function(body)
  check(BODY_FILTER)
  if type(body) ~= "string" then error("body must be a string", 2) end
  local arg = rawget(env.ngx, "arg")
  arg[1] = body
  arg[2] = true
  S.body_done = true
end

-- kong.service.response: what the upstream answered
local function svc() return S.sent and S.svc or nil end
local function buffered_body()
  local s = svc()
  if s and (S.buffering or phase == "response" or phase == "log") then return s.body end
  return nil
end
IMPL["kong.service.response.get_status"] = function()
  check(SERVICE_RESPONSE)
  local s = svc()
  return s and s.status
end
IMPL["kong.service.response.get_header"] = function(name)
  check(SERVICE_RESPONSE)
  if type(name) ~= "string" then error("header name must be a string", 2) end
  local s = svc()
  return s and s.headers:get(name)
end
IMPL["kong.service.response.get_headers"] = function(max)
  check(SERVICE_RESPONSE)
  local s = svc()
  return s and s.headers:table(max or 100)
end
IMPL["kong.service.response.get_raw_body"] = function()
  check(SERVICE_RESPONSE)
  return buffered_body()
end
IMPL["kong.service.response.get_body"] = function(mimetype)
  check(SERVICE_RESPONSE)
  local body = buffered_body()
  if body == nil then return nil, "the response body is not buffered" end
  return parse_body(body, mimetype or svc().headers:get("Content-Type"), "kong.service.response.get_body")
end

-- kong.client
IMPL["kong.client.get_ip"] = function() check(REQUEST) return S.client_ip end
IMPL["kong.client.get_forwarded_ip"] = function() check(REQUEST) return S.client_ip end
IMPL["kong.client.get_port"] = function() check(REQUEST) return 40000 end
IMPL["kong.client.get_forwarded_port"] = function() check(REQUEST) return 40000 end
IMPL["kong.client.get_protocol"] = function() check(REQUEST) return req().scheme end
IMPL["kong.client.get_consumer"] = function() check(CONSUMER) return S.consumer end
IMPL["kong.client.get_credential"] = function() check(CONSUMER) return S.credential end
IMPL["kong.client.authenticate"] = function(consumer, credential)
  check(AUTHENTICATE)
  if consumer == nil and credential == nil then
    error("either credential or consumer must be provided", 2)
  end
  if consumer ~= nil and type(consumer) ~= "table" then error("consumer must be a table or nil", 2) end
  if credential ~= nil and type(credential) ~= "table" then error("credential must be a table or nil", 2) end
  S.consumer, S.credential = consumer, credential
end

-- kong.node, kong.plugin
IMPL["kong.node.get_id"] = function() return "00000000-0000-4000-8000-000000000001" end
IMPL["kong.node.get_hostname"] = function() return "plugsync-test" end
IMPL["kong.plugin.get_id"] = function() check(REQUEST) return "00000000-0000-4000-8000-000000000002" end

-- kong.table
IMPL["kong.table.clear"] = function(t)
  if type(t) ~= "table" then error("bad argument #1 to 'clear' (table expected, got " .. type(t) .. ")", 2) end
  for k in next, t do t[k] = nil end
end
IMPL["kong.table.merge"] = function(t1, t2)
  local out = {}
  for k, v in pairs(t1 or {}) do out[k] = v end
  for k, v in pairs(t2 or {}) do out[k] = v end
  return out
end

-- ngx.req
local NGX_METHODS = {
  [2] = "GET", [4] = "HEAD", [8] = "POST", [16] = "PUT", [32] = "DELETE", [64] = "MKCOL",
  [128] = "COPY", [256] = "MOVE", [512] = "OPTIONS", [1024] = "PROPFIND", [2048] = "PROPPATCH",
  [4096] = "LOCK", [8192] = "UNLOCK", [16384] = "PATCH", [32768] = "TRACE",
}
IMPL["ngx.req.get_headers"] = function(max) check(REQUEST) return req().headers:table(max or 100) end
IMPL["ngx.req.get_method"] = function() check(REQUEST) return req().method end
IMPL["ngx.req.set_method"] = function(id)
  check(SERVICE_REQUEST)
  local m = NGX_METHODS[id]
  if not m then error("unsupported HTTP method: " .. tostring(id), 2) end
  req().method = m
end
IMPL["ngx.req.get_uri_args"] = function(max) check(REQUEST) return decode_args(req().query, max or 100) end
IMPL["ngx.req.set_uri_args"] = function(args)
  check(SERVICE_REQUEST)
  req().query = type(args) == "table" and encode_args(args) or tostring(args)
end
IMPL["ngx.req.get_post_args"] = function(max) check(REQUEST_BODY) return decode_args(req().body, max or 100) end
IMPL["ngx.req.read_body"] = function() check(REQUEST_BODY) end
IMPL["ngx.req.discard_body"] = function() check(REQUEST_BODY) end
IMPL["ngx.req.get_body_data"] = function()
  check(REQUEST_BODY)
  local body = req().body
  return body ~= "" and body or nil
end
IMPL["ngx.req.set_body_data"] = function(body)
  check(SERVICE_REQUEST)
  req().body = tostring(body)
end
IMPL["ngx.req.set_header"] = function(name, value)
  check(SERVICE_REQUEST)
  if value == nil then req().headers:clear(name) else svc_header(name, value, false) end
end
IMPL["ngx.req.clear_header"] = function(name) check(SERVICE_REQUEST) req().headers:clear(name) end
IMPL["ngx.req.http_version"] = function() check(REQUEST) return 1.1 end
IMPL["ngx.req.start_time"] = function() check(REQUEST) return NOW end
IMPL["ngx.req.is_internal"] = function() check(REQUEST) return false end

-- ngx: time, encoding, phase, exit
IMPL["ngx.now"] = function() return NOW end
IMPL["ngx.time"] = function() return NOW end
IMPL["ngx.update_time"] = function() end
IMPL["ngx.today"] = function() return os_date("!%Y-%m-%d", NOW) end
IMPL["ngx.utctime"] = function() return os_date("!%Y-%m-%d %H:%M:%S", NOW) end
IMPL["ngx.localtime"] = function() return os_date("!%Y-%m-%d %H:%M:%S", NOW) end
IMPL["ngx.http_time"] = function(t) return os_date("!%a, %d %b %Y %H:%M:%S GMT", floor(tonumber(t) or 0)) end
IMPL["ngx.cookie_time"] = function(t) return os_date("!%a, %d-%b-%y %H:%M:%S GMT", floor(tonumber(t) or 0)) end
IMPL["ngx.encode_base64"] = function(s, no_padding)
  if type(s) ~= "string" then error("bad argument #1 to 'encode_base64' (string expected, got " .. type(s) .. ")", 2) end
  return encode_base64(s, no_padding)
end
IMPL["ngx.decode_base64"] = function(s)
  if type(s) ~= "string" then error("bad argument #1 to 'decode_base64' (string expected, got " .. type(s) .. ")", 2) end
  return decode_base64(s)
end
IMPL["ngx.escape_uri"] = function(s) return escape(tostring(s)) end
IMPL["ngx.unescape_uri"] = function(s) return unescape(tostring(s), false) end
IMPL["ngx.encode_args"] = function(t)
  if type(t) ~= "table" then error("bad argument #1 to 'encode_args' (table expected, got " .. type(t) .. ")", 2) end
  return encode_args(t)
end
IMPL["ngx.decode_args"] = function(s, max) return decode_args(s, max) end
IMPL["ngx.get_phase"] = function()
  if phase == "response" then return "access" end
  return phase
end
IMPL["ngx.exit"] = function(status)
  check(EXIT_PHASES)
  status = tonumber(status) or 0
  if status >= 200 then
    do_exit(floor(status), nil, nil, 3)
  end
  error(PHASE_END, 0)
end
IMPL["ngx.redirect"] = function(uri, status)
  check(SERVICE_REQUEST)
  do_exit(status or 302, nil, { Location = tostring(uri) }, 3)
end

-- ----- install: every kong.*/ngx.* function is the implementation or a clear refusal -----

local function unavailable(path)
  return function()
    if phase == "init" then return nil end -- top-level code: a no-op, as when loading
    error("not available offline: " .. path, 2)
  end
end

-- A walk over env.kong and env.ngx (raw: no metamethods run), rather than over the profile's
-- list, so no path is parsed.
local function install(t, prefix, seen)
  if seen[t] then return end
  seen[t] = true
  for key, value in next, t do
    if type(key) == "string" then
      local path = prefix .. "." .. key
      if type(value) == "function" then
        rawset(t, key, IMPL[path] or unavailable(path))
      elseif type(value) == "table" then
        install(value, path, seen)
      end
    end
  end
end
local seen = {}
for _, root in ipairs { "kong", "ngx" } do
  local t = rawget(env, root)
  if type(t) == "table" then install(t, root, seen) end
end

-- Callable tables: kong.log(...) logs at notice, kong.log.inspect(...) at debug,
-- kong.log.deprecation(...) at warn.
local function make_callable(t, level, inspect)
  if type(t) ~= "table" then return end
  local mt = getmetatable(t) or {}
  mt.__call = function(_, ...)
    check(ANY)
    if inspect then
      local parts = {}
      for i = 1, select("#", ...) do
        parts[i] = describe((select(i, ...)))
      end
      record(level, tconcat(parts, " "))
    else
      record(level, ...)
    end
  end
  setmetatable(t, mt)
end
local kong = rawget(env, "kong")
local log = type(kong) == "table" and rawget(kong, "log") or nil
if type(log) == "table" then
  make_callable(log, "notice")
  make_callable(rawget(log, "inspect"), "debug", true)
  make_callable(rawget(log, "deprecation"), "warn")
end

-- ngx.var: the request's variables; writes to upstream_uri change the upstream path.
local ngx = rawget(env, "ngx")
local var_writes = {}
local VARS = {
  request_method = function(r) return r.method end,
  request_uri = function(r) return r.query ~= "" and (r.raw_path .. "?" .. r.query) or r.raw_path end,
  uri = function(r) return r.path end,
  args = function(r) return r.query ~= "" and r.query or nil end,
  query_string = function(r) return r.query ~= "" and r.query or nil end,
  is_args = function(r) return r.query ~= "" and "?" or "" end,
  host = function(r) return r.host end,
  scheme = function(r) return r.scheme end,
  server_port = function(r) return tostring(r.port) end,
  server_addr = function() return "127.0.0.1" end,
  remote_addr = function() return S.client_ip end,
  realip_remote_addr = function() return S.client_ip end,
  remote_port = function() return "40000" end,
  server_protocol = function() return "HTTP/1.1" end,
  content_type = function(r) return r.headers:get("Content-Type") end,
  content_length = function(r) return r.headers:get("Content-Length") end,
  request_length = function(r) return tostring(#r.body) end,
  upstream_uri = function(r) return S.upstream_path or r.path end,
  request_id = function() return "0123456789abcdef0123456789abcdef" end,
  status = function() return S.resp.status and tostring(S.resp.status) or nil end,
}
if type(ngx) == "table" then
  local var = rawget(ngx, "var")
  if type(var) == "table" then
    setmetatable(var, {
      __index = function(_, k)
        if var_writes[k] ~= nil then return var_writes[k] end
        if type(k) ~= "string" or phase == "init" then return nil end
        local f = VARS[k]
        if f then return f(S.req) end
        local h = smatch(k, "^http_(.+)$")
        if h then return S.req.headers:get(h) end
        local a = smatch(k, "^arg_(.+)$")
        if a then
          local v = decode_args(S.req.query)[a]
          if type(v) == "table" then v = v[1] end
          if v == true then v = "" end
          return v
        end
        h = smatch(k, "^sent_http_(.+)$")
        if h then return S.resp.headers:get(h) end
        h = smatch(k, "^upstream_http_(.+)$")
        if h then return S.sent and S.svc.headers:get(h) or nil end
        return nil
      end,
      __newindex = function(_, k, v)
        if k == "upstream_uri" then
          S.upstream_path, S.upstream_query = smatch(tostring(v), "^([^?]*)%??(.*)$")
        end
        var_writes[k] = v
      end,
    })
  end
  -- ngx.header: the response headers
  local header = rawget(ngx, "header")
  if type(header) == "table" then
    setmetatable(header, {
      __index = function(_, k)
        if type(k) ~= "string" or not S.resp then return nil end
        return S.resp.headers:get(k)
      end,
      __newindex = function(_, k, v)
        if v == nil then S.resp.headers:clear(k) else resp_header(k, v, false) end
      end,
    })
  end
  -- ngx.status: the response status
  rawset(ngx, "status", nil)
  setmetatable(ngx, {
    __index = function(_, k)
      if k == "status" then return S.resp and S.resp.status or 0 end
    end,
    __newindex = function(t, k, v)
      if k == "status" then
        local code = tonumber(v)
        if code then S.resp.status = code end
        return
      end
      rawset(t, k, v)
    end,
  })
end

-- ----- running one request -----

local M = {}

-- Sets up the request. `r` (built by Rust): method, raw_path, query, headers = {{name, value}},
-- body, scheme, client_ip, consumer, upstream = { status, headers, body }.
function M.prepare(r)
  local headers = new_headers(r.headers)
  local host_header = headers:get("Host")
  local request = {
    method = r.method,
    raw_path = r.raw_path,
    path = normalize_path(r.raw_path),
    query = r.query or "",
    headers = headers,
    body = r.body or "",
    scheme = r.scheme or "http",
    host = host_header and slower(smatch(host_header, "^[^:]*")) or "localhost",
    port = r.scheme == "https" and 8443 or 8000,
  }
  S = {
    req = request,
    client_ip = r.client_ip or "127.0.0.1",
    consumer = r.consumer,
    credential = nil,
    logs = {},
    phases = {},
    resp = { status = nil, headers = new_headers(), body = nil, source = nil, cleared = {} },
    upstream = r.upstream,
    body_buffer = {},
  }
  phase = "init"
end

local function failure_text(err)
  if type(err) == "string" then return err end
  if type(err) == "table" and getmetatable(err) == nil then
    local s = host.json_encode(err)
    if s then return s end
  end
  return tostring(err)
end

-- Calls one phase handler; records an error it raises. Returns false when it raised one.
local function call_phase(handler, name, conf)
  local f = handler[name]
  if type(f) ~= "function" then return true, false end
  phase = name
  local ok, err = pcall(f, handler, conf)
  if host.tripped() then error(BUDGET_MESSAGE, 0) end
  if not ok and err == MEMORY_MESSAGE then error(MEMORY_MESSAGE, 0) end
  if S.phases[#S.phases] ~= name then S.phases[#S.phases + 1] = name end
  if ok or err == EXIT or err == PHASE_END then
    return true, true
  end
  S.error = failure_text(err)
  S.error_phase = name
  return false, true
end

local function error_response()
  S.resp.status = 500
  S.resp.headers = new_headers { { "Content-Type", JSON_TYPE } }
  S.resp.body = '{"message":"An unexpected error occurred"}'
  S.resp.source = "error"
end

-- The request leaves for the upstream, which answers.
local function proxy()
  local r = S.req
  local path, query = S.upstream_path or r.path, r.query
  if S.upstream_query then query = S.upstream_query end
  S.sent = {
    method = r.method,
    path = path,
    query = query,
    scheme = S.upstream_scheme or r.scheme,
    headers = r.headers:copy().list,
    body = r.body,
  }
  local u = S.upstream
  S.svc = { status = u.status, headers = new_headers(u.headers), body = u.body }
  -- Headers the plugin set on the response before proxying are applied over the upstream's.
  local early = S.resp.headers
  local headers = S.svc.headers:copy()
  for name in pairs(S.resp.cleared) do headers:clear(name) end
  local seen = {}
  for _, e in ipairs(early.list) do
    local k = norm(e[1])
    if not seen[k] then
      headers:clear(e[1])
      seen[k] = true
    end
  end
  for _, e in ipairs(early.list) do headers:add(e[1], e[2]) end
  S.resp.headers = headers
  S.resp.status = u.status
  S.resp.body = u.body
  S.resp.source = "service"
end

function M.run(handler, conf)
  for _, name in ipairs { "rewrite", "access" } do
    if S.exited then break end
    local ok = call_phase(handler, name, conf)
    if not ok then break end
  end
  if S.error then
    error_response()
  elseif not S.exited then
    proxy()
    if type(handler.response) == "function" then
      if not call_phase(handler, "response", conf) then error_response() end
    end
  end
  if not S.error then
    if not call_phase(handler, "header_filter", conf) then error_response() end
  end
  if not S.error and type(handler.body_filter) == "function" then
    local arg = rawget(rawget(env, "ngx"), "arg")
    local out = {}
    local chunks = { { S.resp.body or "", false }, { "", true } }
    for _, c in ipairs(chunks) do
      if S.body_done then break end
      arg[1], arg[2] = c[1], c[2]
      local ok = call_phase(handler, "body_filter", conf)
      local chunk = arg[1]
      if chunk ~= nil then out[#out + 1] = tostring(chunk) end
      if not ok then break end
    end
    S.resp.body = tconcat(out)
  end
  call_phase(handler, "log", conf)
  phase = "done"
  return {
    upstream_request = S.sent,
    response = {
      status = S.resp.status or 200,
      headers = S.resp.headers.list,
      body = S.resp.body or "",
      source = S.resp.source or "service",
    },
    logs = S.logs,
    error = S.error,
    error_phase = S.error_phase,
    phases = S.phases,
  }
end

return M
