#!/usr/bin/env bash
# Copy the front-end libraries 爱家 serves from static/vendor/ out of their npm packages.
#
#   scripts/vendor.sh            (everything)
#   scripts/vendor.sh axe-core   (only tests/vendor/axe-core/, the test-only accessibility engine)
#
# Run it only to change a version: the copied files are committed, so `make run`
# never needs npm. Each package is fetched with `npm pack` (which checks the
# tarball against the registry's integrity hash) into a temporary directory outside
# the repository; only the files the pages load are copied, plus each LICENSE.
# Source maps are left out, and the trailing `sourceMappingURL` comment is removed
# so that browsers' developer tools do not ask the server for maps that are not there.
# static/vendor/VERSIONS.txt records name@version and the npm integrity hash.
set -euo pipefail

# Pinned versions: bump here and re-run.
BOOTSTRAP=5.3.9
BOOTSTRAP_ICONS=1.13.2
CHARTJS=4.6.1
AXE_CORE=4.14.1   # test-only: tests/vendor/axe-core/ (the browser accessibility check)

top=$(cd "$(dirname "$0")/.." && pwd)
dest="$top/static/vendor"
test_dest="$top/tests/vendor/axe-core"   # never served: only tests/e2e/test_axe.py injects it

log() { printf '[vendor] %s\n' "$*" >&2; }

command -v npm >/dev/null 2>&1 || { log "npm is needed to refresh static/vendor/"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ihome-vendor.XXXXXX")
trap 'rm -rf "$work"' EXIT

# npm pack <spec> into $work; prints "name version integrity" and unpacks to $work/<name>/.
fetch() {
  local spec=$1 name=$2 json tarball
  log "npm pack $spec"
  json=$(cd "$work" && npm pack "$spec" --json --loglevel=error)
  tarball=$(printf '%s' "$json" | node -e \
    'const p=JSON.parse(require("fs").readFileSync(0,"utf8"))[0]; console.log(p.filename)')
  mkdir -p "$work/$name"
  tar -xzf "$work/$tarball" -C "$work/$name" --strip-components=1
  printf '%s' "$json" | node -e \
    'const p=JSON.parse(require("fs").readFileSync(0,"utf8"))[0]; console.log(`${p.name}@${p.version} ${p.integrity}`)' \
    >>"$work/VERSIONS"
}

# copy <src> <dst>: copy one file, creating the directory, without source-map trailers.
copy() {
  local src=$1 dst=$2
  [ -f "$src" ] || { log "missing in package: $src"; exit 1; }
  mkdir -p "$(dirname "$dst")"
  case "$dst" in
    *.css|*.js) sed -E '/^[/][*#/]+[#@] sourceMappingURL=.*$/d' "$src" >"$dst" ;;
    *) cp "$src" "$dst" ;;
  esac
}

# subset_icons <unpacked bootstrap-icons> <out>: only the icons templates/ and static/js/ use
# (scripts/icon_subset.py: a WOFF2 subset and a CSS with only those classes), with fontTools
# and brotli from requirements-vendor.txt installed into the project's virtualenv.
subset_icons() {
  local py="$top/.venv/bin/python"
  [ -x "$py" ] || py=python3
  "$py" -m pip install -q -r "$top/requirements-vendor.txt"
  "$py" "$top/scripts/icon_subset.py" "$1" "$2"
}

# `scripts/vendor.sh icons`: only re-make the icon subset (after using a new bi-NAME).
if [ "${1:-}" = icons ]; then
  fetch "bootstrap-icons@$BOOTSTRAP_ICONS" bootstrap-icons
  subset_icons "$work/bootstrap-icons" "$work/icons"
  rm -rf "$dest/bootstrap-icons/font.old"
  mv "$dest/bootstrap-icons/font" "$dest/bootstrap-icons/font.old"
  mv "$work/icons" "$dest/bootstrap-icons/font"
  rm -rf "$dest/bootstrap-icons/font.old"
  log "static/vendor/bootstrap-icons/font/ re-made"
  exit 0
fi

# axe-core is a test tool, kept apart from what the site serves; same swap as above.
fetch "axe-core@$AXE_CORE" axe-core
axe="$work/axe-core" newaxe="$work/axe-vendor"
copy "$axe/axe.min.js"                      "$newaxe/axe.min.js"
copy "$axe/LICENSE"                         "$newaxe/LICENSE"
{
  echo "# axe-core copied into tests/vendor/axe-core/ by scripts/vendor.sh (do not edit by hand)."
  echo "# name@version npm-integrity"
  cat "$work/VERSIONS"
} >"$newaxe/VERSIONS.txt"
: >"$work/VERSIONS"
mkdir -p "$(dirname "$test_dest")"
rm -rf "$test_dest.old"
[ -d "$test_dest" ] && mv "$test_dest" "$test_dest.old"
mv "$newaxe" "$test_dest"
rm -rf "$test_dest.old"
log "tests/vendor/axe-core/ now holds:"
sed -n '3,$p' "$test_dest/VERSIONS.txt" >&2
[ "${1:-}" = axe-core ] && exit 0   # `scripts/vendor.sh axe-core`: only the test copy

fetch "bootstrap@$BOOTSTRAP" bootstrap
fetch "bootstrap-icons@$BOOTSTRAP_ICONS" bootstrap-icons
fetch "chart.js@$CHARTJS" chart.js

# Build the new tree beside the old one and swap, so a failure leaves the old files.
new="$work/vendor"
b="$work/bootstrap" i="$work/bootstrap-icons" c="$work/chart.js"
copy "$b/dist/css/bootstrap.min.css"        "$new/bootstrap/css/bootstrap.min.css"
copy "$b/dist/js/bootstrap.bundle.min.js"   "$new/bootstrap/js/bootstrap.bundle.min.js"
copy "$b/LICENSE"                           "$new/bootstrap/LICENSE"
subset_icons "$i"                           "$new/bootstrap-icons/font"
copy "$i/LICENSE"                           "$new/bootstrap-icons/LICENSE"
# Chart.js 4 ships a minified UMD build that sets window.Chart.
copy "$c/dist/chart.umd.min.js"             "$new/chart.js/chart.umd.min.js"
copy "$c/LICENSE.md"                        "$new/chart.js/LICENSE.md"

{
  echo "# Front-end packages copied into static/vendor/ by scripts/vendor.sh (do not edit by hand)."
  echo "# name@version npm-integrity"
  cat "$work/VERSIONS"
} >"$new/VERSIONS.txt"

if grep -rl 'sourceMappingURL' "$new" >/dev/null; then
  log "a sourceMappingURL comment survived:"; grep -rl 'sourceMappingURL' "$new" >&2; exit 1
fi

mkdir -p "$top/static"
rm -rf "$dest.old"
[ -d "$dest" ] && mv "$dest" "$dest.old"
mv "$new" "$dest"
rm -rf "$dest.old"
log "static/vendor/ now holds:"
sed -n '3,$p' "$dest/VERSIONS.txt" >&2
