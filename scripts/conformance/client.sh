#!/usr/bin/env bash
# Client conformance: plugsync's end-to-end flows through Prism's validating proxy.
#
#   client.sh konnect|admin
#
# Starts a fresh `plugsync serve`, puts `prism proxy <spec> <serve> --errors` in front of it, and
# runs plugsync's commands (plan/apply, diff, sync of a breaking upgrade with --wait, dump and a
# re-sync of the dump, instances scoped to a service, route, consumer and consumer group, and a
# deleting sync) through the proxy, in the Konnect shape or the Admin API shape. Prism checks
# every request plugsync sends (path, query parameters, headers, body) and every response
# against Kong's spec; with --errors a violation is answered with an error instead of being
# forwarded, so a violation also fails the command that caused it. Passes when every command
# exits as expected and Prism reported no violation.
#
# Environment: PLUGSYNC_BIN (the binary), CONFORMANCE_DIR (target/conformance), PRISM (prism).
set -euo pipefail
shape=${1:?usage: client.sh konnect|admin}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${CONFORMANCE_DIR:-$root/target/conformance}
bin=${PLUGSYNC_BIN:-$root/target/debug/plugsync}
prism=${PRISM:-$out/node/node_modules/.bin/prism}
token=conformance-client-token
work=$out/client-$shape
rm -rf "$work" && mkdir -p "$work"
log=$work/prism.log
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# --- the control plane and the proxy ---------------------------------------------------------
"$bin" serve --listen 127.0.0.1:0 --data :memory: --token "$token" >"$work/serve.out" 2>"$work/serve.err" &
pids+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
serve=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")
cp_id=$(sed -n 's/.*control plane default: \([^)]*\)).*/\1/p' "$work/serve.out")
[ -n "$serve" ] || { echo "plugsync serve did not start"; cat "$work/serve.err"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
spec=$out/specs/$shape-full.yaml
"$prism" proxy "$spec" "$serve" --errors --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
pids+=($!)
proxy=http://127.0.0.1:$port
for _ in $(seq 300); do
  grep -q 'Prism is listening' "$log" 2>/dev/null && break
  if ! kill -0 "${pids[1]}" 2>/dev/null; then echo "prism exited"; cat "$log"; exit 1; fi
  sleep 0.2
done
grep -q 'Prism is listening' "$log" || { echo "prism did not start"; tail -20 "$log"; exit 1; }

# --- scopes (created directly on the server: plugsync never creates them) -------------------
core=$serve/v2/control-planes/$cp_id/core-entities
post() { curl -sf -X POST "$core/$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$2" >/dev/null; }
post services '{"name":"payments","host":"payments.internal","port":80,"protocol":"http"}'
post routes '{"name":"payments-route","paths":["/pay"],"protocols":["http","https"],"service":{"id":"'"$(curl -sf "$core/services/payments" -H "Authorization: Bearer $token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"'"}}'
post consumers '{"username":"alice"}'
post consumer_groups '{"name":"gold"}'

# --- the state files ---------------------------------------------------------------------------
cd "$work"
git init -q .
cp -r "$root/examples/quickstart" "$root/examples/quickstart-v2" .
mkdir scoped empty
cat >scoped/plugsync.yaml <<'YAML'
_format_version: "3.0"
_info:
  select_tags: [quickstart]
custom_plugins:
  - name: request-tagger-v2
    path: ../quickstart-v2/plugins/request-tagger-v2
    tags: [quickstart]
  - name: maintenance-window
    path: ../quickstart/plugins/maintenance-window
    tags: [quickstart]
plugins:
  - name: request-tagger-v2
    instance_name: tag-every-request
    config: {header: X-Team, value: platform, mode: replace}
    tags: [quickstart]
  - name: request-tagger-v2
    service: payments
    config: {header: X-Service, value: payments, mode: append}
    tags: [quickstart]
  - name: request-tagger-v2
    route: payments-route
    config: {header: X-Route, value: pay, mode: append}
    tags: [quickstart]
  - name: request-tagger-v2
    consumer: alice
    config: {header: X-Consumer, value: alice, mode: append}
    tags: [quickstart]
  - name: request-tagger-v2
    consumer_group: gold
    config: {header: X-Group, value: gold, mode: append}
    tags: [quickstart]
  - name: maintenance-window
    service: payments
    config: {active: false}
    tags: [quickstart]
YAML
cat >empty/plugsync.yaml <<'YAML'
_format_version: "3.0"
_info:
  select_tags: [quickstart]
YAML

if [ "$shape" = konnect ]; then
  target=(--konnect-addr "$proxy" --konnect-token "$token" --konnect-control-plane-name default)
  wait=(--wait=20) # expected config hash and nodes: Konnect only
else
  target=(--kong-addr "$proxy" --kong-admin-token "$token")
  wait=()
fi

# --- the flows ---------------------------------------------------------------------------------
failed=0
commands=0
step() { # step EXPECTED_EXIT_CODE ARGS...
  local want=$1; shift
  commands=$((commands + 1))
  local code=0
  "$bin" "$@" "${target[@]}" >"$work/cmd-$commands.out" 2>"$work/cmd-$commands.err" || code=$?
  if [ "$code" = "$want" ]; then
    echo "  ok    plugsync $*"
  else
    echo "  FAIL  plugsync $* (exit $code, expected $want)"
    sed 's/^/        /' "$work/cmd-$commands.err" | tail -15
    failed=$((failed + 1))
  fi
}
step 2 diff -s quickstart --exit-code
step 0 plan -s quickstart --out plan.json
step 0 apply plan.json
step 0 diff -s quickstart --exit-code
step 0 diff -s quickstart-v2 --format json
step 0 sync -s quickstart-v2 "${wait[@]}"
step 0 dump --dir dumped
step 0 sync -s dumped
step 0 sync -s scoped
step 0 diff -s scoped --exit-code
step 0 sync -s quickstart-v2
step 0 sync -s empty --allow-empty
step 0 diff -s empty --exit-code

sleep 0.5
requests=$(grep -c 'Request received' "$log" || true)
violations=$(grep -E -c 'Violation|✖' "$log" || true)
echo "  $shape: $commands commands, $failed failed; $requests requests through Prism, $violations violation lines"
if [ "$violations" != 0 ]; then
  grep -E 'Violation|✖' "$log" | sed 's/\x1b\[[0-9;]*m//g' | sort | uniq -c | sort -rn | head -30
fi
[ "$failed" = 0 ] && [ "$violations" = 0 ] && [ "$requests" -gt 0 ]
