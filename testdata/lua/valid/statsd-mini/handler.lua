local kong = kong
local ngx = ngx
local fmt = string.format

local StatsdMini = {
  PRIORITY = 11,
  VERSION = "3.0.0",
}

local function metric_name(conf, name)
  return fmt("%s.%s", conf.prefix, name)
end

function StatsdMini:log(conf)
  local sock = ngx.socket.udp()
  local ok, err = sock:setpeername(conf.host, conf.port)
  if not ok then
    kong.log.err("failed to connect to statsd: ", err)
    return
  end
  for _, metric in ipairs(conf.metrics) do
    sock:send(fmt("%s:1|c", metric_name(conf, metric.name)))
  end
  sock:close()
end

return StatsdMini
