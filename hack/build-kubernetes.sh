#!/usr/bin/env bash
# Builds kube-apiserver, controller-manager, scheduler, kubelet, kube-proxy and
# kubectl 1.20.2 from Debian bookworm's `kubernetes` source package, once, into
# the per-user cache. Later runs find the binaries and return at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
have_all() { for c in "${components[@]}"; do [ -x "$K8S_BIN/$c" ] || return 1; done; }
if have_all; then ok "Kubernetes $K8S_VERSION binaries cached in $K8S_BIN"; exit 0; fi

src_list=/etc/apt/sources.list.d/llmload-bookworm-src.sources
if ! apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -q Sources; then
  step "adding a deb-src entry for bookworm"
  cat > "$src_list" <<SRC
Types: deb-src
URIs: $(debian_mirror)
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq || die "apt-get update (with deb-src) failed" "download the kubernetes source package yourself into $LLMLOAD_CACHE/src"
fi

work=$LLMLOAD_CACHE/src
mkdir -p "$work"
cd "$work"
if ! ls kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
  step "downloading Debian's kubernetes source package"
  apt-get source --download-only kubernetes >/dev/null \
    || die "apt-get source kubernetes failed" "place kubernetes_*.orig.tar.gz in $work, or put prebuilt binaries (${components[*]}) in $K8S_BIN"
fi
orig=$(ls kubernetes_*.orig.tar.gz | head -n 1)

tree=$work/kubernetes-tree
rm -rf "$tree" && mkdir -p "$tree"
step "unpacking $orig"
tar -xzf "$orig" -C "$tree" --strip-components=1

# The vendored reflect2 1.0.1 crashes under Go 1.19 the first time a custom
# resource is created; Debian's 1.0.2 does not.
step "replacing vendored reflect2 with Debian's 1.0.2"
rm -rf "$tree/vendor/github.com/modern-go/reflect2"
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/reflect2"
rm -f "$tree/vendor/github.com/modern-go/reflect2/go.mod"

# GOPATH mode, as Debian's debian/rules builds it.
mkdir -p "$tree/.go/src/k8s.io"
ln -sfn "$tree" "$tree/.go/src/k8s.io/kubernetes"
step "compiling ${components[*]} (about 6-7 minutes on 2 cores)"
whats=""; for c in "${components[@]}"; do whats="$whats cmd/$c"; done
(
  cd "$tree/.go/src/k8s.io/kubernetes"
  export GOPATH=$tree/.go GO111MODULE=off CGO_ENABLED=0 GOFLAGS= GOCACHE=$work/gocache
  export KUBE_GIT_VERSION=v$K8S_VERSION KUBE_GIT_TREE_STATE=clean
  make WHAT="${whats# }" > "$work/build.log" 2>&1
) || { tail -n 30 "$work/build.log" >&2; die "building Kubernetes failed (log: $work/build.log)" "put prebuilt binaries (${components[*]}) in $K8S_BIN"; }

mkdir -p "$K8S_BIN"
for c in "${components[@]}"; do cp "$tree/_output/local/bin/linux/amd64/$c" "$K8S_BIN/$c"; done
# The pause container's source comes from the same tree; keep it for the image build.
cp "$tree/build/pause/linux/pause.c" "$K8S_BIN/pause.c"
rm -rf "$tree" "$work/gocache"
ok "Kubernetes $K8S_VERSION built into $K8S_BIN"
