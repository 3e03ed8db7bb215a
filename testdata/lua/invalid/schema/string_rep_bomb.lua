-- One call asking for a gigabyte.
local s = string.rep("x", 1024 * 1024 * 1024)
return { name = s, fields = {} }
