-- Requires a module schemas may not use.
local openssl = require "resty.openssl"
return { name = "x", fields = { { config = { type = "record", fields = {} } } } }
