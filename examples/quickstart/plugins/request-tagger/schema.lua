local typedefs = require "kong.db.schema.typedefs"

return {
  name = "request-tagger",
  fields = {
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { header = typedefs.header_name { required = true, default = "X-Request-Tag" } },
          { value = { type = "string", required = true } },
          { overwrite = { type = "boolean", required = true, default = false } },
        },
      },
    },
  },
}
