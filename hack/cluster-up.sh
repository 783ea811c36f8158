#!/usr/bin/env bash
# Brings up a real single-node Kubernetes 1.20.2 on this machine: etcd,
# kube-apiserver, controller-manager, scheduler, containerd, kubelet and
# kube-proxy, with a bridge pod network that exists only on this machine.
#
#   hack/cluster-up.sh            start (a running cluster is left as it is)
#   hack/cluster-up.sh --status   exit 0 when the cluster answers, 1 otherwise
#
# Writes the admin kubeconfig to $CLUSTER_DIR/kubeconfig. Needs root.
# hack/cluster-down.sh removes every process, mount, netns, bridge and rule.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

is_up() { [ -f "$ADMIN_KUBECONFIG" ] && kc get --raw /readyz >/dev/null 2>&1 && kc get node "$NODE_NAME" >/dev/null 2>&1; }
if [ "${1:-}" = "--status" ]; then is_up; exit $?; fi
if is_up; then "$here/prometheus-up.sh"; ok "cluster already running (KUBECONFIG=$ADMIN_KUBECONFIG)"; exit 0; fi

[ "$(id -u)" = 0 ] || die "the local node needs root (network bridge, iptables, containerd)" "run as root, or use USE_EXISTING_CLUSTER=true with KUBECONFIG"
for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
  [ -x "$K8S_BIN/$c" ] || die "$K8S_BIN/$c missing" "run hack/build-kubernetes.sh (or copy Kubernetes $K8S_VERSION binaries there)"
done
for c in etcd containerd ctr runc iptables iptables-save ip openssl; do
  command -v "$c" >/dev/null || die "$c not found" "run hack/install-deps.sh"
done
[ -f "$LLMLOAD_CACHE/images/pause.tar" ] || die "pause image archive missing" "run hack/build-images.sh"

# Leftovers of a crashed run would collide with this one.
"$here/cluster-down.sh" --quiet

D=$CLUSTER_DIR
PKI=$D/pki
LOGS=$D/logs
mkdir -p "$PKI" "$LOGS" "$D/pids" "$D/etcd" "$D/containerd" "$D/kubelet" "$D/cni/net.d" "$D/cni/ipam"
chmod 700 "$D/etcd"


