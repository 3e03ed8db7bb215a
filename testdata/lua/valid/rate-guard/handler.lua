local kong = kong
local ngx = ngx
local max = math.max

local EXPIRATIONS = { second = 1, minute = 60, hour = 3600, day = 86400 }

local RateGuard = {
  PRIORITY = 910,
  VERSION = "1.2.0",
}

local counters = {}

local function identifier(conf)
  if conf.limit_by == "header" then
    return kong.request.get_header(conf.header_name)
  elseif conf.limit_by == "ip" then
    return kong.client.get_forwarded_ip()
  end
  local consumer = kong.client.get_consumer()
  return consumer and consumer.id or kong.client.get_forwarded_ip()
end

function RateGuard:access(conf)
  local id = identifier(conf)
  local now = ngx.time()
  local bucket = counters[conf] or {}
  counters[conf] = bucket
  for period, seconds in pairs(EXPIRATIONS) do
    local limit = conf[period]
    if limit then
      local key = id .. ":" .. period .. ":" .. (now - now % seconds)
      bucket[key] = (bucket[key] or 0) + 1
      if bucket[key] > limit then
        return kong.response.error(conf.error_code, conf.error_message)
      end
      if not conf.hide_client_headers then
        kong.response.set_header("RateLimit-Remaining", max(0, limit - bucket[key]))
      end
    end
  end
end

return RateGuard
