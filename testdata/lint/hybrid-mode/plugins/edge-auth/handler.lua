local http = require "resty.http"
local lrucache = require "resty.lrucache"

local EdgeAuth = {}
EdgeAuth.__index = EdgeAuth
local handler = setmetatable({ PRIORITY = 1005, VERSION = "2.1.0" }, EdgeAuth)

function handler:init_worker()
  ngx.timer.every(60, function() end)
end

function handler:access(conf)
  local client = http.new()
  local cache = lrucache.new(100)
  if not kong.request.get_header(conf.header) then
    return kong.response.exit(401, { message = "missing credentials" })
  end
end

return handler
