"""The real vLLM (CPU build, the tiny local model) for all the tests of this package: the run's one
server (`real_vllm`, tests/shared_vllm.py), a process on 127.0.0.1, or the e2e tests' pod when the run
includes them. Its log is printed when it fails to start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from loadgen.config import RunConfig, build_config
from tests.realvllm import MODEL_NAME

__all__ = ["MODEL_NAME"]

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/vllm/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


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
