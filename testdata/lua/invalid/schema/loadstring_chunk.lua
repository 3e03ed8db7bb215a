-- Compiles code at run time (5.1 spelling).
return loadstring("return 1")()
