-- Looks for the real environment.
local env = getfenv(0)
return env
