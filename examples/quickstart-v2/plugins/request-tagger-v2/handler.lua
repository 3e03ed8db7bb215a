local RequestTagger = {
  PRIORITY = 900,
  VERSION = "2.0.0",
}

function RequestTagger:access(conf)
  local current = kong.request.get_header(conf.header)
  if conf.mode == "keep" and current then
    return
  end
  if conf.mode == "append" and current then
    kong.service.request.set_header(conf.header, current .. "," .. conf.value)
    return
  end
  kong.service.request.set_header(conf.header, conf.value)
end

return RequestTagger
