local path = os.tmpname()
return { name = "logger", fields = { { config = { type = "record", fields = {} } } } }
