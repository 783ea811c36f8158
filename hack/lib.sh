# Shared by the hack/ scripts: where things are cached and how to report.
# shellcheck shell=bash
LLMLOAD_CACHE=${LLMLOAD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmload}
K8S_VERSION=1.20.2
K8S_BIN=$LLMLOAD_CACHE/kubernetes-$K8S_VERSION/bin
HELM_BIN=$LLMLOAD_CACHE/helm/helm
CLUSTER_DIR=${CLUSTER_DIR:-/var/lib/llmload-cluster}
mkdir -p "$LLMLOAD_CACHE"

_t0=${_t0:-$(date +%s)}
step() { printf '\033[1m==> %s\033[0m (t+%ss)\n' "$*" "$(( $(date +%s) - _t0 ))" >&2; }
ok()   { printf '    ok: %s (t+%ss)\n' "$*" "$(( $(date +%s) - _t0 ))" >&2; }
die()  { printf 'ERROR: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf '  how to proceed: %s\n' "$2" >&2; exit 1; }

# The Debian mirror this machine's apt already uses (never a hard-coded host).
debian_mirror() {
  local m
  m=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n 1)
  [ -n "$m" ] || m=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n 1)
  [ -n "$m" ] || die "cannot find the Debian mirror in /etc/apt/sources.list*" "configure apt for Debian bookworm first"
  printf '%s\n' "$m"
}

PAUSE_IMAGE=localhost/llmload/pause:$K8S_VERSION
BASE_IMAGE=localhost/llmload/base:bookworm
PROJECT_IMAGE=${PROJECT_IMAGE:-localhost/llmload/llmload:dev}
# The product image plus the test servers (the Dockerfile's mockservers stage): mock vLLM, DCGM stand-in.
MOCK_IMAGE=${MOCK_IMAGE:-localhost/llmload/llmload-mock:dev}

# The local node's fixed addresses: both ranges exist only on the cni0 bridge.
NODE_NAME=llmload-node
BRIDGE=cni0
BRIDGE_IP=198.18.0.1
POD_CIDR=198.18.0.0/24
SERVICE_CIDR=198.19.0.0/24
API_PORT=6443
ETCD_PORT=23790
ETCD_PEER_PORT=23800
CONTAINERD_SOCK=$CLUSTER_DIR/containerd/containerd.sock
KUBECTL=$K8S_BIN/kubectl
ADMIN_KUBECONFIG=$CLUSTER_DIR/kubeconfig
GUARD_COMMENT=llmload-no-egress
PROMETHEUS_PORT=9090
PROMETHEUS_URL=http://$BRIDGE_IP:$PROMETHEUS_PORT

kc() { "$KUBECTL" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# wait_for SECONDS DESCRIPTION LOGFILE COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local secs=$1 what=$2 log=$3; shift 3
  local end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$end" ]; then
      [ -f "$log" ] && { echo "---- last lines of $log ----" >&2; tail -n 25 "$log" >&2; }
      die "$what did not come up within ${secs}s" "see the log above; hack/cluster-down.sh cleans up"
    fi
    sleep 0.5
  done
}

# Imports every cached image archive into containerd's k8s.io namespace.
import_images() {
  local archive
  step "importing images into containerd"
  for archive in "$LLMLOAD_CACHE"/images/*.tar; do
    [ -f "$archive" ] || continue
    ctr_k8s images import "$archive" >/dev/null \
      || die "importing $archive failed" "rebuild it with hack/build-images.sh"
  done
  ok "images: $(ctr_k8s images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
}

# start NAME COMMAND...: a daemon in its own session (so Ctrl-C on the caller leaves teardown orderly),
# its log in $CLUSTER_DIR/logs and its pid in $CLUSTER_DIR/pids.
start() {
  local name=$1; shift
  mkdir -p "$CLUSTER_DIR/logs" "$CLUSTER_DIR/pids"
  setsid "$@" >"$CLUSTER_DIR/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$CLUSTER_DIR/pids/$name.pid"
}
