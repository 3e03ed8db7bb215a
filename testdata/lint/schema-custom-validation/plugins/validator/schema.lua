local function even(v)
  if v % 2 ~= 0 then
    return nil, "must be even"
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
        },
        entity_checks = {
          { custom_entity_check = { field_sources = { "count" }, fn = function() return true end } },
        },
      },
    },
  },
}
