return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {
        { payload = { type = "json" } },
    } } },
  },
}
