local cjson = require "cjson.safe"
local meta = require "kong.meta"
local http = require("resty.http")
local new_tab = require "table.new"

local FLAGS = bit.bor(0x1, 0x4)
local STARTED = os.time()
local ARCH = jit.arch

local PathTagger = {
  PRIORITY = 810,
  VERSION = meta.version,
}

function PathTagger:access(conf)
  local parts = new_tab(8, 0)
  for segment in kong.request.get_path():gmatch("[^/]+") do
    if segment == "" then goto continue end
    parts[#parts + 1] = segment
    ::continue::
  end
  kong.service.request.set_header(conf.header, cjson.encode(parts) .. FLAGS .. STARTED .. ARCH)
  local client = http.new()
end

return PathTagger
