#!/usr/bin/env bash
# The README's test command: installs what the tests need, lints, and runs
# every test (unit, integration, e2e on the local node). The local cluster is
# torn down at the end, whether the tests passed, failed or were interrupted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export _t0=$(date +%s)
. "$here/lib.sh"
cd "$root"

timed() { local t=$(date +%s); "$@"; printf '    [%s took %ss]\n' "$*" "$(( $(date +%s) - t ))" >&2; }

if [ "${USE_EXISTING_CLUSTER:-}" != true ]; then
  timed "$here/install-deps.sh"
fi
timed "$here/setup-venv.sh"
timed "$here/build-dashboard.sh" --check  # the vendored charting library is the pinned npm package's
timed "$here/setup-vllm.sh"  # real vLLM for tests/integration/vllm and tests/e2e/test_vllm.py

step "lint: ruff, mypy --strict, import-linter layer contracts"
timed .venv/bin/ruff check .
timed .venv/bin/ruff format --check .
timed .venv/bin/mypy
timed .venv/bin/lint-imports --no-cache

if [ "${USE_EXISTING_CLUSTER:-}" != true ]; then
  timed "$here/build-kubernetes.sh"
  timed "$here/build-images.sh" all
  # Whatever happens to the tests, the node goes away afterwards.
  trap '"$here/cluster-down.sh"' EXIT
  trap 'exit 130' INT TERM
fi
timed "$here/get-helm.sh"

step "pytest: unit, integration, e2e"
timed .venv/bin/pytest -p no:cacheprovider "$@"
