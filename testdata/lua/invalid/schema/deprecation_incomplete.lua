return { name = "x", fields = { { config = { type = "record", fields = {
  { old = { type = "string", deprecation = { message = "use new" } } },
} } } } }
