-- Sends request metrics to StatsD, after Kong's statsd plugin.
local typedefs = require "kong.db.schema.typedefs"

local METRIC_NAMES = {
  "kong_latency", "latency", "request_count", "request_size", "response_size",
  "status_count", "upstream_latency", "unique_users",
}
local STAT_TYPES = { "counter", "gauge", "histogram", "meter", "set", "timer" }
local CONSUMER_IDENTIFIERS = { "consumer_id", "custom_id", "username" }

local DEFAULT_METRICS = {
  { name = "request_count", stat_type = "counter", sample_rate = 1 },
  { name = "latency", stat_type = "timer" },
  { name = "unique_users", stat_type = "set", consumer_identifier = "custom_id" },
}

local metric = {
  type = "record",
  fields = {
    { name = { type = "string", required = true, one_of = METRIC_NAMES } },
    { stat_type = { type = "string", required = true, one_of = STAT_TYPES } },
    { sample_rate = { type = "number", gt = 0 } },
    { consumer_identifier = { type = "string", one_of = CONSUMER_IDENTIFIERS } },
  },
  entity_checks = {
    { conditional = {
        if_field = "stat_type", if_match = { one_of = { "counter", "gauge" } },
        then_field = "sample_rate", then_match = { required = true },
    } },
    { conditional_at_least_one_of = {
        if_field = "name", if_match = { eq = "unique_users" },
        then_at_least_one_of = { "consumer_identifier" },
        then_err = "unique_users needs a consumer identifier",
    } },
  },
}

return {
  name = "statsd-mini",
  fields = {
    { protocols = typedefs.protocols },
    { config = {
        type = "record",
        fields = {
          { host = typedefs.host({ default = "localhost" }) },
          { port = typedefs.port({ default = 8125 }) },
          { prefix = { type = "string", default = "kong" } },
          { metrics = { type = "array", required = true, default = DEFAULT_METRICS, elements = metric } },
          { udp_packet_size = { type = "number", between = { 0, 65507 }, default = 0 } },
          { tag_style = { type = "string", required = false, one_of = { "dogstatsd", "influxdb", "librato", "signalfx" } } },
          { hostname_in_prefix = { type = "boolean", default = false } },
          { extra_tags = { type = "set", elements = { type = "string", match = "^[%w_%.%-]+:[%w_%.%-]+$" } } },
          { queue = typedefs.queue },
        },
    } },
  },
}
