return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {} }, protocols = { type = "set", elements = { type = "string" } } },
  },
}
