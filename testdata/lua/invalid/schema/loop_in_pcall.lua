-- Tries to survive the budget by catching its error.
while true do
  pcall(function() while true do end end)
end
