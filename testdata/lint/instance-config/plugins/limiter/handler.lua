return { PRIORITY = 900, VERSION = "1.0.0" }
