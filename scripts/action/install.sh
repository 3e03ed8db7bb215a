#!/usr/bin/env bash
# Puts plugsync on the runner for the GitHub Action (action.yml). Two steps, each a subcommand:
#
#   install.sh resolve   decides what to install and where, from the input `version`:
#                          ""        the action's own version: for a tag (`v1`, `v1.2.3`) or a
#                                    commit id, the release `v` + the version in the action's
#                                    Cargo.toml (a commit id falls back to building from source
#                                    when that release does not exist); for a branch or a local
#                                    path (`uses: ./`), building from source
#                          vX.Y.Z    that release (X.Y.Z works too)
#                          source    build from the action's own source with cargo
#                        and prints the outputs mode, version, target, asset, bin-dir, bin,
#                        cache-path, cache-key, lock, src and fallback (to $GITHUB_OUTPUT);
#   install.sh install   (run when the cache missed) downloads the release archive for the
#                        runner's OS and architecture and SHA256SUMS, verifies the archive's
#                        SHA-256 against it, and unpacks the binary into bin-dir; or builds
#                        from source. Prints the output `bin`: the path of the binary.
#
# The release assets are those .github/workflows/release.yml publishes (scripts/release/
# package.sh): plugsync-TAG-TARGET.tar.gz (.zip on Windows) and SHA256SUMS, downloaded from
# $GITHUB_SERVER_URL/REPOSITORY/releases/download/TAG/. PLUGSYNC_ACTION_RELEASE_URL replaces
# everything before TAG (for a mirror, and for the tests' fake release on 127.0.0.1).
#
# Environment: INPUT_VERSION; ACTION_REF and ACTION_REPOSITORY (github.action_ref and
# github.action_repository, which GitHub leaves empty in some composite-action contexts: then
# they are read from GITHUB_ACTION_PATH, `…/_actions/OWNER/REPO/REF`); GITHUB_ACTION_PATH,
# GITHUB_SERVER_URL, RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, HOME, GITHUB_OUTPUT; for install, the
# resolve outputs as RESOLVED_MODE, RESOLVED_VERSION, RESOLVED_TARGET, RESOLVED_ASSET,
# RESOLVED_BIN_DIR, RESOLVED_FALLBACK and RESOLVED_REPOSITORY.
set -euo pipefail

action_path=${GITHUB_ACTION_PATH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "$1=$2" >>"$GITHUB_OUTPUT"
  fi
  echo "$1=$2"
}

fail() {
  echo "::error title=plugsync::$1"
  exit 1
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# The Rust target of the release binary for this runner.
runner_target() {
  case "${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)}" in
    Linux/X64 | Linux/x86_64) echo x86_64-unknown-linux-musl ;;
    Linux/ARM64 | Linux/aarch64) echo aarch64-unknown-linux-musl ;;
    macOS/X64 | Darwin/x86_64) echo x86_64-apple-darwin ;;
    macOS/ARM64 | Darwin/arm64) echo aarch64-apple-darwin ;;
    Windows/X64) echo x86_64-pc-windows-msvc ;;
    *) return 1 ;;
  esac
}

crate_version() {
  sed -n 's/^version = "\(.*\)"$/\1/p' "$action_path/Cargo.toml" | head -n 1
}

# OWNER/REPO and REF of the action, from GitHub's context or the action's path.
action_origin() {
  local repo=${ACTION_REPOSITORY:-} ref=${ACTION_REF:-}
  if [ -z "$repo" ] || [ -z "$ref" ]; then
    case "$action_path" in
      */_actions/*/*/*)
        local rest=${action_path##*/_actions/}
        local owner=${rest%%/*}
        rest=${rest#*/}
        local name=${rest%%/*}
        [ -n "$repo" ] || repo=$owner/$name
        [ -n "$ref" ] || ref=${rest#*/}
        ;;
    esac
  fi
  echo "$repo"
  echo "$ref"
}

resolve() {
  local requested=${INPUT_VERSION:-} mode version="" fallback=false repo ref
  { read -r repo; read -r ref; } < <(action_origin)
  requested=$(echo "$requested" | tr -d '[:space:]')
  case "$requested" in
    source) mode=source ;;
    "")
      if [[ "$ref" =~ ^v[0-9]+(\.[0-9]+){0,2}(-[0-9A-Za-z.-]+)?$ ]]; then
        mode=release
        version=v$(crate_version)
      elif [[ "$ref" =~ ^[0-9a-f]{40}$ ]]; then
        mode=release
        version=v$(crate_version)
        fallback=true
      else
        mode=source
        if [ -n "$ref" ]; then
          echo "plugsync: the action is used at \`$ref\`, not a release tag: building from source (set input version to a release to download it)"
        else
          echo "plugsync: the action is used from a path, not a release tag: building from source (set input version to a release to download it)"
        fi
      fi
      ;;
    v[0-9]* | [0-9]*)
      mode=release
      version=v${requested#v}
      [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
        fail "input version must be a release (v1.2.3), \`source\`, or empty for the action's own version; not \`$requested\`"
      ;;
    *) fail "input version must be a release (v1.2.3), \`source\`, or empty for the action's own version; not \`$requested\`" ;;
  esac

  local target="" asset="" exe=plugsync
  if [ "$mode" = release ]; then
    if ! target=$(runner_target); then
      if [ "$fallback" = true ] || [ -z "$requested" ]; then
        echo "plugsync: no release binary for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}: building from source"
        mode=source
      else
        fail "no plugsync release binary for runner ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}; use version: source"
      fi
    fi
  fi
  case "${RUNNER_OS:-}" in Windows) exe=plugsync.exe ;; esac

  local lock="" src="" name key
  if [ "$mode" = release ]; then
    case "$target" in
      *windows*) asset=plugsync-$version-$target.zip ;;
      *) asset=plugsync-$version-$target.tar.gz ;;
    esac
    name=release-$version-$target
    key=plugsync-bin-${RUNNER_OS:-unknown}-${RUNNER_ARCH:-unknown}-$name
  else
    lock=$(sha256 "$action_path/Cargo.lock" | cut -c1-16)
    src=$(cd "$action_path" && find Cargo.toml build.rs src -type f -print0 | LC_ALL=C sort -z |
      xargs -0 cat | { if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi; } | cut -c1-16)
    name=source-$lock-$src
    key=plugsync-bin-${RUNNER_OS:-unknown}-${RUNNER_ARCH:-unknown}-$name
  fi
  local home=${HOME:-/tmp}
  output mode "$mode"
  output version "$version"
  output repository "$repo"
  output target "$target"
  output asset "$asset"
  output fallback "$fallback"
  output bin-dir "$home/.plugsync-action/$name"
  output bin "$home/.plugsync-action/$name/$exe"
  output cache-path "~/.plugsync-action/$name"
  output cache-key "$key"
  output lock "$lock"
  output src "$src"
}

