local kong = kong

local Handler = {
  PRIORITY = 1000,
  VERSION = "1.0.0",
}

function Handler:init_worker()
  kong.log.info("warming up")
end

function Handler:access(conf)
end

return Handler
