-- Masks the values of the configured JSON keys in JSON responses.
local BodyRedactor = { PRIORITY = 800, VERSION = "1.1.0" }

local function is_json()
  local ct = kong.response.get_header("Content-Type") or ""
  return ct:find("json", 1, true) ~= nil
end

-- Replaces the string value of every `"key":` in `body` (plain searches only: no pattern
-- backtracking over large bodies).
local function mask_key(body, key, mask, count)
  local out, pos = {}, 1
  local needle = '"' .. key .. '":'
  while true do
    local s, e = body:find(needle, pos, true)
    if not s then break end
    local open = e + 1
    while body:sub(open, open) == " " do open = open + 1 end
    local close = body:sub(open, open) == '"' and body:find('"', open + 1, true)
    if close then
      out[#out + 1] = body:sub(pos, open)
      out[#out + 1] = mask
      pos = close
      count = count + 1
    else
      out[#out + 1] = body:sub(pos, e)
      pos = e + 1
    end
  end
  out[#out + 1] = body:sub(pos)
  return table.concat(out), count
end

function BodyRedactor:header_filter(conf)
  if is_json() then
    kong.response.clear_header("Content-Length")
    kong.ctx.plugin.redact = true
  end
end

function BodyRedactor:body_filter(conf)
  if not kong.ctx.plugin.redact then
    return
  end
  local body = kong.response.get_raw_body()
  if not body then
    return
  end
  local count = 0
  for _, key in ipairs(conf.fields) do
    body, count = mask_key(body, key, conf.mask, count)
  end
  if count > 0 then
    kong.log.debug("redacted ", count, " value(s)")
  end
  kong.response.set_raw_body(body)
end

return BodyRedactor
