local typedefs = require "kong.db.schema.typedefs"
return { name = "x", fields = { { protocols = typedefs.protocols_http } } }
