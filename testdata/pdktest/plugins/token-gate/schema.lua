return {
  name = "token-gate",
  fields = {
    { config = {
        type = "record",
        fields = {
          { tokens = { type = "map", required = true,
              keys = { type = "string" }, values = { type = "string" } } },
          { hide_credentials = { type = "boolean", required = true, default = true } },
          { realm = { type = "string", required = true, default = "api" } },
        },
      },
    },
  },
}
