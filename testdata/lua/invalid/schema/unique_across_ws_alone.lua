return { name = "x", fields = { { config = { type = "record", fields = {
  { code = { type = "string", unique_across_ws = true } },
} } } } }
