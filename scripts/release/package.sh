#!/usr/bin/env bash
# Packages release binaries as the GitHub release assets that docs/install.md and the GitHub
# Action (scripts/action/install.sh) expect.
#
#   package.sh TAG BINS EXTRA OUT
#
# BINS holds one directory per target, `bin-TARGET/plugsync` (or `plugsync.exe`), as the
# release workflow downloads them; EXTRA holds `man/` and `completions/`. Writes to OUT:
#   plugsync-TAG-TARGET.tar.gz   (Windows targets: .zip), a directory plugsync-TAG-TARGET/
#                                with the binary, README.md, CHANGELOG.md, LICENSE, man/ and
#                                completions/
#   plugsync-TAG-TARGET.*.sha256 one line: `HEX  NAME`
#   SHA256SUMS                   every archive, in the same form (`sha256sum -c` reads it)
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 TAG BINS EXTRA OUT" >&2; exit 1; }
tag=$1 bins=$2 extra=$3 out=$4
root=$(cd "$(dirname "$0")/../.." && pwd)

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
: >"$stage/SHA256SUMS"
found=0
for dir in "$bins"/bin-*; do
  [ -d "$dir" ] || continue
  target=${dir##*/bin-}
  name=plugsync-$tag-$target
  mkdir -p "$stage/$name"
  exe=plugsync
  [ -f "$dir/plugsync.exe" ] && exe=plugsync.exe
  [ -f "$dir/$exe" ] || { echo "no binary in $dir" >&2; exit 1; }
  cp "$dir/$exe" "$stage/$name/$exe"
  chmod 755 "$stage/$name/$exe"
  cp "$root/README.md" "$root/CHANGELOG.md" "$root/LICENSE" "$stage/$name/"
  [ -d "$extra/man" ] && cp -R "$extra/man" "$stage/$name/man"
  [ -d "$extra/completions" ] && cp -R "$extra/completions" "$stage/$name/completions"
  case "$target" in
    *windows*)
      archive=$name.zip
      (cd "$stage" && python3 -m zipfile -c "$out/$archive" "$name")
      ;;
    *)
      archive=$name.tar.gz
      (cd "$stage" && tar -czf "$out/$archive" "$name")
      ;;
  esac
  line="$(sha256 "$out/$archive")  $archive"
  echo "$line" >"$out/$archive.sha256"
  echo "$line" >>"$stage/SHA256SUMS"
  echo "packaged $archive"
  found=$((found + 1))
done
[ "$found" -gt 0 ] || { echo "no binaries under $bins" >&2; exit 1; }
sort -k2 "$stage/SHA256SUMS" >"$out/SHA256SUMS"
