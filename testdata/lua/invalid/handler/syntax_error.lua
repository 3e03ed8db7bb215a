local Handler = {
  PRIORITY = 1,
  VERSION = "1.0.0"

function Handler:access(conf)
end

return Handler
