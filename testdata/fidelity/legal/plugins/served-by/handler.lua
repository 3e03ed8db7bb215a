-- Marks every response; it needs no settings, so its schema declares no `config` at all.
local ServedBy = { PRIORITY = 12, VERSION = "1.0.0" }

function ServedBy:header_filter()
  kong.response.set_header("X-Served-By", "gateway")
end

return ServedBy
