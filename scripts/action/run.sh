#!/usr/bin/env bash
# The step of the plugsync GitHub Action (action.yml): runs one plugsync command and reports it.
#
#   * masks the tokens it is given (::add-mask::) before anything else;
#   * runs `plugsync lint|diff|plan|apply|sync|test` with the action's inputs (INPUT_* variables, set by
#     action.yml); tokens reach plugsync through its environment variables, never its arguments;
#   * keeps the plan JSON as a file (output `plan-file`) for an artifact step;
#   * `lint` also prints GitHub annotations (`::error file=…,line=…,col=…::`), so findings show
#     on the pull request's files;
#   * `apply` applies the reviewed plan file of input `plan-file`; a stale plan (exit 3) sets
#     the output `stale-plan` and fails the step with a message saying what to do;
#   * writes the Markdown report to $GITHUB_STEP_SUMMARY, cut safely under GitHub's 1 MiB limit;
#   * with `comment: true` on a pull request, posts one sticky comment, found again on later runs
#     by a hidden marker and updated in place (GitHub's REST API at $GITHUB_API_URL, via curl);
#   * sets the outputs exit-code, has-changes, has-breaking-changes, plan-file, stale-plan and
#     plugsync-version.
#
# Exit status: 0 when plugsync exited 0, or 2 for "there are changes" (reported through
# `has-changes` instead of failing the step); plugsync's own code otherwise.
#
# Environment: INPUT_COMMAND, INPUT_STATE, INPUT_SELECT_TAG, INPUT_KONNECT_TOKEN,
# INPUT_KONNECT_ADDR, INPUT_KONNECT_CONTROL_PLANE_NAME, INPUT_KONG_ADDR, INPUT_KONG_ADMIN_TOKEN,
# INPUT_BASE_REF, INPUT_ARGS, INPUT_COMMENT, INPUT_GITHUB_TOKEN, INPUT_PLAN_FILE; PLUGSYNC_BIN (the binary,
# default `plugsync` on PATH); GitHub's GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_EVENT_PATH,
# GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_WORKFLOW, GITHUB_JOB, GITHUB_SERVER_URL,
# GITHUB_RUN_ID, RUNNER_TEMP. PLUGSYNC_ACTION_SUMMARY_LIMIT (bytes, default 1000000) and
# PLUGSYNC_ACTION_COMMENT_LIMIT (characters, default 65000) exist for tests.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
helper() { python3 "$here/helper.py" "$@"; }

mask() {
  local line
  [ -n "${1:-}" ] || return 0
  while IFS= read -r line; do
    [ -n "$line" ] && echo "::add-mask::$line"
  done <<<"$1"
}
mask "${INPUT_KONNECT_TOKEN:-}"
mask "${INPUT_KONG_ADMIN_TOKEN:-}"
mask "${INPUT_GITHUB_TOKEN:-}"

bin=${PLUGSYNC_BIN:-plugsync}
command=${INPUT_COMMAND:-diff}
base_ref=${INPUT_BASE_REF:-}
summary_limit=${PLUGSYNC_ACTION_SUMMARY_LIMIT:-1000000}
comment_limit=${PLUGSYNC_ACTION_COMMENT_LIMIT:-65000}

output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "$1=$2" >>"$GITHUB_OUTPUT"
  else
    echo "$1=$2"
  fi
}

# A failure before plugsync runs: an error, the outputs, exit 1.
refuse() {
  echo "::error title=plugsync::$1"
  output exit-code 1
  output has-changes false
  output has-breaking-changes false
  output plan-file ""
  output stale-plan false
  exit 1
}

case "$command" in
  lint | diff | plan | apply | sync | test) ;;
  *) refuse "input command must be lint, diff, plan, apply, sync or test, not '$command'" ;;
esac
if [ -n "$base_ref" ] && [ "$command" != diff ] && [ "$command" != lint ]; then
  refuse "input base-ref is for command: diff (an offline review), not $command"
