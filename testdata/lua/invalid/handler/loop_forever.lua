local Handler = { PRIORITY = 1, VERSION = "1.0.0" }
repeat until false
return Handler
