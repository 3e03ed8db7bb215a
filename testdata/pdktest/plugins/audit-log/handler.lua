-- Writes one audit line per request, and an error line for server errors.
local AuditLog = { PRIORITY = 5, VERSION = "2.0.0" }

function AuditLog:access(conf)
  kong.ctx.shared.audit_started = kong.request.get_start_time()
end

function AuditLog:log(conf)
  local path = conf.log_query and kong.request.get_path_with_query() or kong.request.get_path()
  local status = kong.response.get_status()
  local consumer = kong.client.get_consumer()
  kong.log.info("[", conf.tag, "] ", kong.request.get_method(), " ", path, " -> ", status,
    " by ", consumer and consumer.username or "anonymous", " from ", kong.client.get_ip())
  if status >= 500 then
    kong.log.err("[", conf.tag, "] upstream failed with ", status, " (source: ",
      kong.response.get_source(), ")")
  end
end

return AuditLog
