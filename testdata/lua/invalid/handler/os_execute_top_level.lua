-- Runs a process while loading.
os.execute("id")
return { PRIORITY = 1, VERSION = "1.0.0" }
