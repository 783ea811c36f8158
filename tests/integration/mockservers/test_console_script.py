"""`llmload-mock`, the console script the mock image runs: each server listens on loopback, says so in
the JSON line the tests and the demo wait for, and serves."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

LLMLOAD_MOCK = Path(sys.executable).with_name("llmload-mock")


@pytest.mark.parametrize(
    ("server", "event", "path", "expected"),
    [
        ("openai", "mock_server_listening", "/v1/models", '"id":"mock-model"'),
        ("dcgm", "mock_dcgm_listening", "/metrics", 'DCGM_FI_DEV_GPU_UTIL{gpu="0"'),
    ],
)
def test_each_server_announces_its_port_and_serves(server: str, event: str, path: str, expected: str) -> None:
    proc = subprocess.Popen([str(LLMLOAD_MOCK), server, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert (line["event"], line["host"]) == (event, "127.0.0.1")
        with urllib.request.urlopen(f"http://127.0.0.1:{line['port']}{path}", timeout=10) as response:
            body = response.read().decode()
        assert expected in body.replace(" ", "")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
