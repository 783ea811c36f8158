"""The web dashboard as the chart installs it, with a real ServiceAccount token and RBAC: the pages and
the charting library come from the image; the live stream follows a running LoadTest, read from the real
API server with the viewer's own token (a user without `get loadtests` gets the API server's 403);
Debian's Chromium draws the stored run; `kubectl llmload dashboard` opens it through its own
port-forward."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx

from tests.browser.conftest import chromium
from tests.e2e.harness import Cluster, wait_until
from tests.e2e.test_helm import CHART, helm, history_volume
from tests.e2e.test_loadtest import condition, loadtest, wait_finished
from tests.e2e.test_results import LLMLOAD, mock, user

SCREENSHOTS = Path(__file__).parents[2] / "build" / "screenshots"
LEVELS = [1, 2, 4]


def follow(url: str, token: str, namespace: str, name: str) -> list[tuple[str, dict[str, Any]]]:
    """Every event of the live stream until it ends (bounded: 180 s in all, 30 s between chunks)."""
    events: list[tuple[str, dict[str, Any]]] = []
    path = f"{url}/api/v1/namespaces/{namespace}/loadtests/{name}/live"
    timeout = httpx.Timeout(30.0, connect=10.0)
    with httpx.stream("GET", path, headers={"Authorization": f"Bearer {token}"}, timeout=timeout) as stream:
        assert stream.status_code == 200, stream.read().decode()
        kind = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
                if kind in ("end", "error"):
                    break
    return events


def test_dashboard_in_the_chart(cluster: Cluster, namespace: str) -> None:
    repo, _, tag = cluster.image.rpartition(":")
    directory = history_volume(namespace)
    local = ["--set", "persistence.storageClass=-"] if directory is not None else []
    cluster.kubectl(
        "label", "namespace", namespace, f"kubernetes.io/metadata.name={namespace}", "--overwrite"
    )
    mock(cluster, namespace, "mock-vllm", 40.0)
    helm(
        cluster, "install", "llmload", str(CHART), "--namespace", namespace,
        "--set", f"image.repository={repo}", "--set", f"image.tag={tag}",
        "--set", f"watchNamespaces={{{namespace}}}", "--set", "operator.reconcileIntervalSeconds=1",
        *local, "--wait", "--timeout", "180s",
    )  # fmt: skip
    try:
        viewer = user(cluster, namespace, "viewer", ["get", "list"])
        outsider = user(cluster, namespace, "outsider", ["list"])
        ip = cluster.get_json("service", "llmload-results", "-n", namespace)["spec"]["clusterIP"]
        url = f"http://{ip}:8080"
        wait_until(lambda: httpx.get(f"{url}/healthz", timeout=5).status_code == 200, 60, "results /healthz")

        # The pages and the library are in the image, with the pages' policy.
        index = httpx.get(f"{url}/dashboard/", timeout=10)
        assert index.status_code == 200
        assert "script-src 'self'" in index.headers["content-security-policy"]
        library = httpx.get(f"{url}/dashboard/vendor/uplot/uPlot.iife.min.js", timeout=10)
        assert library.status_code == 200
        assert len(library.content) > 40_000

        spec = loadtest("live", load={"levels": LEVELS, "requestsPerLevel": 40})
        spec["spec"]["loadGenerator"]["parallelism"] = 1
        cluster.apply(spec, namespace)
        wait_until(lambda: cluster.kubectl("get", "lt", "live", "-n", namespace, check=False).returncode == 0,
                   30, "the LoadTest")  # fmt: skip
        # The API server decides the live read: list without get is not enough.
        refused = httpx.get(
            f"{url}/api/v1/namespaces/{namespace}/loadtests/live/live",
            headers={"Authorization": f"Bearer {outsider}"},
            timeout=30,
        )
        assert refused.status_code == 403, refused.text
        assert f"outsider may not get loadtests.llmload.io 'live' in namespace '{namespace}'" in refused.text

        events = follow(url, viewer, namespace, "live")
        statuses = [data for kind, data in events if kind == "status"]
        assert events[-1] == ("end", {"reason": "Finished"}), events[-1]
        assert statuses[-1]["phase"] == "Succeeded"
        assert [lv["level"] for lv in statuses[-1]["levels"]] == LEVELS
        # It was followed while it ran: its progress moved over several events (the operator writes
        # status.levels when it merges the shards' results; status.progress while they run).
        counts = [len(s["levels"]) for s in statuses]
        progress = [json.dumps(s["progress"], sort_keys=True) for s in statuses if s["progress"]]
        assert len(set(progress)) >= 2, progress
        print(
            f"\nlive stream: {len(statuses)} status events, levels per event {counts}, {len(set(progress))} progress states"
        )

        lt = wait_finished(cluster, namespace, "live")
        stored = condition(lt, "Stored")
        assert stored is not None
        assert stored["status"] == "True", stored

        ref = f"{namespace}/live:0"
        with chromium(Path(tempfile.mkdtemp(prefix="llmload-chromium-"))) as context:
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{url}/dashboard/run.html?ref={ref}#token={viewer}")
            page.wait_for_selector("body[data-state=ok]", timeout=30_000)
            charts = page.evaluate("window.llmloadCharts")
            ttft = next(s for s in charts["latency-throughput"]["series"] if s["label"] == "TTFT p90")
            assert len(ttft["points"]) == len(LEVELS)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "e2e-run.png"), full_page=True)
            page.goto(f"{url}/dashboard/index.html")
            page.wait_for_selector("body[data-state=ok]")
            assert ref in page.locator("#runs").inner_text()
            assert errors == []

        # `kubectl llmload dashboard` through its own port-forward, holding it until stopped.
        env = {
            **os.environ,
            "PATH": f"{Path(LLMLOAD).parent}:{Path(cluster.kubectl_bin).parent}:{os.environ['PATH']}",
            "KUBECONFIG": cluster.kubeconfig,
        }
        proc = subprocess.Popen(
            [LLMLOAD, "dashboard", ref, "--results-namespace", namespace, "--token", viewer, "--no-browser"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline(), proc.stdout.readline()]
            opened = lines[-1].strip()
            assert opened.startswith("http://127.0.0.1:"), lines
            assert opened.endswith(f"/dashboard/run.html?ref={ref}#token={viewer}")
            page_html = httpx.get(opened.partition("#")[0], timeout=10)
            assert page_html.status_code == 200
            assert "js/run.js" in page_html.text
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        logs = cluster.kubectl(
            "logs", "-n", namespace, "-l", "app.kubernetes.io/component=results", "--tail=20", check=False
        )
        print(f"\n==== results service log ====\n{logs.stdout}{logs.stderr}")
        helm(cluster, "uninstall", "llmload", "--namespace", namespace, "--wait")
        if directory is not None:
            cluster.kubectl("delete", "pv", f"llmload-history-{namespace}", "--wait=false", check=False)
            shutil.rmtree(directory, ignore_errors=True)
