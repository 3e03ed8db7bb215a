local kong = kong
local cjson = require "cjson.safe"
local Queue = require "kong.tools.table"

local HttpAudit = {
  PRIORITY = 12,
  VERSION = "2.0.0",
}

local function send_entries(conf, entries)
  local body = cjson.encode(entries)
  local httpc = require("resty.http").new()
  httpc:set_timeout(conf.timeout)
  local res, err = httpc:request_uri(conf.http_endpoint, {
    method = conf.method,
    body = body,
    headers = { ["Content-Type"] = conf.content_type },
  })
  if not res then
    return nil, "failed request to " .. conf.http_endpoint .. ": " .. err
  end
  return res.status < 300
end

function HttpAudit:log(conf)
  local entry = kong.log.serialize()
  Queue.enqueue({ name = "http-audit", handler = send_entries, handler_conf = conf }, conf.queue, entry)
end

return HttpAudit
