return {
  name = "leaky-mods",
  fields = { { config = { type = "record", fields = {} } } },
}
