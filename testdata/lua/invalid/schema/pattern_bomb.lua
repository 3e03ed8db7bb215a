-- Backtracking in the C pattern matcher, where no hook runs.
local subject = string.rep("a", 20000)
return subject:find("a-a-a-a-a-b")
