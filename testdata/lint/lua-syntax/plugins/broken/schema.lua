return {
  name = "broken",
  fields = {
    { config = { type = "record", fields = {} }
  },
}
