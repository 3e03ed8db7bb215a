return { fields = { { config = { type = "record", fields = {} } } } }