fi
plan_input=${INPUT_PLAN_FILE:-}
if [ "$command" = apply ]; then
  [ -n "$plan_input" ] ||
    refuse "command apply needs input plan-file: the plan JSON of a plan step (its output plan-file, passed between jobs as an artifact)"
  [ -f "$plan_input" ] || refuse "input plan-file: no such file: $plan_input"
elif [ -n "$plan_input" ]; then
  refuse "input plan-file is for command: apply, not $command"
fi

# diff, plan and sync need a control plane: without one, plugsync would plan against an
# embedded database created on the runner and stay green whatever the state says.
if [ "$command" != lint ] && [ "$command" != test ] && [ -z "$base_ref" ]; then
  target_given=false
  for value in "${INPUT_KONNECT_TOKEN:-}" "${INPUT_KONG_ADDR:-}" "${PLUGSYNC_KONNECT_TOKEN:-}" \
    "${PLUGSYNC_KONG_ADDR:-}" "${PLUGSYNC_LOCAL:-}"; do
    [ -n "$value" ] && target_given=true
  done
  case " ${INPUT_ARGS:-} " in
    *" --local"* | *" --kong-addr"* | *" --konnect-token"*) target_given=true ;;
  esac
  if [ "$target_given" = false ]; then
    refuse "command $command needs a control plane: set the inputs konnect-token and konnect-control-plane-name (Konnect) or kong-addr (and kong-admin-token) (Kong Gateway); or, with command diff, base-ref for an offline review of the pull request"
  fi
fi

tmp_root=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
mkdir -p "$tmp_root"
work=$(mktemp -d "$tmp_root/plugsync-action.XXXXXX")
plan_file="$work/plan.json"
report="$work/report.md"
log="$work/plugsync.log"
: >"$report"
: >"$log"

