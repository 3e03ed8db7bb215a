local MaintenanceWindow = {
  PRIORITY = 2000,
  VERSION = "1.0.0",
}

function MaintenanceWindow:access(conf)
  if not conf.active then
    return
  end
  local path = kong.request.get_path()
  for _, prefix in ipairs(conf.bypass_paths) do
    if path:sub(1, #prefix) == prefix then
      return
    end
  end
  local headers = {}
  if conf.retry_after then
    headers["Retry-After"] = tostring(conf.retry_after)
  end
  return kong.response.exit(conf.status_code, { message = conf.message }, headers)
end

return MaintenanceWindow
