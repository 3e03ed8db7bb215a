#!/usr/bin/env bash
# The process Kong's docs show, as a baseline: one sequential `curl` + `jq` upload per custom
# plugin, then one per instance (POST to the service's plugins), for the first K plugins of a
# generated state directory.
#   curl_jq_loop.sh ADDR STATE_DIR K
# Prints `requests=N seconds=S`.
set -euo pipefail
addr=$1 dir=$2 k=$3
mapfile -t services < <(awk '{print $1}' "$dir/services.txt")
start=$(date +%s.%N)
n=0
for d in $(ls -d "$dir"/plugins/* | head -n "$k"); do
  name=$(basename "$d")
  jq -n --arg name "$name" --rawfile handler "$d/handler.lua" --rawfile schema "$d/schema.lua" \
    '{name: $name, handler: $handler, schema: $schema, tags: ["bench"]}' |
    curl -sS -f -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @- \
      "$addr/custom-plugins"
  n=$((n + 1))
  i=$(( 10#${name#bench-p} ))
  for svc in "${services[@]}"; do
    jq -n --arg name "$name" --argjson i "$i" \
      '{name: $name, tags: ["bench"],
        config: {tier: (if $i % 2 == 1 then "gold" else "silver" end),
                 limits: {minute: (100 + $i % 50), hour: ((100 + $i % 50) * 30)},
                 timeouts: {read: 3000}, bypass_paths: ["/health", "/status/\($i)"]}}' |
      curl -sS -f -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @- \
        "$addr/services/$svc/plugins"
    n=$((n + 1))
  done
done
end=$(date +%s.%N)
echo "requests=$n seconds=$(echo "$end - $start" | bc -l)"
