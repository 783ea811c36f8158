"""The Prometheus fixture itself: it must find the binary or fail loudly (never skip), listen on
loopback only, and scrape what the targets file says with the labels given there."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.prometheus.conftest import (
    LOOPBACK,
    PROMETHEUS_ENV,
    SCRAPE_INTERVAL_SECONDS,
    PrometheusServer,
    find_prometheus,
)

pytestmark = pytest.mark.integration


def test_missing_binary_fails_instead_of_skipping(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="apt-get install prometheus"):
        find_prometheus(
            env={"PATH": str(tmp_path), PROMETHEUS_ENV: str(tmp_path / "nope")}, default=tmp_path / "none"
        )


def test_explicit_binary_wins(tmp_path: Path) -> None:
    binary = tmp_path / "prometheus"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert find_prometheus(env={PROMETHEUS_ENV: str(binary)}) == binary


def test_listens_on_loopback_with_a_one_second_scrape(prometheus: PrometheusServer) -> None:
    flags = httpx.get(f"{prometheus.url}/api/v1/status/flags", timeout=5).json()["data"]
    assert flags["web.listen-address"].startswith(f"{LOOPBACK}:")
    config = httpx.get(f"{prometheus.url}/api/v1/status/config", timeout=5).json()["data"]["yaml"]
    assert f"scrape_interval: {SCRAPE_INTERVAL_SECONDS}s" in config
    assert "honor_labels: true" in config
