return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {
        { retries = { type = "integer", default = 2.5 } },
    } } },
  },
}
