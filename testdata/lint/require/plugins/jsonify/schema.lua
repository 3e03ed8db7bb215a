local typedefs = require "kong.db.schema.typedefs"
local utils = require("kong.tools.utils")
return { name = "jsonify", fields = { { config = { type = "record", fields = {} } } } }
