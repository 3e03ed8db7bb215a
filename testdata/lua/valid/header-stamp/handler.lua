local kong = kong
local cjson = require "cjson.safe"
local pl_template = require "pl.stringx"

local HeaderStamp = {
  VERSION = "0.3.1",
  PRIORITY = 801,
}

local function split(pair)
  local name, value = pair:match("^([^:]+):(.*)$")
  return name, value
end

function HeaderStamp:access(conf)
  for _, name in ipairs(conf.remove.headers) do
    kong.service.request.clear_header(name)
  end
  for from, to in pairs(conf.rename) do
    local value = kong.request.get_header(from)
    if value then
      kong.service.request.clear_header(from)
      kong.service.request.set_header(to, value)
    end
  end
  for _, pair in ipairs(conf.add.headers) do
    local name, value = split(pair)
    if not kong.request.get_header(name) then
      kong.service.request.set_header(name, value)
    end
  end
  kong.service.request.set_header(conf.stamp, cjson.encode({ plugin = "header-stamp" }))
end

function HeaderStamp:header_filter(conf)
  kong.response.set_header(conf.stamp, "1")
end

return HeaderStamp
