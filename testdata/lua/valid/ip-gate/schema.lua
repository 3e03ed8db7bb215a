-- Allows or denies clients by address, after Kong's ip-restriction.
local typedefs = require "kong.db.schema.typedefs"

return {
  name = "ip-gate",
  fields = {
    { protocols = typedefs.protocols { default = { "http", "https", "tcp", "tls", "grpc", "grpcs" } } },
    { config = {
        type = "record",
        fields = {
          { allow = { type = "array", elements = typedefs.ip_or_cidr } },
          { deny = { type = "array", elements = typedefs.ip_or_cidr } },
          { status = { type = "number", required = false, between = { 100, 599 } } },
          { message = { type = "string", required = false } },
          { mode = { type = "string", default = "block", not_one_of = { "audit-only" }, one_of = { "block", "log" } } },
        },
    } },
  },
  entity_checks = {
    { at_least_one_of = { "config.allow", "config.deny" } },
    { mutually_required = { "config.status", "config.message" } },
  },
}
