local typedefs = require "kong.db.schema.typedefs"

return {
  name = "maintenance-window",
  fields = {
    { protocols = typedefs.protocols_http },
    { consumer = typedefs.no_consumer },
    { config = {
        type = "record",
        fields = {
          { active = { type = "boolean", required = true, default = false } },
          { status_code = { type = "integer", required = true, default = 503, between = { 400, 599 } } },
          { message = { type = "string", required = true, default = "Service under maintenance" } },
          { bypass_paths = { type = "array", required = true, default = {},
              elements = { type = "string", starts_with = "/" } } },
          { retry_after = { type = "integer", gt = 0 } },
        },
      },
    },
  },
}
