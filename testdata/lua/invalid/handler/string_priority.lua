return { PRIORITY = "1000", VERSION = 1, access = function() end }
