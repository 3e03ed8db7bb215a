-- Never returns.
while true do end
return { name = "loop", fields = {} }
