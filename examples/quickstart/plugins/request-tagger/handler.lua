local RequestTagger = {
  PRIORITY = 900,
  VERSION = "1.0.0",
}

function RequestTagger:access(conf)
  if conf.overwrite or not kong.request.get_header(conf.header) then
    kong.service.request.set_header(conf.header, conf.value)
  end
end

return RequestTagger
