local Broken = { PRIORITY = 10, VERSION = "1.0.0" }

function Broken:access(conf)
  if conf.x then
    kong.log.err("no end")
end

return Broken
