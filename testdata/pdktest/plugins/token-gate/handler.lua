-- Lets a request through only with `Authorization: Bearer <token>` for a known token; the
-- token's owner becomes the authenticated consumer.
local TokenGate = { PRIORITY = 1250, VERSION = "0.3.0" }

function TokenGate:access(conf)
  local header = kong.request.get_header("Authorization")
  if not header then
    return kong.response.exit(401, { message = "missing token" },
      { ["WWW-Authenticate"] = 'Bearer realm="' .. conf.realm .. '"' })
  end
  local token = header:match("^[Bb]earer%s+(%S+)$")
  local owner = token and conf.tokens[token]
  if not owner then
    kong.log.warn("bad token from ", kong.client.get_ip())
    return kong.response.error(403, "invalid token")
  end
  kong.client.authenticate({ id = owner, username = owner })
  kong.service.request.set_header("X-Consumer-Username", owner)
  if conf.hide_credentials then
    kong.service.request.clear_header("Authorization")
  end
end

return TokenGate
