local kong = kong
local ipmatcher = require "resty.ipmatcher"

local IpGate = {}

IpGate.PRIORITY = 990
IpGate.VERSION = "1.0.0"

local function matches(list, ip)
  if not list or #list == 0 then
    return false
  end
  local m = ipmatcher.new(list)
  return m and m:match(ip)
end

function IpGate:access(conf)
  local ip = kong.client.get_forwarded_ip()
  if matches(conf.deny, ip) or (conf.allow and not matches(conf.allow, ip)) then
    return kong.response.error(conf.status or 403, conf.message or "Your IP address is not allowed")
  end
end

function IpGate:preread(conf)
  return IpGate.access(self, conf)
end

return IpGate
