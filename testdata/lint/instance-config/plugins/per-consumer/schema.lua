local typedefs = require "kong.db.schema.typedefs"

-- `mode` picks a behaviour for everyone; an instance bound to one consumer must not set it.
-- Kong checks this on insert, with the instance's scope in view.
return {
  name = "per-consumer",
  fields = {
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { mode = { type = "string", one_of = { "strict", "loose" } } },
        },
      },
    },
  },
  entity_checks = {
    { mutually_exclusive = { "consumer", "config.mode" } },
  },
}
