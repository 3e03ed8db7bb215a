-- Runs another file.
return dofile("/etc/hosts")
