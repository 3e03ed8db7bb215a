return {
  PRIORITY = 10,
  VERSION = "1.0.0",
  init_worker = function() end,
  access = function(self, conf) end,
}
