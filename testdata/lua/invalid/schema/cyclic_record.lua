-- A record that contains itself.
local node = { type = "record" }
node.fields = { { child = node } }
return { name = "x", fields = { { config = node } } }
