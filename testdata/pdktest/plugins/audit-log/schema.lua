return {
  name = "audit-log",
  fields = {
    { config = {
        type = "record",
        fields = {
          { tag = { type = "string", required = true, default = "audit" } },
          { log_query = { type = "boolean", required = true, default = false } },
        },
      },
    },
  },
}
