-- Allocates tables without bound.
local hoard = {}
local i = 0
while true do
  i = i + 1
  hoard[i] = { i, i, i, i, i, i, i, i }
end
