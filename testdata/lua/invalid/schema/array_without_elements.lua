-- An array without `elements` and a default: Kong validates the default against the field in a
-- pcall at create, the validator raises, and the create is refused.
return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {
        { hosts = { type = "array", default = {} } },
    } } },
  },
}
