"""Progress and results into a Kubernetes ConfigMap, from inside a load-generator pod.

The operator pre-creates one ConfigMap per shard and gives the pod's ServiceAccount a Role that may only
patch that ConfigMap. This reporter speaks to the API server with the pod's own token over the standard
library's HTTP client: no Kubernetes client library in the load generator. Progress writes happen on a
background thread, so the event loop that times requests never waits on the API server.

ConfigMap keys written:
  progress  JSON {"state", "completed", "total", "levelIndex", "levelsDone", "updated"}, and while a level
            runs "levelStart" (unix s), "levelRequests" (requests finished per level so far) and "window"
            (the live window of the level, loadgen.live; at most about 20 KiB, typically 1-2 KiB)
  result    the shard's RunResult in loadgen's compact form (see loadgen.compact), at the end
  error     a one-line reason when the run failed before producing a result
  barrierReady, barrierStart.<k>   the start barrier of runs with several shards (loadgen/barrier.py)
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen.compact import encode_compact
from loadgen.live import Window
from loadgen.result import LevelResult, RunResult

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class ApiEndpoint:
    base_url: str
    token: str
    namespace: str
    ssl_context: ssl.SSLContext

    @classmethod
    def in_cluster(cls, sa_dir: Path = SA_DIR) -> ApiEndpoint:
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host or not (sa_dir / "token").exists():
            raise RuntimeError(
                "--report-configmap needs to run inside a Kubernetes pod with a ServiceAccount token "
                f"(KUBERNETES_SERVICE_HOST and {sa_dir}/token); drop the flag when running elsewhere"
            )
        host = f"[{host}]" if ":" in host else host
        return cls(
            base_url=f"https://{host}:{port}",
            token=(sa_dir / "token").read_text().strip(),
            namespace=(sa_dir / "namespace").read_text().strip(),
            ssl_context=ssl.create_default_context(cafile=str(sa_dir / "ca.crt")),
        )


class ConfigMapWriter:
    """Merge-patches keys of one ConfigMap, retrying transient failures."""

    def __init__(self, endpoint: ApiEndpoint, name: str, attempts: int = 5) -> None:
        self.endpoint = endpoint
        self.url = f"{endpoint.base_url}/api/v1/namespaces/{endpoint.namespace}/configmaps/{name}"
        self.attempts = attempts

    def read(self) -> dict[str, str]:
        """The ConfigMap's data as it is now."""
        request = urllib.request.Request(self.url, headers={"Authorization": f"Bearer {self.endpoint.token}"})
        try:
            with urllib.request.urlopen(request, context=self.endpoint.ssl_context, timeout=15) as resp:
                data: dict[str, str] = json.loads(resp.read(2_000_000)).get("data") or {}
                return data
        except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as exc:
            raise RuntimeError(f"reading ConfigMap {self.url}: {exc}") from exc

    def patch(self, data: dict[str, str]) -> None:
        body = json.dumps({"data": data}).encode()
        delay = 0.5
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(
                self.url,
                data=body,
                method="PATCH",
                headers={
                    "Authorization": f"Bearer {self.endpoint.token}",
                    "Content-Type": "application/merge-patch+json",
                },
            )
            try:
                with urllib.request.urlopen(request, context=self.endpoint.ssl_context, timeout=15):
                    return
            except urllib.error.HTTPError as exc:
                # 4xx other than throttling will not get better by retrying.
                if (exc.code < 500 and exc.code != 429) or attempt == self.attempts:
                    detail = exc.read().decode(errors="replace")[:300]
                    raise RuntimeError(f"patching ConfigMap {self.url}: HTTP {exc.code} {detail}") from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.attempts:
                    raise RuntimeError(f"patching ConfigMap {self.url}: {exc}") from exc
            time.sleep(delay)
            delay *= 2


class ShardRestartedError(RuntimeError):
    """This shard's ConfigMap already holds another pod's report: the shard ran before."""


def claim(writer: ConfigMapWriter) -> None:
    """Refuse to run a shard twice. A Job replaces a deleted or evicted pod with a new one; the new pod
    would send the shard's requests again and the merge would count them twice, so it stops here and
    says why (the operator fails the shard with this message)."""
    earlier = {key for key in ("progress", "result", "error") if writer.read().get(key)}
    if earlier:
        raise ShardRestartedError(
            "shard restarted: an earlier pod of this shard already reported "
            f"({', '.join(sorted(earlier))}), so its requests were sent once already; run again with a new "
            "spec.runId"
        )


class ConfigMapReporter:
    """A loadgen ProgressReporter that mirrors progress and the final result into a ConfigMap."""

    def __init__(self, writer: ConfigMapWriter, interval_seconds: float = 2.0) -> None:
        self.writer = writer
        self.interval = interval_seconds
        self._state: dict[str, Any] = {"state": "starting", "completed": 0, "total": None, "levelIndex": 0}
        self._levels_done = 0
        self._completed_before_level = 0
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_loop, name="configmap-progress", daemon=True)
        self._thread.start()

    # -- ProgressReporter ---------------------------------------------------------------------------
    def on_level_start(self, level_index: int, offered_load: int, total: int | None) -> None:
        with self._lock:
            self._state.pop("window", None)  # the last level's figures are not this one's
        self._update(
            state="running",
            levelIndex=level_index,
            offeredLoad=offered_load,
            levelStart=round(time.time(), 3),
        )

    def on_window(self, window: Window) -> None:
        self._update(window=window.to_json())

    def on_progress(self, completed: int, total: int | None, level_index: int) -> None:
        with self._lock:
            counts: list[int] = self._state.setdefault("levelRequests", [])
            counts.extend([0] * (level_index + 1 - len(counts)))
            counts[level_index] = completed
        self._update(
            state="running",
            completed=self._completed_before_level + completed,
            levelCompleted=completed,
            levelTotal=total,
            levelIndex=level_index,
        )

    def on_level_end(self, level: LevelResult) -> None:
        with self._lock:
            self._levels_done += 1
            self._completed_before_level += level.requests
        self._update(levelsDone=self._levels_done, completed=self._completed_before_level)

    def on_finished(self, result: RunResult) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            self._state.pop("window", None)
            self._state.update(state="finished", levelsDone=len(result.levels), updated=time.time())
            progress = json.dumps(self._state)
        # The result must land: the operator reads nothing else. Errors propagate to a non-zero exit.
        self.writer.patch({"result": encode_compact(result), "progress": progress})

    def report_error(self, message: str) -> None:
        self._stop.set()
        with self._lock:
            self._state.update(state="failed", updated=time.time())
            progress = json.dumps(self._state)
        self.writer.patch({"error": message[:2000], "progress": progress})

    # -- internals ----------------------------------------------------------------------------------
    def _update(self, **fields: Any) -> None:
        with self._lock:
            self._state.update(fields)
        self._dirty.set()

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            if self._dirty.wait(timeout=self.interval) and not self._stop.is_set():
                self._dirty.clear()
                with self._lock:
                    self._state["updated"] = time.time()
                    progress = json.dumps(self._state)
                try:
                    self.writer.patch({"progress": progress})
                except RuntimeError as exc:
                    # Progress is best effort; the final result write is not.
                    print(json.dumps({"event": "progress_write_failed", "error": str(exc)}), flush=True)
                self._stop.wait(self.interval)
