-- Replaces an environment.
setfenv(1, {})
