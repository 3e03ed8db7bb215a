return { PRIORITY = 7, VERSION = "1.0.0", access = function() end }
