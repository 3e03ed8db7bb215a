return {
  name = "edge-auth",
  fields = {
    { config = {
        type = "record",
        fields = {
          { header = { type = "string", required = true, default = "x-edge-token",
                       custom_validator = function(v) return v:lower() == v end } },
        },
    } },
  },
}
