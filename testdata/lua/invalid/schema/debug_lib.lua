-- Uses the debug library.
return debug.getinfo(1)
