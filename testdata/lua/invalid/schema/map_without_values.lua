return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {
        { labels = { type = "map", keys = { type = "string" } } },
    } } },
  },
}
