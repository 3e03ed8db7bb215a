return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {
        { label = { type = "string", between = { 1, 5 } } },
    } } },
  },
}
