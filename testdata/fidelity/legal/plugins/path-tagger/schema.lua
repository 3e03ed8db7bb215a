local typedefs = require "kong.db.schema.typedefs"

return {
  name = "path-tagger",
  fields = {
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { header = typedefs.header_name { required = true, default = "X-Path-Parts" } },
        },
    } },
  },
}
