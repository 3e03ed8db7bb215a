return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {
        { hook = { type = "function" } },
    } } },
  },
}
