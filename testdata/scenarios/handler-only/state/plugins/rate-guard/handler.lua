local RateGuard = { PRIORITY = 910, VERSION = "1.0.1" }

function RateGuard:access(conf)
  kong.log.debug("window ", conf.window, " limit ", conf.limit)
end

return RateGuard
