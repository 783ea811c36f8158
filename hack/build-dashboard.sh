#!/usr/bin/env bash
# The dashboard's charting library (uPlot, pinned in web/package.json + web/package-lock.json):
#   hack/build-dashboard.sh          npm ci, then copy its dist files and licence into
#                                    loadtest_operator/results/web/static/vendor/uplot/ (committed there,
#                                    so a clone, the wheel and the image need no npm)
#   hack/build-dashboard.sh --check  the same npm ci, then fail if the committed files differ from the
#                                    pinned package's (hack/test.sh runs this)
# The npm ci is cached per lock file (a stamp in web/node_modules/); --ignore-scripts: nothing of the
# package runs at install.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"

web=$root/web
vendor=$root/loadtest_operator/results/web/static/vendor/uplot
files=(dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE)
stamp=$web/node_modules/.llmload-lock.sha256
want=$(sha256sum "$web/package-lock.json" | cut -c1-64)

command -v npm >/dev/null || die "npm not found" "install Node.js with npm (hack/install-deps.sh needs it too)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  step "npm ci in web/ (the dashboard's charting library)"
  ( cd "$web" && nice -n 10 npm ci --ignore-scripts --no-audit --no-fund --silent ) \
    || die "npm ci in web/ failed" "check that the npm registry is reachable"
  echo "$want" > "$stamp"
fi
package=$web/node_modules/uplot
version=$(node -p "require('$package/package.json').version")

if [ "${1:-}" = --check ]; then
  for f in "${files[@]}"; do
    cmp -s "$package/$f" "$vendor/$(basename "$f")" \
      || die "$vendor/$(basename "$f") differs from uplot $version's $f" "run hack/build-dashboard.sh and commit the result"
  done
  ok "dashboard: vendored uplot matches the pinned $version"
  exit 0
fi
mkdir -p "$vendor"
for f in "${files[@]}"; do cp "$package/$f" "$vendor/"; done
echo "$version" > "$vendor/VERSION"
ok "dashboard: uplot $version copied to ${vendor#"$root/"}"
