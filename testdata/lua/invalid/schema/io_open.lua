-- Reads a file.
local f = io.open("/etc/passwd")
return { name = f:read("*a"), fields = {} }
