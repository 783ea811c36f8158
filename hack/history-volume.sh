#!/usr/bin/env bash
# A hostPath PersistentVolume for the chart's history claim on the local node, which has no dynamic
# provisioner: without it the chart's default PersistentVolumeClaim stays Pending (and `helm install
# --wait` times out). The volume is pre-bound (claimRef) to exactly that claim, so nothing else takes it.
#
#   hack/history-volume.sh NAMESPACE [CLAIM] [DIR]
#     CLAIM  the chart's claim, <release fullname>-data   (default llmload-data)
#     DIR    the directory on this machine holding the SQLite file (default $CLUSTER_DIR/history/NAMESPACE)
#
# hostPath volumes get no fsGroup: DIR is made the operator image's user's (10001). Idempotent: a volume
# whose claim was deleted (Released) is made available to the claim of the same name again, and the
# history in DIR is kept. Delete the volume with `kubectl delete pv llmload-history-NAMESPACE`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

ns=${1:?usage: hack/history-volume.sh NAMESPACE [CLAIM] [DIR]}
claim=${2:-llmload-data}
dir=${3:-$CLUSTER_DIR/history/$ns}
pv=llmload-history-$ns
OPERATOR_UID=10001

mkdir -p "$dir"
chown "$OPERATOR_UID:$OPERATOR_UID" "$dir"
chmod 0750 "$dir"

if [ "$(kc get pv "$pv" -o jsonpath='{.status.phase}' 2>/dev/null)" = Released ]; then
  # Pre-bound to a claim that is gone: forget that claim's uid so the next claim of this name binds.
  kc patch pv "$pv" --type=json \
    -p '[{"op":"remove","path":"/spec/claimRef/uid"},{"op":"remove","path":"/spec/claimRef/resourceVersion"}]' >/dev/null
fi
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $pv
  labels: {app.kubernetes.io/name: llmload, app.kubernetes.io/component: history}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {namespace: $ns, name: $claim}
  hostPath: {path: $dir, type: Directory}
EOF
ok "history volume $pv: $dir, for claim $ns/$claim"