# Common flags: state paths (one per line), select tags (comma- or newline-separated).
common=()
while IFS= read -r path; do
  path=$(echo "$path" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
  [ -n "$path" ] && common+=(-s "$path")
done <<<"${INPUT_STATE:-}"
states=("${common[@]}") # test takes the state paths only
while IFS= read -r tag; do
  tag=$(echo "$tag" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
  [ -n "$tag" ] && common+=(--select-tag "$tag")
done <<<"$(echo "${INPUT_SELECT_TAG:-}" | tr ',' '\n')"
extra=()
if [ -n "${INPUT_ARGS:-}" ]; then
  if ! mapfile -d '' -t extra < <(helper split-args "$INPUT_ARGS"); then
    echo "::error title=plugsync::input args cannot be split into words"
    exit 1
  fi
fi

# Target: through plugsync's environment variables, so no token is ever on a command line.
[ -n "${INPUT_KONNECT_TOKEN:-}" ] && export PLUGSYNC_KONNECT_TOKEN="$INPUT_KONNECT_TOKEN"
[ -n "${INPUT_KONNECT_ADDR:-}" ] && export PLUGSYNC_KONNECT_ADDR="$INPUT_KONNECT_ADDR"
[ -n "${INPUT_KONNECT_CONTROL_PLANE_NAME:-}" ] &&
  export PLUGSYNC_KONNECT_CONTROL_PLANE_NAME="$INPUT_KONNECT_CONTROL_PLANE_NAME"
[ -n "${INPUT_KONG_ADDR:-}" ] && export PLUGSYNC_KONG_ADDR="$INPUT_KONG_ADDR"
[ -n "${INPUT_KONG_ADMIN_TOKEN:-}" ] && export PLUGSYNC_KONG_ADMIN_TOKEN="$INPUT_KONG_ADMIN_TOKEN"
export NO_COLOR=1

version_line=$("$bin" --version 2>/dev/null | head -n 1) || version_line=""
output plugsync-version "$version_line"
echo "::group::plugsync $command"
rc=0
case "$command" in
  lint)
    [ -n "$base_ref" ] && common+=(--git-ref "$base_ref") && echo "::warning title=plugsync::base-ref with command lint lints that revision"
    "$bin" lint "${common[@]}" --format markdown "${extra[@]}" >"$report" 2>"$log"
    rc=$?
    # Annotations on the pull request's files (workflow commands on stdout).
    "$bin" lint "${common[@]}" --format github "${extra[@]}" 2>/dev/null || true
    ;;
  diff)
    if [ -n "$base_ref" ]; then
      # Offline review: deterministic, so the JSON and Markdown runs agree.
      "$bin" diff --base "$base_ref" "${common[@]}" --exit-code --format json "${extra[@]}" \
        >"$plan_file" 2>"$log"
      rc=$?
      if [ "$rc" = 0 ] || [ "$rc" = 2 ]; then
        "$bin" diff --base "$base_ref" "${common[@]}" --format markdown "${extra[@]}" \
          >"$report" 2>>"$log" || true
      fi
    else
      # One read of the control plane gives both the report and the plan file.
      "$bin" plan "${common[@]}" --out "$plan_file" --exit-code --format markdown "${extra[@]}" \
        >"$report" 2>"$log"
      rc=$?
    fi
    ;;
  plan)
    "$bin" plan "${common[@]}" --out "$plan_file" --exit-code --format markdown "${extra[@]}" \
      >"$report" 2>"$log"
    rc=$?
    ;;
  test)
    # Offline: runs the handlers against tests/*.test.yaml (no control plane needed).
    "$bin" test "${states[@]}" --format markdown "${extra[@]}" >"$report" 2>"$log"
    rc=$?
    ;;
  apply)
    "$bin" apply "$plan_input" --format json "${extra[@]}" >"$work/apply.json" 2>"$log"
    rc=$?
    helper sync-report "$work/apply.json" "$plan_file" "apply" >"$report"
    ;;
  sync)
    "$bin" sync "${common[@]}" --format json "${extra[@]}" >"$work/sync.json" 2>"$log"
    rc=$?
    helper sync-report "$work/sync.json" "$plan_file" >"$report"
    ;;
esac
cat "$log" >&2
echo "::endgroup::"

# Outputs.
[ -s "$plan_file" ] || plan_file=""
# apply: the plan it was given, when plugsync did not get as far as applying it.
if [ "$command" = apply ] && [ -z "$plan_file" ]; then plan_file=$plan_input; fi
has_changes=false
has_breaking=false
if [ -n "$plan_file" ]; then
  while IFS='=' read -r key value; do
    case "$key" in
      has_changes) has_changes=$value ;;
      has_breaking_changes) has_breaking=$value ;;
    esac
  done < <(helper analyze "$plan_file")
fi
[ "$rc" = 2 ] && has_changes=true
output exit-code "$rc"
output has-changes "$has_changes"
output has-breaking-changes "$has_breaking"
output plan-file "$plan_file"
stale=false
if [ "$command" = apply ] && [ "$rc" = 3 ]; then
  stale=true
  echo "::error title=plugsync::the plan is stale: the control plane changed since the plan was made, and nothing was applied. Make a new plan, review it, and apply that one."
fi
output stale-plan "$stale"

# The report: plugsync's Markdown, and its log when it failed or said nothing.
full="$work/summary-full.md"
{
  cat "$report"
  if { [ "$rc" != 0 ] && [ "$rc" != 2 ]; } || [ ! -s "$report" ]; then
    echo
    echo "### plugsync $command exited with code $rc"
    echo
    echo "<details open><summary>plugsync output</summary>"
    echo
    echo '```text'
    sed -e 's/^```/ ```/' "$log"
    echo '```'
    echo
    echo "</details>"
  fi
} >"$full"
summary="$work/summary.md"
helper fit "$full" "$summary" "$summary_limit" bytes \
  "The report was cut to fit GitHub's 1 MiB step summary limit; the plan file (output plan-file) has everything."
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$summary" >>"$GITHUB_STEP_SUMMARY"
fi

