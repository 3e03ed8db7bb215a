return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {
        { timeout = { type = "duration" } },
    } } },
  },
}
