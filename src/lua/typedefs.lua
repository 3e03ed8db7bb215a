-- plugsync's stand-in for `kong.db.schema.typedefs`, written from the typedef table in
-- reference/kong-api.md §3.5 (plus the EE-only `no_consumer_group` and `protocols_http_and_ws`).
--
-- The sandbox runs this chunk with two arguments:
--   builtin(name) -> a marker function standing for a validator Kong implements in Lua
--                    (host, url, header_name, ...). The marker accepts every value; the converter
--                    recognises it by identity and records `Builtin::<name>` instead of
--                    `has_custom_validator`. Names without a native check ("name", "jwk",
--                    "pem_keys") are known but dropped.
--   null         -> `ngx.null`.
--
-- Every typedef is "defined" like Kong's `Schema.define`: calling it with a table fills the
-- table's missing keys from the typedef and returns it, so `typedefs.port { default = 8125 }`
-- is the port definition with a default.

local builtin, null = ...

local pairs, setmetatable, error, tostring = pairs, setmetatable, error, tostring

local definition_mt = {
  __call = function(definition, overrides)
    local out = overrides or {}
    for k, v in pairs(definition) do
      if out[k] == nil then
        out[k] = v
      end
    end
    return out
  end,
}

local function define(t)
  return setmetatable(t, definition_mt)
end

-- Constants (EE / Konnect flavour: the protocol enum includes ws and wss). The same lists as
-- src/schema/protocols.rs; the tests in src/lua/tests.rs hold them equal.
local PROTOCOLS = {
  "grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss",
}
-- Protocols Konnect fills in for `protocols_http` (see kong-api.md §3.7).
local HTTP_PROTOCOLS = { "grpc", "grpcs", "http", "https" }
local HTTP_AND_WS_PROTOCOLS = { "grpc", "grpcs", "http", "https", "ws", "wss" }
local DAO_MAX_TTL = 100000000

local typedefs = {}

typedefs.http_method = define {
  type = "string",
  match = "^%u+$",
  description = "A string representing an HTTP method, such as GET, POST, PUT, or DELETE. The string must contain only uppercase letters.",
}

typedefs.protocol = define {
  type = "string",
  one_of = PROTOCOLS,
  description = "A string representing a protocol, such as HTTP or HTTPS.",
}

typedefs.host = define {
  type = "string",
  custom_validator = builtin("host"),
  description = "A string representing a host name, such as example.com.",
}

typedefs.redis_host = define {
  type = "string",
  custom_validator = builtin("host"),
  description = "When using the `redis` policy, this property specifies the address to the Redis server.",
}

typedefs.host_with_optional_port = define {
  type = "string",
  custom_validator = builtin("host_with_optional_port"),
  description = "A string representing a host name with an optional port number, such as example.com or example.com:8080.",
}

typedefs.wildcard_host = define {
  type = "string",
  custom_validator = builtin("wildcard_host"),
  description = "A string representing a wildcard host name, such as *.example.com.",
}

typedefs.ip = define {
  type = "string",
  custom_validator = builtin("ip"),
  description = "A string representing an IP address, such as 192.168.1.1.",
}

typedefs.ip_or_cidr = define {
  type = "string",
  custom_validator = builtin("ip_or_cidr"),
  description = "A string representing an IP address or CIDR block, such as 192.168.1.1 or 192.168.0.0/16.",
}

typedefs.cidr_v4 = define {
  type = "string",
  custom_validator = builtin("cidr_v4"),
  description = "A string representing a CIDR block for IPv4 addresses, such as 192.168.0.0/16.",
}

-- Deprecated alias, the very same definition.
typedefs.cidr = typedefs.cidr_v4

typedefs.port = define {
  type = "integer",
  between = { 0, 65535 },
  description = "An integer representing a port number between 0 and 65535, inclusive.",
}

typedefs.path = define {
  type = "string",
  starts_with = "/",
  match_none = {
    { pattern = "//", err = "must not have empty segments" },
  },
  custom_validator = builtin("path"),
  description = "A string representing a URL path, such as /path/to/resource. Must start with a forward slash (/) and must not contain empty segments (i.e., two consecutive forward slashes).",
}

