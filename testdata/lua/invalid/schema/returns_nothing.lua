-- Forgets to return the schema.
local schema = { name = "x", fields = {} }
