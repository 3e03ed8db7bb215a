local RateGuard = { PRIORITY = 910, VERSION = "1.0.0" }

function RateGuard:access(conf)
  kong.log.debug("window ", conf.window)
end

return RateGuard
