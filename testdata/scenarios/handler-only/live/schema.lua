return {
  name = "rate-guard",
  fields = {
    { config = {
        type = "record",
        fields = {
          { window = { type = "integer", required = true, gt = 0 } },
          { limit = { type = "integer", default = 100 } },
          { header = { type = "string" } },
        },
      },
    },
  },
}
