#!/usr/bin/env bash
# Conformance of plugsync with Kong's published OpenAPI specs (../shared/specs). See
# docs/conformance.md. Installs its tools into target/conformance (a Python venv with
# schemathesis, an npm prefix with @stoplight/prism-cli), then runs:
#
#   1. server conformance: schemathesis against `plugsync serve`, with the Konnect control
#      planes config spec (plus the control planes API) and the Kong Admin API 3.15 spec,
#      restricted to the operations plugsync serves;
#   2. client conformance: plugsync's end-to-end flows through Prism's validating proxy, in
#      the Konnect shape and the Admin API shape (client.sh).
#
# Exits 1 when a check fails. Bounded: CONFORMANCE_MAX_EXAMPLES (default 25) examples per
# operation and CONFORMANCE_MAX_TIME (default 120) seconds per schemathesis run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/scripts/conformance
out=${CONFORMANCE_DIR:-$root/target/conformance}
specs=${CONFORMANCE_SPECS:-$root/../shared/specs}
schemathesis_version=4.32.5
prism_version=5.14.2
max_examples=${CONFORMANCE_MAX_EXAMPLES:-25}
max_time=${CONFORMANCE_MAX_TIME:-120}
seed=${CONFORMANCE_SEED:-20260821}
export CONFORMANCE_DIR=$out
mkdir -p "$out"
start=$(date +%s)

echo "== conformance: tools"
venv=$out/venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$schemathesis_version"
fi
"$venv/bin/schemathesis" --version
prism=$out/node/node_modules/.bin/prism
if [ "$("$prism" --version 2>/dev/null)" != "$prism_version" ]; then
  npm install --silent --no-audit --no-fund --prefix "$out/node" "@stoplight/prism-cli@$prism_version" >/dev/null
fi
echo "prism $("$prism" --version)"
export PRISM=$prism

bin=${PLUGSYNC_BIN:-}
if [ -z "$bin" ]; then
  cargo build --quiet --locked
  bin=$root/target/debug/plugsync
fi
export PLUGSYNC_BIN=$bin

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
status=0

echo "== conformance: server (schemathesis against plugsync serve)"
token=conformance-server-token
"$bin" serve --listen 127.0.0.1:0 --data :memory: --token "$token" >"$out/serve.out" 2>"$out/serve.err" &
pids+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$out/serve.out" 2>/dev/null && break; sleep 0.1; done
serve=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$out/serve.out")
cp_id=$(sed -n 's/.*control plane default: \([^)]*\)).*/\1/p' "$out/serve.out")
[ -n "$serve" ] || { echo "plugsync serve did not start"; cat "$out/serve.err"; exit 1; }
"$venv/bin/python" "$here/prepare_specs.py" --specs "$specs" --out "$out/specs" --cp-id "$cp_id"

server_check() { # server_check NAME SPEC AUTH_HEADER
  local name=$1 spec=$2 header=$3 code=0
  rm -rf "$out/report-$name"
  (cd "$out" && CONFORMANCE_SPEC="$spec" PYTHONPATH="$here" SCHEMATHESIS_HOOKS=conformance_hooks "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$spec" \
    --url "$serve" -H "$header" \
    --max-examples "$max_examples" --max-time "$max_time" --seed "$seed" \
    --request-timeout 10 --output-truncate true --no-color \
    --report junit,ndjson --report-dir "$out/report-$name" >"$out/schemathesis-$name.log" 2>&1) || code=$?
  sed -n '/^=* SUMMARY/,$p' "$out/schemathesis-$name.log" | grep -v '^\s*$' | sed 's/^/  /'
  if [ "$code" != 0 ]; then
    echo "  FAILED: schemathesis ($name) exited $code; distinct failures:"
    "$venv/bin/python" "$here/triage.py" "$out"/report-"$name"/ndjson-*.ndjson 2>&1 | head -40 | sed 's/^/    /'
    status=1
  fi
}
server_check konnect "$out/specs/konnect-served.yaml" "Authorization: Bearer $token"
server_check admin "$out/specs/admin-served.yaml" "Kong-Admin-Token: $token"

echo "== conformance: client (plugsync through prism proxy --errors)"
for shape in konnect admin; do
  "$here/client.sh" "$shape" || status=1
done

echo "== conformance: $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start ))s"
exit $status
