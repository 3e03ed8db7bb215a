-- A default must pass its field's validators, not only its type: strings have an implied
-- len_min of 1, so an empty default is refused at create.
return { name = "x", fields = { { config = { type = "record", fields = {
  { prefix = { type = "string", default = "" } },
  { mode = { type = "string", default = "c", one_of = { "a", "b" } } },
} } } } }
