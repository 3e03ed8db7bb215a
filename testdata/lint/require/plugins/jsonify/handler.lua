local cjson = require "cjson.safe"
local http = require("resty.http")

return { PRIORITY = 10, VERSION = "1.0.0" }
