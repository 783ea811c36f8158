#!/usr/bin/env bash
# Tears the local node down and leaves nothing behind: no process, mount,
# network namespace, bridge, iptables rule or cgroup of the cluster.
# Safe to run at any time, also when nothing (or half of it) is running.
#   hack/cluster-down.sh [--quiet]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
quiet=${1:-}
say() { [ "$quiet" = --quiet ] || step "$@"; }

D=$CLUSTER_DIR
pidof_component() { cat "$D/pids/$1.pid" 2>/dev/null; }
alive() { local p; p=$(pidof_component "$1") && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
stop_component() { # stop_component NAME: TERM, then KILL after 10 s
  local p i; p=$(pidof_component "$1") || return 0
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || { rm -f "$D/pids/$1.pid"; return 0; }
  for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null
  rm -f "$D/pids/$1.pid"
}

# 1. Pods go while the kubelet still runs, so it tears their sandboxes down
#    (CNI DEL, netns, mounts) itself. Controllers stop first so nothing is recreated.
if alive kubelet && alive kube-apiserver && [ -f "$ADMIN_KUBECONFIG" ]; then
  say "deleting pods while the kubelet runs"
  stop_component kube-controller-manager
  stop_component kube-scheduler
  kc delete pods --all --all-namespaces --grace-period=1 --wait=true --timeout=60s >/dev/null 2>&1
  for _ in $(seq 1 60); do
    # stopped tasks stay listed until the kubelet's GC; only running ones matter here
    ctr_k8s tasks ls 2>/dev/null | awk '$3 == "RUNNING"' | grep -q . || break
    sleep 0.5
  done
fi

# 2. The node and the control plane.
say "stopping kubelet, kube-proxy, control plane"
for c in prometheus prometheus-sd kubelet kube-proxy kube-controller-manager kube-scheduler; do stop_component "$c"; done

# 3. Containers the kubelet did not get to, then containerd and its shims.
if alive containerd; then
  for t in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  sleep 0.5
  for t in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks delete -f "$t" >/dev/null 2>&1; done
fi
stop_component containerd
pkill -KILL -f "containerd-shim.*-address $CONTAINERD_SOCK" 2>/dev/null
stop_component kube-apiserver
stop_component etcd
# Anything of ours that escaped its pid file (a crashed start, say).
pkill -KILL -f "$D/" 2>/dev/null
pkill -KILL -f "$K8S_BIN/" 2>/dev/null
sleep 0.2

# 4. Mounts (deepest first) and network namespaces.
say "unmounting and removing network namespaces"
mount | awk -v d="$D/" '$3 ~ "^"d {print $3}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
for ns in /var/run/netns/cni-*; do
  [ -e "$ns" ] || continue
  umount -l "$ns" 2>/dev/null
  ip netns delete "$(basename "$ns")" 2>/dev/null || rm -f "$ns"
done

# 5. The bridge, the guard rule, every KUBE-* and CNI-* chain, the sysctl.
say "removing the bridge and iptables rules"
ip link delete "$BRIDGE" 2>/dev/null
while iptables -D FORWARD ! -o "$BRIDGE" -m comment --comment "$GUARD_COMMENT" -j DROP 2>/dev/null; do :; done
for table in filter nat mangle; do
  if iptables-save -t "$table" 2>/dev/null | grep -qE 'KUBE-|CNI-'; then
    iptables-save -t "$table" | grep -vE 'KUBE-|CNI-' | iptables-restore -T "$table" 2>/dev/null \
      || iptables-save -t "$table" | grep -vE 'KUBE-|CNI-' | iptables-restore
  fi
done
if [ -f "$D/ip_forward.saved" ]; then cat "$D/ip_forward.saved" > /proc/sys/net/ipv4/ip_forward; rm -f "$D/ip_forward.saved"; fi

# 6. The kubelet's cgroups and what is left on disk (logs stay for post-mortems).
for h in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice; do
  [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null
done
if [ -d "$D" ]; then
  find "$D" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} + 2>/dev/null
fi
say "cluster down"
exit 0
