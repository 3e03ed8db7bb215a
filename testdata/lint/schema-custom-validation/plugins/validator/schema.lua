local function even(v)
  if v % 2 ~= 0 then
    return nil, "must be even"
  end
  return true
end

-- A window is written as two bounds; the lower one must not pass the upper one.
local function ordered(window)
  if window.low > window.high then
    return nil, "low must not exceed high"
  end
  return true
end

return {
  name = "validator",
  fields = {
    { config = {
        type = "record",
        fields = {
          { count = { type = "integer", custom_validator = even } },
          { low = { type = "integer", default = 0 } },
          { high = { type = "integer", default = 100 } },
          { label = { type = "string", custom_validator = function(v) return #v < 8 end } },
        },
        entity_checks = {
          { custom_entity_check = { field_sources = { "low", "high" }, fn = ordered } },
        },
      },
    },
  },
}
