"""One real vLLM (CPU build, the tiny local model) on 127.0.0.1 for all the tests of this package.

`hack/setup-vllm.sh` (run by the fixture: about 1 s when cached, about 4 minutes on a clean machine)
installs it; the server takes about a minute to answer /health. Its log is printed when it fails to start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from loadgen.config import RunConfig, build_config
from tests.realvllm import MODEL_NAME, Install, VllmServer, install

__all__ = ["MODEL_NAME"]

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/vllm/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def vllm_install() -> Install:
    return install()


# Package scope: one server for every test here, stopped before the rest of the run (the e2e tests
# start their own vLLM pod; two at once would take 6 GB and both cores).
@pytest.fixture(scope="package")
def vllm(vllm_install: Install, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    server = VllmServer(vllm_install, tmp_path_factory.mktemp("vllm") / "vllm.log")
    server.start()
    print(f"\nvLLM answered /health {server.startup_seconds:.1f} s after its start ({server.url})")
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Scrape:
    """One /metrics page: every sample by name and label text."""

    samples: dict[tuple[str, str], float]
    text: str

    def value(self, name: str, labels: str = "") -> float:
        """The sum over the series of `name` whose label text contains `labels`."""
        return sum(v for (n, lab), v in self.samples.items() if n == name and labels in lab)


def scrape(url: str) -> Scrape:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    samples: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            samples[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return Scrape(samples, text)


def delta(before: Scrape, after: Scrape, name: str, labels: str = "") -> float:
    return after.value(name, labels) - before.value(name, labels)


def config(url: str, **fields: Any) -> RunConfig:
    """A small loadgen run against the real server: 2 users, 8 requests, 40-token prompts, 12-token answers."""
    data: dict[str, Any] = {
        "target_url": url,
        "levels": [2],
        "requests_per_level": 8,
        "warmup_requests": 0,
        "request_timeout_seconds": 60,
        "slo": {"ttft_ms": 10_000, "tpot_ms": 1_000},
        "workload": {"input_tokens": {"mean": 40}, "output_tokens": 12},
    }
    data.update(fields)
    return build_config(data)