# The sticky pull request comment.
post_comment() {
  local api=${GITHUB_API_URL:-https://api.github.com}
  local repo=${GITHUB_REPOSITORY:-}
  local number token=${INPUT_GITHUB_TOKEN:-}
  number=$(helper pr-number "${GITHUB_EVENT_PATH:-/dev/null}")
  if [ -z "$number" ]; then
    echo "::notice title=plugsync::comment: true, but this run is not for a pull request: no comment posted"
    return 0
  fi
  if [ -z "$repo" ] || [ -z "$token" ]; then
    echo "::warning title=plugsync::cannot comment: GITHUB_REPOSITORY or the github-token input is empty"
    return 0
  fi
  local key="${GITHUB_WORKFLOW:-workflow}/${GITHUB_JOB:-job}/$command"
  key=$(printf '%s' "$key" | tr -d '\n' | sed -e 's/--*/-/g' -e 's/>/ /g')
  local marker="<!-- plugsync-action: $key -->"
  local body="$work/comment.md"
  {
    echo "$marker"
    cat "$summary"
    if [ -n "${GITHUB_RUN_ID:-}" ]; then
      echo
      echo "<sub>plugsync \`$command\` · [workflow run](${GITHUB_SERVER_URL:-https://github.com}/$repo/actions/runs/$GITHUB_RUN_ID)</sub>"
    fi
  } >"$work/comment-full.md"
  helper fit "$work/comment-full.md" "$body" "$comment_limit" chars \
    "The report was cut to fit a pull request comment; the step summary and the plan file (output plan-file) have more."
  helper comment-json "$body" "$work/comment.json"

  # The token goes in a header file, not on curl's command line.
  local headers="$work/headers"
  (
    umask 077
    printf 'Authorization: Bearer %s\nAccept: application/vnd.github+json\nX-GitHub-Api-Version: 2022-11-28\n' \
      "$token" >"$headers"
  )
  local page=1 id="" found code
  while [ "$page" -le 50 ]; do
    code=$(curl -sS -o "$work/page.json" -w '%{http_code}' -H @"$headers" \
      "$api/repos/$repo/issues/$number/comments?per_page=100&page=$page") || code=000
    if [ "${code:0:1}" != 2 ]; then
      echo "::warning title=plugsync::listing the pull request's comments failed (HTTP $code): no comment posted"
      rm -f "$headers"
      return 0
    fi
    found=$(helper find-comment "$work/page.json" "$marker")
    if [ "$found" = more ]; then
      page=$((page + 1))
      continue
    fi
    id=$found
    break
  done
  if [ -n "$id" ]; then
    code=$(curl -sS -o "$work/response.json" -w '%{http_code}' -X PATCH -H @"$headers" \
      -H 'Content-Type: application/json' --data-binary @"$work/comment.json" \
      "$api/repos/$repo/issues/comments/$id") || code=000
    what="updated comment $id"
  else
    code=$(curl -sS -o "$work/response.json" -w '%{http_code}' -X POST -H @"$headers" \
      -H 'Content-Type: application/json' --data-binary @"$work/comment.json" \
      "$api/repos/$repo/issues/$number/comments") || code=000
    what="posted a comment"
  fi
  rm -f "$headers"
  if [ "${code:0:1}" = 2 ]; then
    echo "plugsync: $what on pull request #$number"
  else
    echo "::warning title=plugsync::commenting on pull request #$number failed (HTTP $code)"
  fi
}
case "${INPUT_COMMENT:-false}" in
  true | True | TRUE | yes | 1) post_comment ;;
esac

case "$rc" in
  0 | 2) exit 0 ;;
  *)
    echo "::error title=plugsync::plugsync $command exited with code $rc"
    exit "$rc"
    ;;
esac
