local plugin_name = ({...})[1]:match("^kong%.plugins%.([^%.]+)")

return {
  name = plugin_name,
  fields = {
    { config = {
        type = "record",
        fields = {
          { mode = { type = "string", custom_validator = function(v) return v ~= "" end } },
        },
    } },
  },
}
