return { name = "x", fields = { { config = { type = "record", fields = {
  { code = { type = "string", match_all = "^%u+$" } },
} } } } }
