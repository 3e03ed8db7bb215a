-- The same through the string metatable.
local s = ("abc"):rep(500000000)
return s
