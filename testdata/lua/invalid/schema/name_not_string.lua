return { name = 42, fields = { { config = { type = "record", fields = {} } } } }
