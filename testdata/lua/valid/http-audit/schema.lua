-- Ships request summaries to an HTTP endpoint in batches, like Kong's http-log.
local typedefs = require "kong.db.schema.typedefs"

return {
  name = "http-audit",
  fields = {
    { protocols = typedefs.protocols },
    { consumer_group = typedefs.no_consumer_group },
    { config = {
        type = "record",
        fields = {
          { http_endpoint = typedefs.url { required = true, encrypted = true, referenceable = true } },
          { method = {
              type = "string",
              default = "POST",
              one_of = { "POST", "PUT", "PATCH" },
              description = "An optional method used to send data to the HTTP server.",
          } },
          { content_type = { type = "string", default = "application/json", one_of = { "application/json", "application/json; charset=utf-8" } } },
          { timeout = { type = "number", default = 10000 } },
          { keepalive = { type = "number", default = 60000 } },
          { retry_count = { type = "integer", between = { 0, 10 } } },
          { headers = {
              type = "map",
              keys = typedefs.header_name { match_none = {
                { pattern = "^[Hh][Oo][Ss][Tt]$", err = "cannot contain 'Host' header" },
                { pattern = "^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]%-[Ll][Ee][Nn][Gg][Tt][Hh]$", err = "cannot contain 'Content-Length' header" },
              } },
              values = { type = "string", referenceable = true },
          } },
          { queue = typedefs.queue },
          { custom_fields_by_lua = typedefs.lua_code },
          { sample_rate = { type = "number", between = { 0, 1 }, default = 1 } },
          { tags = { type = "set", elements = { type = "string", len_min = 1 }, default = { "audit" } } },
        },
        entity_checks = {
          { custom_entity_check = {
              field_sources = { "retry_count", "queue" },
              fn = function(entity)
                return true
              end,
          } },
        },
    } },
  },
}
