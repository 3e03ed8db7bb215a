local Handler = { PRIORITY = 5, VERSION = "1.0.0" }

function Handler:access(conf)
  local secret = require("kong.plugins.leaky-mods.secret").value
  local tpl = require "resty.template".new
  local ok, inspect = pcall(require, "inspect")
  kong.log.info(secret, tpl, ok, inspect)
end

return Handler
