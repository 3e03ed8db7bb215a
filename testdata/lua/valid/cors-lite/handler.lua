local kong = kong
local concat = table.concat

local CorsLite = {
  PRIORITY = 2000,
  VERSION = "2.1.3",
}

local function origin_allowed(conf, origin)
  if not conf.origins then
    return true
  end
  for _, allowed in ipairs(conf.origins) do
    if allowed == "*" or allowed == origin then
      return true
    end
  end
  return false
end

function CorsLite:access(conf)
  if kong.request.get_method() ~= "OPTIONS" then
    return
  end
  local origin = kong.request.get_header("Origin")
  if not origin_allowed(conf, origin) then
    return
  end
  kong.response.set_header("Access-Control-Allow-Methods", concat(conf.methods, ","))
  if conf.max_age then
    kong.response.set_header("Access-Control-Max-Age", tostring(conf.max_age))
  end
  if not conf.preflight_continue then
    return kong.response.exit(204)
  end
end

function CorsLite:header_filter(conf)
  local origin = kong.request.get_header("Origin")
  if origin and origin_allowed(conf, origin) then
    kong.response.set_header("Access-Control-Allow-Origin", origin)
    if conf.credentials then
      kong.response.set_header("Access-Control-Allow-Credentials", "true")
    end
  end
end

return CorsLite
