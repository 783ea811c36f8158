#!/usr/bin/env bash
# The README's main command: a local single-node Kubernetes, the operator installed with Helm, a mock
# vLLM Deployment (stand-in GPUs), examples/loadtest.yaml applied twice (demo, demo-again), the per-level
# results printed, and their history, comparison and CSV export read back from the results service.
# The cluster stays up afterwards for you to explore: `make cluster-down` removes it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export _t0=$(date +%s)
. "$here/lib.sh"
cd "$root"

NS=${DEMO_NAMESPACE:-llmload-demo}
# --real-vllm (`make demo VLLM=real`): a real vLLM (CPU build, a tiny local model: docs/real-vllm.md)
# instead of the mock; the first run adds 1.5-4 minutes (hack/setup-vllm.sh), every run 30-60 s for vLLM
# to start. Works as well on a node that is already up (it is left as it is).
REAL_VLLM=false
case "${1:-}" in --real-vllm) REAL_VLLM=true ;; "") ;; *) die "unknown option $1" "use --real-vllm or nothing" ;; esac
SERVER=mock-vllm; $REAL_VLLM && SERVER=vllm
echo "First run: about 15 minutes (Debian packages, Kubernetes built from source, base image)."
echo "Later runs reuse $LLMLOAD_CACHE and take about 4 minutes."
step "1/6 Debian packages";               "$here/install-deps.sh"
step "2/6 Python environment";            "$here/setup-venv.sh"
if $REAL_VLLM; then "$here/setup-vllm.sh" >/dev/null; fi
step "3/6 Kubernetes $K8S_VERSION and helm"; "$here/build-kubernetes.sh"; "$here/get-helm.sh"
step "4/6 images";                        "$here/build-images.sh" all
step "5/6 local node";                    "$here/cluster-up.sh"
if "$here/cluster-up.sh" --status; then import_images; fi

step "6/6 operator (helm install), $SERVER and the demo LoadTests in namespace $NS"
kc create namespace "$NS" --dry-run=client -o yaml | kc apply -f - >/dev/null
# The chart keeps the run history on a PersistentVolumeClaim; the local node has no provisioner, so a
# hostPath volume outside $CLUSTER_DIR takes the claim: history lasts across demo runs, operator restarts
# and even `make cluster-down` (rm -rf it to start afresh). storageClass "-": bind to that volume only.
HISTORY_DIR=${DEMO_HISTORY_DIR:-$LLMLOAD_CACHE/history/$NS}
"$here/history-volume.sh" "$NS" llmload-data "$HISTORY_DIR"
"$HELM_BIN" --kubeconfig "$ADMIN_KUBECONFIG" upgrade --install llmload helm/llmload \
  --namespace "$NS" --set "watchNamespaces={$NS}" --set "prometheus.url=$PROMETHEUS_URL" \
  --set persistence.storageClass=- --wait --timeout 180s >/dev/null
ok "operator: $(kc get deploy -n "$NS" llmload -o jsonpath='{.status.readyReplicas}')/1 ready"
if $REAL_VLLM; then
  # The project image's Python on the node's cached vLLM and model, mounted read-only (tests/realvllm.py).
  vllm_t0=$(date +%s)
  .venv/bin/python -m tests.realvllm manifest --name vllm --image "$PROJECT_IMAGE" --gpus 1 | kc apply -n "$NS" -f - >/dev/null
  kc rollout status -n "$NS" deployment/vllm --timeout=420s >/dev/null \
    || die "the vLLM pod did not become ready" "kubectl logs -n $NS deployment/vllm"
  ok "real vLLM (CPU build, model llmload-tiny-llama) ready behind Service vllm, $(( $(date +%s) - vllm_t0 )) s after it was applied"
else
  kc apply -n "$NS" -f examples/mock-vllm.yaml >/dev/null
  kc rollout status -n "$NS" deployment/mock-vllm --timeout=120s >/dev/null
  ok "mock vLLM ready behind Service mock-vllm"
fi
pod=$(kc get pods -n "$NS" -l app.kubernetes.io/name=$SERVER -o jsonpath='{.items[0].metadata.name} {.items[0].status.podIP} {.items[0].spec.nodeName}')
read -r pod_name pod_ip node <<< "$pod"
kc delete pod dcgm-exporter -n "$NS" --ignore-not-found --wait=true >/dev/null
sed -e "s|@MOCK_IMAGE@|$MOCK_IMAGE|" -e "s|@NODE@|$node|" -e "s|@NAMESPACE@|$NS|" -e "s|@POD@|$pod_name|" \
  -e "s|@POD_IP@|$pod_ip|" "$here/dcgm-standin.yaml" | kc apply -n "$NS" -f - >/dev/null
