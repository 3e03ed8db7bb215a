-- Turns a function into bytecode.
return string.dump(function() end)
