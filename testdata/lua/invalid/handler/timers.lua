local kong = kong
local timer_at = ngx.timer.at

local Handler = { PRIORITY = 5, VERSION = "1.0.0" }

function Handler:log(conf)
  ngx.timer.every(10, function() end)
  kong.timer:named_at("flush", 1, function() end)
  timer_at(0, function() end)
end

return Handler
