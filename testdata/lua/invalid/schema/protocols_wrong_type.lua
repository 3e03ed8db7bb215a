return {
  name = "x",
  fields = {
    { protocols = { type = "array", elements = { type = "string" } } },
    { config = { type = "record", fields = {} } },
  },
}
