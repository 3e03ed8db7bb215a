return { name = "big", fields = { { config = { type = "record", fields = {} } } } }
