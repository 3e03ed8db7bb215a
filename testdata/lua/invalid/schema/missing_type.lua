return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {
        { timeout = { default = 5 } },
    } } },
  },
}
