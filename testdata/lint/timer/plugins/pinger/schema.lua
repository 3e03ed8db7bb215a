return { name = "pinger", fields = { { config = { type = "record", fields = {} } } } }
