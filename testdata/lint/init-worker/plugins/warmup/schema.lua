return { name = "warmup", fields = { { config = { type = "record", fields = {} } } } }
