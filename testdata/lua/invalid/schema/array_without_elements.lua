return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {
        { hosts = { type = "array", default = {} } },
    } } },
  },
}
