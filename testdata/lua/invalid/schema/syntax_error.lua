local typedefs = require "kong.db.schema.typedefs"

return {
  name = "broken",
  fields = {
    { config = { type = "record" fields = {} } },
  },
}
