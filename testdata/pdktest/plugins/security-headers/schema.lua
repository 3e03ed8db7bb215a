return {
  name = "security-headers",
  fields = {
    { config = {
        type = "record",
        fields = {
          { frame_options = { type = "string", required = true, default = "DENY",
              one_of = { "DENY", "SAMEORIGIN" } } },
          { hsts_max_age = { type = "integer", gt = 0 } },
          { strip = { type = "array", required = true, default = { "Server", "X-Powered-By" },
              elements = { type = "string" } } },
        },
      },
    },
  },
}
