return {
  name = "body-redactor",
  fields = {
    { config = {
        type = "record",
        fields = {
          { fields = { type = "array", required = true, default = { "password" },
              elements = { type = "string" } } },
          { mask = { type = "string", required = true, default = "***" } },
        },
      },
    },
  },
}