typedefs.url = define {
  type = "string",
  custom_validator = builtin("url"),
  description = "A string representing a URL, such as https://example.com/path/to/resource?q=search.",
}

typedefs.cookie_name = define {
  type = "string",
  custom_validator = builtin("cookie_name"),
  description = "A string representing an HTTP token defined by RFC 2616.",
}

typedefs.header_name = define {
  type = "string",
  custom_validator = builtin("header_name"),
  description = "A string representing an HTTP header name.",
}

typedefs.timeout = define {
  type = "integer",
  between = { 0, 2 ^ 31 - 2 },
  description = "An integer representing a timeout in milliseconds. Must be between 0 and 2^31-2.",
}

typedefs.uuid = define {
  type = "string",
  uuid = true,
  auto = true,
  description = "A string representing a UUID (universally unique identifier).",
}

typedefs.auto_timestamp_s = define {
  type = "integer",
  timestamp = true,
  auto = true,
  description = "An integer representing an automatic Unix timestamp in seconds.",
}

typedefs.auto_timestamp_ms = define {
  type = "number",
  timestamp = true,
  auto = true,
  description = "A number representing an automatic Unix timestamp in milliseconds.",
}

typedefs.no_route = define {
  type = "foreign",
  reference = "routes",
  eq = null,
  description = "A reference to the 'routes' table with a null value allowed.",
}

typedefs.no_service = define {
  type = "foreign",
  reference = "services",
  eq = null,
  description = "A reference to the 'services' table with a null value allowed.",
}

typedefs.no_consumer = define {
  type = "foreign",
  reference = "consumers",
  eq = null,
  description = "Custom type for representing a foreign key with a null value allowed.",
}

-- EE only; shape assumed from its siblings (kong-api.md §3.8).
typedefs.no_consumer_group = define {
  type = "foreign",
  reference = "consumer_groups",
  eq = null,
  description = "Custom type for representing a foreign key with a null value allowed.",
}

-- Kong checks the name with a Lua function; the same rule as a pattern here.
typedefs.name = define {
  type = "string",
  unique = true,
  match = "^[%w%.%-%_~]+$",
  description = "A unique string representing a name.",
}

typedefs.utf8_name = define {
  type = "string",
  unique = true,
  custom_validator = builtin("utf8_name"),
  description = "A unique string representing a UTF-8 encoded name.",
}

typedefs.sni = define {
  type = "string",
  custom_validator = builtin("sni"),
  description = "A string representing an SNI (server name indication) value for TLS.",
}

typedefs.redis_server_name = define {
  type = "string",
  custom_validator = builtin("sni"),
  description = "When using the `redis` policy with `redis_ssl` set to `true`, this property specifies the server name for the TLS extension Server Name Indication (SNI).",
}

typedefs.certificate = define {
  type = "string",
  custom_validator = builtin("pem"),
  description = "A string representing a certificate.",
}

typedefs.key = define {
  type = "string",
  custom_validator = builtin("pem"),
  description = "A string representing a key.",
}

typedefs.tag = define {
  type = "string",
  required = true,
  custom_validator = builtin("tag"),
  description = "A string representing a tag.",
}

typedefs.tags = define {
  type = "set",
  elements = typedefs.tag,
  description = "A set of strings representing tags.",
}

typedefs.capability = define {
  type = "string",
}

typedefs.protocols = define {
  type = "set",
  required = true,
  default = HTTP_PROTOCOLS,
  elements = typedefs.protocol,
  description = "A set of strings representing protocols.",
}

typedefs.protocols_http = define {
  type = "set",
  required = true,
  default = HTTP_PROTOCOLS,
  elements = { type = "string", one_of = HTTP_PROTOCOLS },
  description = "A set of strings representing HTTP protocols.",
}