kc wait --for=condition=Ready pod/dcgm-exporter -n "$NS" --timeout=60s >/dev/null
ok "DCGM stand-in exporting GPU 0 of $pod_name; Prometheus on $PROMETHEUS_URL scrapes both"
# A re-run of the demo starts fresh LoadTests (a finished one never re-runs on its own). Two identical
# runs, so the history has something to compare: their differences should be within noise.
kc delete loadtest demo demo-again -n "$NS" --ignore-not-found --wait=true >/dev/null

wait_loadtest() {  # NAME: one updating progress line until it ends, at most 10 minutes
  local name=$1 deadline=$(( $(date +%s) + 600 )) last="" line
  while :; do
    line=$(kc get loadtest "$name" -n "$NS" -o jsonpath='{.status.phase} {.status.progress.completedRequests}/{.status.progress.totalRequests} requests, level {.status.progress.currentLevel}' 2>/dev/null || true)
    if [ "$line" != "$last" ]; then
      # One updating line on a terminal, one line per change in a log.
      if [ -t 2 ]; then printf '\r    %s: %-70s' "$name" "$line" >&2; else printf '    %s: %s\n' "$name" "$line" >&2; fi
      last=$line
    fi
    case "$line" in Succeeded*|Failed*|Rejected*) break ;; esac
    [ "$(date +%s)" -lt "$deadline" ] || { echo >&2; die "the LoadTest $name did not finish in 10 minutes" "kubectl describe loadtest $name -n $NS"; }
    sleep 2
  done
  echo >&2
}

for name in demo demo-again; do
  sed -e "s/name: mock-vllm,/name: $SERVER,/" -e "s/^  name: demo$/  name: $name/" examples/loadtest.yaml \
    | kc apply -n "$NS" -f - >/dev/null
  ok "kubectl apply -f examples/loadtest.yaml as $name (target Service $SERVER)"
  wait_loadtest "$name"
done
echo
kc get loadtests -n "$NS"
echo
KUBECONFIG=$ADMIN_KUBECONFIG .venv/bin/llmload show demo -n "$NS"
echo

# The results service decides with the caller's Kubernetes rights, from a bearer token; the admin
# kubeconfig holds a client certificate, so the demo reads history as a ServiceAccount given the chart's
# view role in this namespace (how a team member would be given it).
kc create serviceaccount demo-viewer -n "$NS" --dry-run=client -o yaml | kc apply -f - >/dev/null
kc create rolebinding demo-viewer -n "$NS" --clusterrole=llmload-view --serviceaccount="$NS:demo-viewer" \
  --dry-run=client -o yaml | kc apply -f - >/dev/null
for _ in $(seq 30); do
  secret=$(kc get serviceaccount demo-viewer -n "$NS" -o jsonpath='{.secrets[0].name}' 2>/dev/null || true)
  [ -n "$secret" ] && break
  sleep 1
done
[ -n "$secret" ] || die "no token Secret for ServiceAccount demo-viewer" "kubectl describe serviceaccount demo-viewer -n $NS"
token=$(kc get secret "$secret" -n "$NS" -o jsonpath='{.data.token}' | base64 -d)
kc rollout status -n "$NS" deployment/llmload-results --timeout=120s >/dev/null \
  || die "the results service is not ready" "kubectl logs -n $NS deployment/llmload-results"
results() {  # the llmload CLI, through its own port-forward to the results service, as demo-viewer
  echo "\$ kubectl llmload $*"
  KUBECONFIG=$ADMIN_KUBECONFIG .venv/bin/llmload "$@" --results-namespace "$NS" --token "$token"
  echo
}
results history -n "$NS"
results compare demo demo-again -n "$NS"
results export demo -n "$NS" --format csv -o "$root/demo.csv"
ok "demo.csv: the demo run's levels, units in the column names"
ok "run history (SQLite, every demo run so far): $HISTORY_DIR/llmload.db"
ok "done. Explore: export KUBECONFIG=$ADMIN_KUBECONFIG; kubectl describe loadtest demo -n $NS"
echo "    History as demo-viewer: kubectl llmload history -n $NS --results-namespace $NS --token \$(kubectl get secret $secret -n $NS -o jsonpath='{.data.token}' | base64 -d)"
echo "    Dashboard as demo-viewer (opens your browser; Ctrl-C ends it): kubectl llmload dashboard --results-namespace $NS --token \$(kubectl get secret $secret -n $NS -o jsonpath='{.data.token}' | base64 -d)"
echo "    Remove the local node: make cluster-down"
