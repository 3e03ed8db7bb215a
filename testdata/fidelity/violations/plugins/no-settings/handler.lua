local NoSettings = { PRIORITY = 13, VERSION = "0.2.0" }

function NoSettings:access()
  kong.service.request.set_header("X-Checked", "1")
end

return NoSettings
