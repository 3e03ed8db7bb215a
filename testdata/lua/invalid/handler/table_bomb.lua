local cache = {}
for i = 1, math.huge do
  cache[i] = { id = i, payload = tostring(i) }
end
return { PRIORITY = 1, VERSION = "1.0.0" }
