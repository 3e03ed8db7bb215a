local typedefs = require "kong.db.schema.typedefs"

-- v2 adds `mode`, required and without a default: existing instances have no value for it,
-- so updating `request-tagger` in place would break them (a `long` change). It ships as a new
-- plugin that replaces the old one instead.
return {
  name = "request-tagger-v2",
  fields = {
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { header = typedefs.header_name { required = true, default = "X-Request-Tag" } },
          { value = { type = "string", required = true } },
          { mode = { type = "string", required = true, one_of = { "append", "replace", "keep" } } },
        },
      },
    },
  },
}
