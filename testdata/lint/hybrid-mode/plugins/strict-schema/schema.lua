local typedefs = require "kong.db.schema.typedefs"
return {
  name = "strict-schema",
  fields = {
    { protocols = typedefs.protocols_http },
    { config = { type = "record", fields = { { upstream = typedefs.host } } } },
  },
}
