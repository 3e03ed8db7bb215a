return {
  name = "x",
  fields = {
    { settings = { type = "string" } },
    { config = { type = "record", fields = {} } },
  },
}
