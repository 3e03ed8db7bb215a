return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {
        { prefix = { type = "string", default = kong.configuration.prefix } },
    } } },
  },
}
