-- Adds, renames and removes request headers, after Kong's request-transformer.
local typedefs = require("kong.db.schema.typedefs")

local header_value_pair = {
  type = "string",
  match = "^[^:]+:.*$",
  description = "A header and its value, separated by a colon.",
}

local headers_array = {
  type = "array",
  default = {},
  required = true,
  elements = header_value_pair,
}

return {
  name = "header-stamp",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { http_method = typedefs.http_method },
          { add = {
              type = "record",
              fields = {
                { headers = headers_array },
                { querystring = headers_array },
              },
          } },
          { remove = {
              type = "record",
              fields = {
                { headers = { type = "array", default = {}, required = true, elements = typedefs.header_name } },
              },
          } },
          { rename = {
              type = "map",
              keys = typedefs.header_name,
              values = typedefs.header_name { required = true },
              default = {},
              required = true,
          } },
          { stamp = {
              type = "string",
              default = "X-Stamped-By",
              match_none = {
                { pattern = "^[Hh]ost$", err = "cannot stamp the Host header" },
              },
          } },
        },
    } },
  },
}
