local Warmup = { PRIORITY = 10, VERSION = "1.0.0" }

function Warmup:init_worker()
  kong.log.info("warming up")
end

return Warmup