build_from_source() {
  local bin_dir=$1 exe=plugsync
  case "${RUNNER_OS:-}" in Windows) exe=plugsync.exe ;; esac
  command -v cargo >/dev/null 2>&1 ||
    fail "building plugsync from source needs a Rust toolchain (cargo) on the runner; or set input version to a release"
  local target_dir=${RUNNER_TEMP:-/tmp}/plugsync-target
  echo "plugsync: cargo build --release --locked (a few minutes)"
  cargo build --release --locked --manifest-path "$action_path/Cargo.toml" --target-dir "$target_dir"
  mkdir -p "$bin_dir"
  cp "$target_dir/release/$exe" "$bin_dir/$exe"
  output bin "$bin_dir/$exe"
}

# Downloads URL to FILE; prints the HTTP status (000 for a network failure).
download() {
  local code
  code=$(curl -sSL --retry 3 --retry-delay 2 --connect-timeout 20 -o "$2" -w '%{http_code}' "$1") || code=${code:-000}
  echo "${code:-000}"
}

install_release() {
  local version=$RESOLVED_VERSION target=$RESOLVED_TARGET asset=$RESOLVED_ASSET
  local bin_dir=$RESOLVED_BIN_DIR repo=${RESOLVED_REPOSITORY:-}
  local base=${PLUGSYNC_ACTION_RELEASE_URL:-}
  if [ -z "$base" ]; then
    [ -n "$repo" ] || fail "cannot tell which repository the action comes from; set input version: source"
    base=${GITHUB_SERVER_URL:-https://github.com}/$repo/releases/download
  fi
  base=${base%/}/$version
  local work
  work=$(mktemp -d "${RUNNER_TEMP:-/tmp}/plugsync-install.XXXXXX")
  echo "plugsync: downloading $asset from $base/"
  local code
  code=$(download "$base/$asset" "$work/$asset")
  if [ "$code" != 200 ]; then
    if [ "${RESOLVED_FALLBACK:-false}" = true ] && [ "$code" = 404 ]; then
      echo "::notice title=plugsync::no release $version for this commit of the action (HTTP 404): building from source"
      rm -rf "$work"
      build_from_source "${bin_dir%/*}/source-fallback-$version"
      return
    fi
    rm -rf "$work"
    fail "downloading $base/$asset failed (HTTP $code): is $version a plugsync release with a binary for $target? Or set input version: source"
  fi
  code=$(download "$base/SHA256SUMS" "$work/SHA256SUMS")
  [ "$code" = 200 ] || { rm -rf "$work"; fail "downloading $base/SHA256SUMS failed (HTTP $code): the archive cannot be verified"; }
  local expected actual
  expected=$(awk -v a="$asset" '$2 == a || $2 == "*" a { print $1; exit }' "$work/SHA256SUMS")
  [ -n "$expected" ] || { rm -rf "$work"; fail "SHA256SUMS of $version does not list $asset"; }
  actual=$(sha256 "$work/$asset")
  if [ "$actual" != "$expected" ]; then
    rm -rf "$work"
    fail "checksum mismatch for $asset: SHA256SUMS says $expected, the download has $actual; nothing was installed"
  fi
  echo "plugsync: SHA-256 verified ($actual)"
  mkdir -p "$work/unpacked"
  case "$asset" in
    *.zip)
      if command -v unzip >/dev/null 2>&1; then
        unzip -q "$work/$asset" -d "$work/unpacked"
      else
        python3 -m zipfile -e "$work/$asset" "$work/unpacked"
      fi
      ;;
    *) tar -xzf "$work/$asset" -C "$work/unpacked" ;;
  esac
  local exe=plugsync
  case "$target" in *windows*) exe=plugsync.exe ;; esac
  local dir=${asset%.tar.gz}
  dir=${dir%.zip}
  local found="$work/unpacked/$dir/$exe"
  [ -f "$found" ] || { rm -rf "$work"; fail "the archive $asset holds no $exe"; }
  mkdir -p "$bin_dir"
  cp "$found" "$bin_dir/$exe"
  chmod 755 "$bin_dir/$exe"
  rm -rf "$work"
  "$bin_dir/$exe" --version
  output bin "$bin_dir/$exe"
}

case "${1:-}" in
  resolve) resolve ;;
  install)
    case "${RESOLVED_MODE:-}" in
      release) install_release ;;
      source) build_from_source "$RESOLVED_BIN_DIR" ;;
      *) fail "install.sh install needs the outputs of install.sh resolve" ;;
    esac
    ;;
  *)
    echo "usage: $0 resolve|install" >&2
    exit 1
    ;;
esac
