"""The chart's narrative.* values reach the results service as the settings it reads: off by default, the
endpoint, model and limits as environment variables, the API key only by secretKeyRef."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from loadtest_operator.results.reports import NarrativeSettings
from tests.integration.chart.test_chart import CHART, render
from tests.integration.chart.test_results_chart import helm_bin, results_objects

__all__ = ["helm_bin"]

pytestmark = pytest.mark.integration


def results_env(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (deploy,) = results_objects(docs, "Deployment")
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    env: list[dict[str, Any]] = container["env"]
    return env


def settings(
    env: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, secrets: dict[str, str]
) -> NarrativeSettings:
    """The settings the service builds from `env` (a secretKeyRef resolved from `secrets`, as the kubelet
    would)."""
    for item in env:
        if not item["name"].startswith("LLMLOAD_NARRATIVE_"):
            continue
        if "value" in item:
            monkeypatch.setenv(item["name"], item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            monkeypatch.setenv(item["name"], secrets[f"{ref['name']}/{ref['key']}"])
    return NarrativeSettings()


def test_the_narrative_is_off_by_default(helm_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = results_env(render(helm_bin))
    assert not [e for e in env if e["name"].startswith("LLMLOAD_NARRATIVE_")]
    assert settings(env, monkeypatch, {}).endpoint_or_none() is None


def test_endpoint_model_limits_and_the_key_from_a_secret(
    helm_bin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(
        helm_bin, "narrative.endpoint=http://vllm.models.svc:8000", "narrative.model=tiny-llama",
        "narrative.apiKeySecret.name=narrative-key", "narrative.totalSeconds=60", "narrative.maxChars=2000",
    )  # fmt: skip
    env = results_env(docs)
    key = next(e for e in env if e["name"] == "LLMLOAD_NARRATIVE_API_KEY")
    assert key == {
        "name": "LLMLOAD_NARRATIVE_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "narrative-key", "key": "api-key"}},
    }
    endpoint = settings(env, monkeypatch, {"narrative-key/api-key": "sk-from-secret"}).endpoint_or_none()
    assert endpoint is not None
    assert (endpoint.url, endpoint.model, endpoint.api_key) == (
        "http://vllm.models.svc:8000",
        "tiny-llama",
        "sk-from-secret",
    )
    assert (endpoint.total_seconds, endpoint.max_chars, endpoint.first_token_seconds) == (60, 2000, 30)
    assert endpoint.completions_url == "http://vllm.models.svc:8000/v1/chat/completions"
    # The key is in no rendered object, only its Secret's name.
    assert "sk-from-secret" not in str(docs)


def test_half_a_narrative_is_refused(helm_bin: str) -> None:
    proc = subprocess.run(
        [helm_bin, "template", "llmload", str(CHART), "--set", "narrative.endpoint=http://vllm:8000"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "narrative needs both narrative.endpoint and narrative.model" in proc.stderr


def test_an_endpoint_that_is_not_an_http_url_stops_the_service_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLMLOAD_NARRATIVE_ENDPOINT", "vllm.models:8000")
    monkeypatch.setenv("LLMLOAD_NARRATIVE_MODEL", "m")
    with pytest.raises(ValueError, match="is not an http:// or https:// URL of a server"):
        NarrativeSettings()
