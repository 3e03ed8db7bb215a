-- Cross-origin resource sharing, modelled on Kong's cors plugin.
local typedefs = require "kong.db.schema.typedefs"

local METHODS = { "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT" }

local function validate_asterisk_or_regex(value)
  if value == "*" then
    return true
  end
  return true
end

return {
  name = "cors-lite",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { origins = {
              description = "List of allowed domains for the `Access-Control-Allow-Origin` header.",
              type = "array",
              elements = { type = "string", custom_validator = validate_asterisk_or_regex },
          } },
          { headers = { type = "array", elements = typedefs.header_name } },
          { exposed_headers = { type = "array", elements = typedefs.header_name } },
          { methods = {
              type = "array",
              default = METHODS,
              elements = { type = "string", one_of = METHODS },
          } },
          { max_age = { type = "number", gt = -1 } },
          { credentials = { type = "boolean", required = true, default = false } },
          { private_network = { type = "boolean", required = true, default = false } },
          { preflight_continue = { type = "boolean", required = true, default = false } },
        },
        entity_checks = {
          { conditional = {
              if_field = "credentials", if_match = { eq = true },
              then_field = "origins", then_match = { len_min = 1 },
              then_err = "credentials need explicit origins",
          } },
        },
    } },
  },
}
