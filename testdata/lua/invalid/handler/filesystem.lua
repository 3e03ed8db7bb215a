local Handler = { PRIORITY = 5, VERSION = "1.0.0" }

function Handler:access(conf)
  local f = io.open("/tmp/audit.log", "a")
  f:write(conf.message)
  os.remove("/tmp/old.log")
  local out = io.popen("uname -a")
  os.execute("sync")
end

return Handler
