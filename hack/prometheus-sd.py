#!/usr/bin/env python3
"""Kubernetes pod discovery for Debian's Prometheus, which has no kubernetes_sd_configs.

Every few seconds: list pods through kubectl, keep those annotated `prometheus.io/scrape: "true"` that
run and have an IP, and write a file_sd target file with the labels kube-prometheus attaches to a pod
target (namespace, pod, container, job). Prometheus then relabels exporter-supplied `namespace`/`pod`
labels to `exported_namespace`/`exported_pod` (honor_labels: false), exactly as on a real cluster.

Standard library only: it runs beside the local node, outside the project's virtualenv.
usage: prometheus-sd.py KUBECTL KUBECONFIG OUT_FILE [INTERVAL_SECONDS]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any


def targets(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for pod in pods:
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
        annotations = meta.get("annotations") or {}
        if annotations.get("prometheus.io/scrape") != "true" or status.get("phase") != "Running":
            continue
        if not status.get("podIP") or meta.get("deletionTimestamp"):
            continue
        out.append(
            {
                "targets": [f"{status['podIP']}:{annotations.get('prometheus.io/port', '80')}"],
                "labels": {
                    "namespace": meta["namespace"],
                    "pod": meta["name"],
                    "container": spec["containers"][0]["name"],
                    "job": annotations.get("prometheus.io/job", "kubernetes-pods"),
                    "__metrics_path__": annotations.get("prometheus.io/path", "/metrics"),
                },
            }
        )
    return out


def main() -> None:
    kubectl, kubeconfig, out_file = sys.argv[1:4]
    interval = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
    while True:
        proc = subprocess.run(
            [kubectl, "--kubeconfig", kubeconfig, "get", "pods", "--all-namespaces", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if proc.returncode == 0:
            tmp = out_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(targets(json.loads(proc.stdout)["items"]), f, indent=1)
            os.replace(tmp, out_file)  # Prometheus never reads a half-written file
        time.sleep(interval)


if __name__ == "__main__":
    main()
