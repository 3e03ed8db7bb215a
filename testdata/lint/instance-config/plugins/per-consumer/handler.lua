local PerConsumer = { PRIORITY = 900, VERSION = "0.1.0" }

function PerConsumer:access(conf)
  kong.service.request.set_header("X-Mode", conf.mode or "none")
end

return PerConsumer
