return {
  PRIORITY = 900.0,
  VERSION = "v2.3.1",
  access = function(self, conf)
    if (tonumber(kong.request.get_header("x-count")) or 0) > conf.limit then
      return kong.response.exit(429, { message = "over quota" })
    end
  end,
}
