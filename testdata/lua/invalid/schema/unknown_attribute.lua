return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {
        { label = { type = "string", requried = true } },
    } } },
  },
}
