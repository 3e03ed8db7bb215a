local typedefs = require "kong.db.schema.typedefs"
return { name = "x", fields = { { config = { type = "record", fields = { { p = typedefs.portt } } } } } }
