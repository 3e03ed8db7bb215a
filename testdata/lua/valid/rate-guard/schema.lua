-- A rate limiter in the spirit of Kong's rate-limiting plugin.
local typedefs = require "kong.db.schema.typedefs"

local ORDERED_PERIODS = { "second", "minute", "hour", "day" }

local function limit_field(period)
  return {
    type = "number",
    gt = 0,
    description = "The number of HTTP requests that can be made per " .. period .. ".",
  }
end

local config_fields = {}
for _, period in ipairs(ORDERED_PERIODS) do
  config_fields[#config_fields + 1] = { [period] = limit_field(period) }
end

local tail = {
  { limit_by = {
      type = "string",
      default = "consumer",
      one_of = { "consumer", "credential", "ip", "service", "header", "path" },
      description = "The entity that is used when aggregating the limits.",
  } },
  { header_name = typedefs.header_name },
  { path = typedefs.path },
  { policy = {
      type = "string",
      default = "local",
      len_min = 0,
      one_of = { "local", "redis" },
      description = "The rate-limiting policy to use for retrieving and incrementing the limits.",
  } },
  { fault_tolerant = { type = "boolean", required = true, default = true } },
  { redis = {
      type = "record",
      fields = {
        { host = typedefs.host },
        { port = typedefs.port { default = 6379 } },
        { password = { type = "string", len_min = 0, referenceable = true, encrypted = true } },
        { timeout = typedefs.timeout { default = 2000 } },
        { database = { type = "integer", default = 0 } },
        { ssl = { type = "boolean", required = true, default = false } },
      },
  } },
  { hide_client_headers = { type = "boolean", required = true, default = false } },
  { error_code = { type = "number", default = 429, gt = 0 } },
  { error_message = { type = "string", default = "API rate limit exceeded" } },
}
for _, entry in ipairs(tail) do
  config_fields[#config_fields + 1] = entry
end

return {
  name = "rate-guard",
  fields = {
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = config_fields,
        entity_checks = {
          { at_least_one_of = { "second", "minute", "hour", "day" } },
        },
    } },
  },
  entity_checks = {
    { conditional = {
        if_field = "config.policy", if_match = { eq = "redis" },
        then_field = "config.redis.host", then_match = { required = true },
    } },
    { conditional = {
        if_field = "config.limit_by", if_match = { eq = "header" },
        then_field = "config.header_name", then_match = { required = true },
    } },
  },
}
