#!/usr/bin/env bash
# The project's virtualenv in .venv with the product package and the test servers (mockservers/, its
# own distribution) both editable, and the dev tools.
# Re-installs only when pyproject.toml or mockservers/pyproject.toml changed since the last install.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/lib.sh"
venv=$root/.venv
stamp=$venv/.pyproject.sha256
want=$(cat "$root/pyproject.toml" "$root/mockservers/pyproject.toml" | sha256sum | cut -c1-64)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then ok "virtualenv up to date (.venv)"; exit 0; fi
step "creating the virtualenv .venv (python >= 3.11)"
py=${PYTHON:-python3}
"$py" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null || die "$py is older than 3.11" "set PYTHON=/path/to/python3.11+"
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv" || die "python3 -m venv failed" "install python3-venv"
"$venv/bin/pip" install -q --upgrade pip >/dev/null
# One resolve for both: mockservers' dependency `llmload` is the product installed here, never an index's.
"$venv/bin/pip" install -q -e "$root[dev]" -e "$root/mockservers" \
  || die "pip install -e .[dev] -e mockservers failed" "check that PyPI is reachable"
echo "$want" > "$stamp"
ok "virtualenv ready"
