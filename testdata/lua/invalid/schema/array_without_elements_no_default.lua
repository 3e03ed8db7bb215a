-- Kong accepts an array without `elements` at create when nothing has to validate against it;
-- validating an instance value then raises.
return {
  name = "x",
  fields = {
    { config = { type = "record", fields = {
        { hosts = { type = "array" } },
    } } },
  },
}
