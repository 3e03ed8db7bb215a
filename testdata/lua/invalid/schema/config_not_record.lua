return { name = "x", fields = { { config = { type = "map", keys = { type = "string" }, values = { type = "string" } } } } }