# ---- certificates and credentials ------------------------------------------------
step "certificates and tokens"
(
  cd "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 365 -subj "/CN=llmload-local-ca" 2>/dev/null
  cat > apiserver.ext <<EXT
subjectAltName=IP:$BRIDGE_IP,IP:198.19.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost
extendedKeyUsage=serverAuth
EXT
  openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > client.ext
  openssl req -newkey rsa:2048 -nodes -keyout kubelet-client.key -out kubelet-client.csr -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null
  openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -extfile client.ext -out kubelet-client.crt 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  chmod 600 ./*.key
)
token() { openssl rand -hex 16; }
admin_token=$(token); node_token=$(token); proxy_token=$(token); cm_token=$(token); sched_token=$(token)
cat > "$PKI/tokens.csv" <<EOF
$admin_token,admin,admin,"system:masters"
$node_token,system:node:$NODE_NAME,node,"system:nodes"
$proxy_token,system:kube-proxy,kube-proxy,
$cm_token,system:kube-controller-manager,kube-controller-manager,
$sched_token,system:kube-scheduler,kube-scheduler,
EOF
chmod 600 "$PKI/tokens.csv"
kubeconfig() { # kubeconfig FILE USER TOKEN
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: llmload-local
  cluster:
    server: https://$BRIDGE_IP:$API_PORT
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $2
  user:
    token: $3
contexts:
- name: llmload-local
  context: {cluster: llmload-local, user: $2}
current-context: llmload-local
EOF
  chmod 600 "$1"
}
kubeconfig "$ADMIN_KUBECONFIG" admin "$admin_token"
kubeconfig "$D/kubelet.kubeconfig" "system:node:$NODE_NAME" "$node_token"
kubeconfig "$D/kube-proxy.kubeconfig" system:kube-proxy "$proxy_token"
kubeconfig "$D/controller-manager.kubeconfig" system:kube-controller-manager "$cm_token"
kubeconfig "$D/scheduler.kubeconfig" system:kube-scheduler "$sched_token"

# ---- the pod network: a bridge that routes nowhere else ----------------------------
step "bridge $BRIDGE ($POD_CIDR, services $SERVICE_CIDR) and the no-egress guard"
ip link add "$BRIDGE" type bridge
ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
cat /proc/sys/net/ipv4/ip_forward > "$D/ip_forward.saved"
echo 1 > /proc/sys/net/ipv4/ip_forward
[ -w /proc/sys/net/bridge/bridge-nf-call-iptables ] && echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables
# Whatever is forwarded may only go back onto the bridge: nothing leaves the machine.
iptables -I FORWARD ! -o "$BRIDGE" -m comment --comment "$GUARD_COMMENT" -j DROP
# Pods resolve nothing: there is no cluster DNS and no route to any other.
printf 'options ndots:1\n' > "$D/resolv.conf"
cat > "$D/cni/net.d/10-llmload.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "llmload",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$D/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "rangeStart": "198.18.0.10", "gateway": "$BRIDGE_IP"}]],
        "routes": [{"dst": "198.18.0.0/15"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF

# ---- control plane --------------------------------------------------------------
step "etcd"
start etcd etcd --name llmload --data-dir "$D/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "llmload=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
  --quota-backend-bytes 1073741824
etcd_healthy() { curl -fsS "http://127.0.0.1:$ETCD_PORT/health"; }
wait_for 30 etcd "$LOGS/etcd.log" etcd_healthy

step "kube-apiserver"
start kube-apiserver "$K8S_BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address "$BRIDGE_IP" --advertise-address "$BRIDGE_IP" --secure-port "$API_PORT" --insecure-port 0 \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" --client-ca-file "$PKI/ca.crt" \
  --token-auth-file "$PKI/tokens.csv" --authorization-mode Node,RBAC \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --kubelet-client-certificate "$PKI/kubelet-client.crt" --kubelet-client-key "$PKI/kubelet-client.key" \
  --kubelet-preferred-address-types InternalIP \
  --enable-admission-plugins NodeRestriction --allow-privileged=true --profiling=false
wait_for 60 kube-apiserver "$LOGS/kube-apiserver.log" kc get --raw /readyz

step "controller-manager and scheduler"
start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig "$D/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$D/controller-manager.kubeconfig" --authorization-kubeconfig "$D/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --port 0 --leader-elect=false --use-service-account-credentials=true \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --controllers '*,-csrsigning,-csrapproving,-csrcleaner,-cloud-node-lifecycle' --profiling=false
start kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig "$D/scheduler.kubeconfig" \
  --authentication-kubeconfig "$D/scheduler.kubeconfig" --authorization-kubeconfig "$D/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --port 0 --leader-elect=false --profiling=false

# ---- the node -------------------------------------------------------------------
step "containerd"
cat > "$D/containerd/config.toml" <<EOF
version = 2
root = "$D/containerd/root"
state = "$D/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
        Root = "$D/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$D/cni/net.d"
EOF
start containerd containerd --config "$D/containerd/config.toml"
wait_for 30 containerd "$LOGS/containerd.log" ctr_k8s version

import_images

step "kubelet and kube-proxy"
cat > "$D/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $BRIDGE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failSwapOn: false
resolvConf: $D/resolv.conf
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
# Imported images cannot be pulled back: never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
start kubelet "$K8S_BIN/kubelet" --config "$D/kubelet/config.yaml" --kubeconfig "$D/kubelet.kubeconfig" \
  --container-runtime remote --container-runtime-endpoint "unix://$CONTAINERD_SOCK" \
  --root-dir "$D/kubelet/root" --cert-dir "$D/kubelet/pki" \
  --node-ip "$BRIDGE_IP" --hostname-override "$NODE_NAME" --pod-infra-container-image "$PAUSE_IMAGE" \
  --node-labels "topology.kubernetes.io/zone=local-a,topology.kubernetes.io/region=local"
start kube-proxy "$K8S_BIN/kube-proxy" --kubeconfig "$D/kube-proxy.kubeconfig" --proxy-mode iptables \
  --hostname-override "$NODE_NAME" --bind-address "$BRIDGE_IP" --cluster-cidr "$POD_CIDR" \
  --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
  --metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256

node_ready() { [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
wait_for 90 "node $NODE_NAME Ready" "$LOGS/kubelet.log" node_ready
default_sa() { kc get serviceaccount default -n default; }
wait_for 30 "the default ServiceAccount" "$LOGS/kube-controller-manager.log" default_sa

# GPUs cannot exist here: the node advertises nvidia.com/gpu as an extended
# resource (the scheduler accounts for it) and carries the labels NVIDIA's GPU
# feature discovery would put on an A100 node.
step "advertising the stand-in GPUs (nvidia.com/gpu: ${LLMLOAD_FAKE_GPUS:-4})"
curl -fsS --cacert "$PKI/ca.crt" -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json-patch+json' \
  -X PATCH "https://$BRIDGE_IP:$API_PORT/api/v1/nodes/$NODE_NAME/status" \
  -d "[{\"op\":\"add\",\"path\":\"/status/capacity/nvidia.com~1gpu\",\"value\":\"${LLMLOAD_FAKE_GPUS:-4}\"}]" >/dev/null \
  || die "advertising nvidia.com/gpu on the node failed" "see $LOGS/kube-apiserver.log"
kc label node "$NODE_NAME" --overwrite nvidia.com/gpu.present=true nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB \
  nvidia.com/gpu.count="${LLMLOAD_FAKE_GPUS:-4}" nvidia.com/gpu.memory=81920 >/dev/null
gpus() { [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.allocatable.nvidia\.com/gpu}')" = "${LLMLOAD_FAKE_GPUS:-4}" ]; }
wait_for 30 "nvidia.com/gpu allocatable" "$LOGS/kubelet.log" gpus

"$here/prometheus-up.sh"

ok "cluster up: export KUBECONFIG=$ADMIN_KUBECONFIG"
