#!/usr/bin/env bash
# Starts Prometheus beside the local node (idempotent; cluster-up.sh calls it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
prometheus_ready() { curl -fsS "$PROMETHEUS_URL/-/ready"; }
if prometheus_ready >/dev/null 2>&1; then ok "Prometheus running on $PROMETHEUS_URL"; exit 0; fi
command -v prometheus >/dev/null || die "prometheus not found" "run hack/install-deps.sh"

# Prometheus as kube-prometheus would scrape pods: Debian's build has no kubernetes_sd_configs, so a
# small loop turns pods annotated prometheus.io/scrape=true into file_sd targets with the labels
# kube-prometheus attaches (namespace, pod, container; honor_labels false → exported_* on clashes).
step "Prometheus on $PROMETHEUS_URL (pod annotations prometheus.io/scrape, /port)"
mkdir -p "$CLUSTER_DIR/prometheus/data" "$CLUSTER_DIR/prometheus/sd"
echo '[]' > "$CLUSTER_DIR/prometheus/sd/pods.json"
cat > "$CLUSTER_DIR/prometheus/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 5s}
scrape_configs:
  - job_name: kubernetes-pods
    honor_labels: false
    file_sd_configs: [{files: ["$CLUSTER_DIR/prometheus/sd/*.json"], refresh_interval: 2s}]
EOF
start prometheus-sd python3 "$here/prometheus-sd.py" "$KUBECTL" "$ADMIN_KUBECONFIG" "$CLUSTER_DIR/prometheus/sd/pods.json" 2
start prometheus prometheus --config.file "$CLUSTER_DIR/prometheus/prometheus.yml" --storage.tsdb.path "$CLUSTER_DIR/prometheus/data" \
  --storage.tsdb.retention.time 1d --web.listen-address "$BRIDGE_IP:$PROMETHEUS_PORT"
wait_for 30 Prometheus "$CLUSTER_DIR/logs/prometheus.log" prometheus_ready

