return { name = "with-dao", fields = { { config = { type = "record", fields = {} } } } }
