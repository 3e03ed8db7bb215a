-- Adds security headers to every response, strips revealing ones, and passes a request id on.
local SecurityHeaders = { PRIORITY = 900, VERSION = "1.0.0" }

function SecurityHeaders:rewrite(conf)
  kong.service.request.set_header("X-Request-Id", ngx.var.request_id)
end

function SecurityHeaders:header_filter(conf)
  kong.response.set_header("X-Frame-Options", conf.frame_options)
  kong.response.set_header("X-Content-Type-Options", "nosniff")
  if conf.hsts_max_age and kong.request.get_scheme() == "https" then
    kong.response.set_header("Strict-Transport-Security", "max-age=" .. conf.hsts_max_age)
  end
  for _, name in ipairs(conf.strip) do
    kong.response.clear_header(name)
  end
end

return SecurityHeaders
