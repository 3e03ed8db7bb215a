-- Userdata with a finaliser.
local p = newproxy(true)
return p
