return { PRIORITY = 10, VERSION = "1.0.0", access = function(self, conf) end }
