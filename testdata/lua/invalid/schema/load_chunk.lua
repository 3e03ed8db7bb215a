-- Compiles code at run time.
return load("return 1")()