-- EE only; assumed to be the HTTP protocols plus WebSocket ones (kong-api.md §3.8).
typedefs.protocols_http_and_ws = define {
  type = "set",
  required = true,
  default = HTTP_PROTOCOLS,
  elements = { type = "string", one_of = HTTP_AND_WS_PROTOCOLS },
  description = "A set of strings representing HTTP and WebSocket protocols.",
}

local function endpoints(description)
  return define {
    type = "set",
    elements = {
      type = "record",
      fields = {
        { ip = typedefs.ip_or_cidr },
        { port = typedefs.port },
      },
      entity_checks = {
        { at_least_one_of = { "ip", "port" } },
      },
    },
    description = description,
  }
end

typedefs.sources = endpoints("A set of sources, each of which is a record with at least one of 'ip' or 'port'.")
typedefs.no_sources = define(typedefs.sources { eq = null, description = "A null value representing no sources." })
typedefs.destinations = endpoints("A set of destinations, each of which is a record with at least one of 'ip' or 'port'.")
typedefs.no_destinations = define(typedefs.destinations { eq = null, description = "A null value representing no destinations." })

typedefs.methods = define {
  type = "set",
  elements = typedefs.http_method,
  description = "A set of strings representing HTTP methods. Each method must be a valid HTTP method.",
}
typedefs.no_methods = define(typedefs.methods { eq = null, description = "A null value representing no methods." })

typedefs.hosts = define {
  type = "array",
  elements = {
    type = "string",
    match_all = {
      { pattern = "^[^*]*%*?[^*]*$", err = "invalid wildcard: must have at most one wildcard" },
    },
    match_any = {
      patterns = { "^%*%.", "%.%*$", "^[^*]*$" },
      err = "invalid wildcard: must be placed at leftmost or rightmost label",
    },
  },
  description = "An array of strings representing hosts. A valid host is a string containing one or more labels separated by periods, with at most one wildcard label ('*')",
}
typedefs.no_hosts = define(typedefs.hosts { eq = null, description = "A null value representing no hosts." })

typedefs.router_path = define {
  type = "string",
  match_any = {
    patterns = { "^/", "^~/" },
    err = "should start with: / (fixed path) or ~/ (regex path)",
  },
  match_none = {
    { pattern = "//", err = "must not have empty segments" },
  },
  custom_validator = builtin("router_path"),
  description = "A string representing a router path. It must start with a forward slash ('/') for a fixed path, or the sequence '~/' for a regex path. It must not have empty segments.",
}

typedefs.router_paths = define {
  type = "array",
  elements = typedefs.router_path,
  description = "An array of strings representing router paths.",
}
typedefs.no_paths = define(typedefs.router_paths { eq = null, description = "A null value representing no router paths." })

typedefs.headers = define {
  type = "map",
  keys = typedefs.header_name,
  values = {
    type = "array",
    elements = { type = "string" },
  },
  description = "A map of header names to arrays of header values.",
}
typedefs.no_headers = define(typedefs.headers { eq = null, description = "A null value representing no headers." })

-- Kong states the version rule with patterns only; no native check is needed.
typedefs.semantic_version = define {
  type = "string",
  match_any = {
    patterns = { "^%d+[%.%d]*$", "^%d+[%.%d]*%-?.*$" },
    err = "invalid version number: must be in format of X.Y.Z",
  },
  match_none = {
    { pattern = "%.%.", err = "must not have empty version segments" },
  },
  description = "A string representing a semantic version number in the format X.Y.Z(-build), where X, Y, and Z are integers, plus an optional hyphen-separated build identifier.",
}

typedefs.pem = define {
  type = "record",
  required = false,
  fields = {
    { private_key = { type = "string", required = false, referenceable = true, encrypted = true } },
    { public_key = { type = "string", required = false, referenceable = true } },
  },
  entity_checks = {
    { at_least_one_of = { "private_key", "public_key" } },
  },
  custom_validator = builtin("pem_keys"),
  description = "A pair of PEM-encoded public and private keys, which can be either a string or a reference to a credential in Kong Vault. If provided as strings, they must be valid PEM-encoded keys.",
}

