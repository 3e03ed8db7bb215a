-- A schema with no `config` record: Kong loads it, and refuses any config on its instances.
return {
  name = "no-settings",
  fields = {},
}
