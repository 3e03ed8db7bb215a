-- Steers the collector.
collectgarbage("stop")
return {}
