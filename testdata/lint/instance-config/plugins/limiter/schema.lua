local typedefs = require "kong.db.schema.typedefs"

return {
  name = "limiter",
  fields = {
    { config = {
        type = "record",
        fields = {
          { window = { type = "integer", required = true, gt = 0 } },
          { policy = { type = "string", required = true, default = "local", one_of = { "local", "redis" } } },
          { header = typedefs.header_name { default = "X-Limit" } },
          { redis = {
              type = "record",
              fields = {
                { host = typedefs.host },
                { port = typedefs.port { default = 6379 } },
              },
            },
          },
        },
        entity_checks = {
          { conditional = { if_field = "policy", if_match = { eq = "redis" },
                            then_field = "redis.host", then_match = { required = true } } },
        },
      },
    },
  },
}
