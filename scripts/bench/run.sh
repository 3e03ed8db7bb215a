#!/usr/bin/env bash
# End-to-end measurements of plugsync against `plugsync serve`, with the baselines measured in
# the same run (docs/performance.md). Writes tab-separated results to $OUT/results.tsv
# (metric, size in instances, store, repetition, value) and prints a summary.
#
#   scripts/bench/run.sh                       # W1 (1000 plugins x 10 services), 3 repetitions
#   PLUGINS=20 REPS=1 GROWTH= CURL_K=2 scripts/bench/run.sh   # CI smoke (seconds)
#
# Variables: PLUGINS (1000), REPS (3), GROWTH (plugin counts for the growth table, "100 1000
# 5000" = 1k, 10k, 50k instances), GROWTH_REPS (3), CURL_K (plugins in the curl+jq loop, 100),
# DURABLE (1: also measure the on-disk store), OUT (/tmp/plugsync-bench), PAR (16), W1 (0 skips
# the W1 section), APPLY_ONLY_REPS (extra apply-vs-loadgen pairs), DIFF_ONLY_REPS (extra
# no-op diff triples on W1: warm lint cache, --no-cache, raw pages), SYNC_ONLY_REPS (extra
# in-memory first-sync-vs-loadgen pairs), DURABLE_ONLY_REPS (extra on-disk first-sync-vs-loadgen
# pairs), PLOT (a PNG path for the growth plot; needs matplotlib).
# The lint cache is $OUT/cache (PLUGSYNC_CACHE_DIR), emptied at the start: the first sync fills
# it, `diff_s` is the no-op diff with it warm, `diff_nocache_s` the same with --no-cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
PLUGINS=${PLUGINS:-1000} REPS=${REPS:-3} GROWTH=${GROWTH-"100 1000 5000"}
GROWTH_REPS=${GROWTH_REPS:-3} CURL_K=${CURL_K:-100} DURABLE=${DURABLE:-1}
OUT=${OUT:-/tmp/plugsync-bench} PAR=${PAR:-16}
mkdir -p "$OUT"
export PLUGSYNC_CACHE_DIR=$OUT/cache
rm -rf "$PLUGSYNC_CACHE_DIR"
results=$OUT/results.tsv
: > "$results"

cargo build --release --quiet --bin plugsync --example loadgen
B=${CARGO_TARGET_DIR:-$root/target}/release/plugsync
LOADGEN=${CARGO_TARGET_DIR:-$root/target}/release/examples/loadgen
server_pid=""

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$2"; }
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$results"; }

start_server() { # $1 = data (":memory:" or a file); sets ADDR
  stop_server
  "$B" serve --listen 127.0.0.1:0 --data "$1" > "$OUT/serve.out" 2> "$OUT/serve.err" &
  server_pid=$!
  for _ in $(seq 100); do
    ADDR=$(grep -o 'http://[0-9.:]*' "$OUT/serve.out" 2>/dev/null || true)
    [ -n "$ADDR" ] && break
    sleep 0.1
  done
  [ -n "$ADDR" ] || { echo "serve did not start" >&2; exit 1; }
  while read -r id name; do
    curl -sS -f -o /dev/null -X PUT -H 'Content-Type: application/json' \
      -d "{\"name\":\"$name\",\"host\":\"example.com\"}" "$ADDR/services/$id"
  done < "$dir/services.txt"
}
stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=""
}
trap stop_server EXIT

fresh_data() { # $1 = memory|disk
  if [ "$1" = memory ]; then echo ":memory:"; else rm -f "$OUT"/disk.db*; echo "$OUT/disk.db"; fi
}

# The list pages plugsync reads (size=1000), fetched raw by one curl (one connection).
page_urls() {
  local kind url offset
  for kind in custom-plugins plugins services; do
    offset=""
    while :; do
      url="$ADDR/$kind?size=1000${offset:+&offset=$offset}"
      echo "$url"
      offset=$(curl -sS -f "$url" | jq -r '.offset // empty')
      [ -n "$offset" ] || break
    done
  done
}

sync_once() { # $1 size $2 store $3 rep
  start_server "$(fresh_data "$2")"
  local t0 t1 mem
  t0=$(now)
  /usr/bin/time -f '%M' -o "$OUT/time.txt" "$B" sync -s "$dir" --kong-addr "$ADDR" \
    --parallelism "$PAR" -q --format json > "$OUT/sync.json" 2> "$OUT/sync.err"
  t1=$(now)
  record sync_s "$1" "$2" "$3" "$(elapsed "$t0" "$t1")"
  record sync_requests "$1" "$2" "$3" "$(jq '.result.requests' "$OUT/sync.json")"
  record sync_maxrss_kb "$1" "$2" "$3" "$(tail -1 "$OUT/time.txt")"
}

diff_once() { # server already holds the state; $4 = --no-cache to bypass the lint cache
  local t0 t1 m=diff
  [ "${4:-}" = --no-cache ] && m=diff_nocache
  t0=$(now)
  /usr/bin/time -f '%M' -o "$OUT/time.txt" "$B" diff -s "$dir" --kong-addr "$ADDR" -v --exit-code \
    ${4:+"$4"} > /dev/null 2> "$OUT/diff.err"
  t1=$(now)
  record ${m}_s "$1" "$2" "$3" "$(elapsed "$t0" "$t1")"
  record ${m}_requests "$1" "$2" "$3" "$(grep -o 'requests: [0-9]*' "$OUT/diff.err" | grep -o '[0-9]*')"
  record ${m}_maxrss_kb "$1" "$2" "$3" "$(tail -1 "$OUT/time.txt")"
}

