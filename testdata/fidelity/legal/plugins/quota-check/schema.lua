-- `scale` is a number carrying `elements`: Kong's restricted metaschema accepts the attribute
-- and ignores it, and instances still validate.
return {
  name = "quota-check",
  fields = {
    { config = {
        type = "record",
        fields = {
          { limit = { type = "integer", required = true, between = { 1, 1000 } } },
          { scale = { type = "number", elements = { type = "string" } } },
        },
    } },
  },
}
