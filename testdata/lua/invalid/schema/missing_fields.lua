return { name = "no-fields" }