raw_pages_once() {
  local t0 t1 args=()
  mapfile -t urls < <(page_urls)
  for u in "${urls[@]}"; do args+=(-o /dev/null "$u"); done
  t0=$(now)
  curl -sS -f "${args[@]}"
  t1=$(now)
  record raw_pages_s "$1" "$2" "$3" "$(elapsed "$t0" "$t1")"
  record raw_pages_requests "$1" "$2" "$3" "${#urls[@]}"
}

loadgen_once() {
  start_server "$(fresh_data "$2")"
  local line
  line=$("$LOADGEN" "$ADDR" "$dir/requests.jsonl" "$PAR")
  record loadgen_s "$1" "$2" "$3" "$(echo "$line" | sed 's/.*seconds=\([0-9.]*\).*/\1/')"
  record loadgen_requests "$1" "$2" "$3" "$(echo "$line" | sed 's/requests=\([0-9]*\).*/\1/')"
}

apply_once() { # the write path alone: a saved plan applied (staleness check + PUTs), no lint
  start_server "$(fresh_data "$2")"
  "$B" plan -s "$dir" --kong-addr "$ADDR" --out "$OUT/plan.json" -q > /dev/null 2>&1
  local t0 t1
  t0=$(now)
  "$B" apply "$OUT/plan.json" --kong-addr "$ADDR" --parallelism "$PAR" -q --format json \
    > "$OUT/apply.json" 2> "$OUT/apply.err"
  t1=$(now)
  record apply_s "$1" "$2" "$3" "$(elapsed "$t0" "$t1")"
  record apply_requests "$1" "$2" "$3" "$(jq '.result.requests' "$OUT/apply.json")"
}

lint_once() { # lint_s: without the cache; lint_warm_s: with it (filled by the first run)
  local t0 t1 m
  for m in lint lint_warm; do
    t0=$(now)
    /usr/bin/time -f '%M' -o "$OUT/time.txt" "$B" lint -s "$dir" \
      $([ $m = lint ] && echo --no-cache) > /dev/null 2>&1
    t1=$(now)
    record ${m}_s "$1" "$2" "$3" "$(elapsed "$t0" "$t1")"
    record ${m}_maxrss_kb "$1" "$2" "$3" "$(tail -1 "$OUT/time.txt")"
  done
}

gen() { # $1 plugins -> sets dir, size
  dir=$OUT/w-$1
  python3 "$root/scripts/bench/gen_w1.py" "$dir" --plugins "$1" > /dev/null
  size=$(( $1 * 10 ))
}

# ---- W1: every target, side by side with its baselines
gen "$PLUGINS"
if [ "${W1:-1}" = 1 ]; then
echo "== W1: $PLUGINS plugins, $size instances, $REPS repetitions -> $results"
for r in $(seq "$REPS"); do
  lint_once "$size" none "$r"
  sync_once "$size" memory "$r"
  diff_once "$size" memory "$r"
  diff_once "$size" memory "$r" --no-cache
  raw_pages_once "$size" memory "$r"
  loadgen_once "$size" memory "$r"
  apply_once "$size" memory "$r"
  if [ "$DURABLE" = 1 ]; then
    sync_once "$size" disk "$r"
    diff_once "$size" disk "$r"
    raw_pages_once "$size" disk "$r"
    loadgen_once "$size" disk "$r"
  fi
done
# The curl + jq loop on the first CURL_K plugins (and their instances), scaled to W1.
if [ "$CURL_K" -gt 0 ]; then
  start_server ":memory:"
  line=$("$root/scripts/bench/curl_jq_loop.sh" "$ADDR" "$dir" "$CURL_K")
  record curljq_s "$(( CURL_K * 10 ))" memory 1 "$(echo "$line" | sed 's/.*seconds=\([0-9.]*\).*/\1/')"
  record curljq_requests "$(( CURL_K * 10 ))" memory 1 "$(echo "$line" | sed 's/requests=\([0-9]*\).*/\1/')"
fi
fi
# ---- only the write path against the load generator, alternating (APPLY_ONLY_REPS > 0)
for r in $(seq "${APPLY_ONLY_REPS:-0}"); do
  apply_once "$size" memory "$r"
  loadgen_once "$size" memory "$r"
done

# ---- only the no-op diff (warm cache, --no-cache) against the raw pages, alternating
if [ "${DIFF_ONLY_REPS:-0}" -gt 0 ]; then
  start_server ":memory:"
  "$B" sync -s "$dir" --kong-addr "$ADDR" --parallelism "$PAR" -q > /dev/null 2>&1
  for r in $(seq "$DIFF_ONLY_REPS"); do
    diff_once "$size" memory "$r"
    diff_once "$size" memory "$r" --no-cache
    raw_pages_once "$size" memory "$r"
  done
fi
# ---- only the first sync (in-memory store) against the load generator, alternating
for r in $(seq "${SYNC_ONLY_REPS:-0}"); do
  sync_once "$size" memory "$r"
  loadgen_once "$size" memory "$r"
done
# ---- only the durable first sync against the load generator's durable writes, alternating
for r in $(seq "${DURABLE_ONLY_REPS:-0}"); do
  sync_once "$size" disk "$r"
  loadgen_once "$size" disk "$r"
done

# ---- growth: diff and sync at several sizes (on-disk, durable store: "growth" is not "memory")
for p in $GROWTH; do
  gen "$p"
  echo "== growth: $size instances"
  for r in $(seq "$GROWTH_REPS"); do
    sync_once "$size" growth "$r"
    diff_once "$size" growth "$r"
  done
done
stop_server

python3 "$root/scripts/bench/summary.py" "$results" ${PLOT:+--plot "$PLOT"}