local jwk_fields = {}
do
  local names = {
    "issuer", "kty", "use", "key_ops", "alg", "kid", "x5u", "x5c", "x5t", "x5t#S256",
    "k", "x", "y", "crv", "n", "e", "d", "p", "q", "dp", "dq", "qi", "oth", "r", "t",
  }
  for i = 1, #names do
    local name = names[i]
    local field
    if name == "key_ops" or name == "x5c" then
      field = { type = "array", required = false, elements = { type = "string", required = false } }
    else
      field = { type = "string", required = name == "kid" }
    end
    jwk_fields[i] = { [name] = field }
  end
end

typedefs.jwk = define {
  type = "record",
  required = false,
  fields = jwk_fields,
  custom_validator = builtin("jwk"),
  description = "Custom type for representing a JSON Web Key (JWK).",
}

typedefs.queue = define {
  type = "record",
  fields = {
    { max_batch_size = {
        type = "integer", default = 1, between = { 1, 1000000 },
        description = "Maximum number of entries that can be processed at a time.",
    } },
    { max_coalescing_delay = {
        type = "number", default = 1, between = { 0, 3600 },
        description = "Maximum number of (fractional) seconds to elapse after the first entry was queued before the queue starts calling the handler.",
    } },
    { max_entries = {
        type = "integer", default = 10000, between = { 1, 1000000 },
        description = "Maximum number of entries that can be waiting on the queue.",
    } },
    { max_bytes = {
        type = "integer",
        description = "Maximum number of bytes that can be waiting on a queue, requires string content.",
    } },
    { max_retry_time = {
        type = "number", default = 60,
        description = "Time in seconds before the queue gives up calling a failed handler for a batch.",
    } },
    { initial_retry_delay = {
        type = "number", default = 0.01, between = { 0.001, 1000000 },
        description = "Time in seconds before the initial retry is made for a failing batch.",
    } },
    { max_retry_delay = {
        type = "number", default = 60, between = { 0.001, 1000000 },
        description = "Maximum time in seconds between retries, caps exponential backoff.",
    } },
    { concurrency_limit = {
        type = "integer", default = 1, one_of = { -1, 1 },
        description = "The number of queue delivery timers. -1 indicates unlimited.",
    } },
  },
}

local PROPAGATION_EXTRACTORS = { "aws", "b3", "datadog", "gcp", "jaeger", "ot", "w3c" }
local PROPAGATION_INJECTORS = { "aws", "b3", "b3-single", "datadog", "gcp", "jaeger", "ot", "w3c" }
local PROPAGATION_INJECT = { "preserve", "aws", "b3", "b3-single", "datadog", "gcp", "jaeger", "ot", "w3c" }

typedefs.propagation = define {
  type = "record",
  fields = {
    { extract = {
        type = "array",
        elements = { type = "string", one_of = PROPAGATION_EXTRACTORS },
        description = "Header formats used to extract tracing context from incoming requests.",
    } },
    { clear = {
        type = "array",
        elements = { type = "string", custom_validator = builtin("header_name") },
        description = "Header names to clear after context extraction.",
    } },
    { inject = {
        type = "array",
        elements = { type = "string", one_of = PROPAGATION_INJECT },
        description = "Header formats used to inject tracing context.",
    } },
    { default_format = {
        type = "string",
        one_of = PROPAGATION_INJECTORS,
        required = true,
        description = "The default header format to use when extractors did not match any format in the incoming headers.",
    } },
  },
}

typedefs.lua_code = define {
  type = "map",
  keys = { type = "string", len_min = 1 },
  values = { type = "string", len_min = 1, custom_validator = builtin("lua_code") },
  description = "Lua code as a key-value map",
}

typedefs.ttl = define {
  type = "number",
  between = { 0, DAO_MAX_TTL },
  description = "Time-to-live value for data",
}

return setmetatable(typedefs, {
  __index = function(_, k)
    error("schema typedef error: definition " .. tostring(k) .. " does not exist", 2)
  end,
})
