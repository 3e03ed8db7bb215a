local typedefs = require "kong.db.schema.typedefs"

-- No `config` record: the plugins entity's `config` is abstract but not required, so Kong loads
-- this schema, and its instances take no config.
return {
  name = "served-by",
  fields = {
    { protocols = typedefs.protocols_http },
  },
}
