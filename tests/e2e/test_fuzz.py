"""Fuzzing the front door: Hypothesis-made LoadTest and CapacityRecommendation specs (tests/e2e/fuzz_specs.py:
from the CRDs' own schemas, wrong values mixed in) go through the real API server (server-side dry-run)
and through the operator's decision (the real observer, pure plan and executor over the in-memory API
server of the unit tests). Each one is rejected by the schema, refused with a condition and a message,
or accepted and planned (its Jobs, or its first child LoadTest, created); never a crash, never a hang.
A sample is then created for real, and the running operator must say the same thing.

LLMLOAD_FUZZ_EXAMPLES sets the specs per kind (500 here, so 1,000 in CI); 5000 runs 10,000.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from loadtest_operator.api import CAPACITY_PLURAL, GROUP, PLURAL, VERSION
from loadtest_operator.capacity.validation import parse_capacity_spec, validate_capacity_spec
from loadtest_operator.io.kube import Kube
from loadtest_operator.io.metrics import OperatorMetrics
from loadtest_operator.io.store import Store
from loadtest_operator.loadtest.validation import parse_spec, validate_spec
from loadtest_operator.reconcile.context import Context
from loadtest_operator.reconcile.settings import OperatorSettings
from tests.e2e.figures import record
from tests.e2e.fuzz_specs import specs
from tests.e2e.harness import Cluster, wait_until
from tests.e2e.operator_process import OperatorProcess
from tests.unit.capacity import test_capacity_reconcile as capacity
from tests.unit.capacity.specs import raw_spec
from tests.unit.loadtest.test_plan import FakeModels, Harness

EXAMPLES = int(os.environ.get("LLMLOAD_FUZZ_EXAMPLES", "500"))
MAX_DECISION_SECONDS = 5.0  # one tick of the plan on any spec; far more would be a hang
SAMPLE_LOADTESTS = 12
SAMPLE_CAPACITY = 6
PLURALS = {"LoadTest": PLURAL, "CapacityRecommendation": CAPACITY_PLURAL}


@dataclass
class Tally:
    kind: str
    schema_rejected: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    slowest: float = 0.0
    # (spec as the API server returned it, the reason the real operator must give)
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)

    def line(self, seconds: float) -> str:
        total = self.schema_rejected + sum(self.refused.values()) + self.accepted
        refusals = ", ".join(f"{r} {n}" for r, n in self.refused.most_common())
        return (
            f"{total} {self.kind} specs in {seconds:.1f} s: {self.schema_rejected} rejected by the schema, "
            f"{sum(self.refused.values())} refused by the operator ({refusals}), {self.accepted} accepted "
            f"and planned; slowest decision {self.slowest * 1000:.0f} ms"
        )


@pytest.fixture
def api(cluster: Cluster) -> Iterator[client.CustomObjectsApi]:
    api_client = config.new_client_from_config(config_file=cluster.kubeconfig)
    try:
        yield client.CustomObjectsApi(api_client)
    finally:
        api_client.close()


def dry_run(api: client.CustomObjectsApi, namespace: str, kind: str, spec: dict[str, Any]) -> Any:
    """The object as the API server would store it (defaults applied, unknown fields pruned), or the
    ApiException of its refusal."""
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "fuzz"}, "spec": spec}
    try:
        return api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[kind], body, dry_run="All"
        )
    except ApiException as exc:
        return exc


# Shared by every spec's harness: a Context's own ModelDiscovery builds an HTTP client (and its TLS
# context, some 200 ms) that these ticks never use.
MODELS = FakeModels()
SETTINGS = OperatorSettings()
LOG = logging.getLogger("fuzz")


class LoadTestHarness(Harness):
    def new_context(self) -> Context:
        return Context(kube=cast(Kube, self.kube), settings=SETTINGS, metrics=self.metrics,
                       store=cast(Store, self.store), models=MODELS, log=LOG)  # fmt: skip


class CapacityHarness(capacity.Harness):
    def __init__(self, kube: capacity.FakeKube, spec: dict[str, Any]) -> None:
        # capacity.Harness's own, with the shared Context parts (its __init__ would build a client).
        self.kube = kube
        self.ctx = Context(kube=cast(Kube, kube), settings=SETTINGS, metrics=OperatorMetrics(), store=None,
                           models=MODELS, log=LOG)  # fmt: skip
        meta = {"name": "fuzz", "namespace": "fuzz", "uid": "0f1e2d3c-0000-0000-0000-000000000001",
                "generation": 1, "creationTimestamp": "2026-11-23T05:00:00Z"}  # fmt: skip
        self.body: dict[str, Any] = {"metadata": meta, "spec": spec}
        self.events: list[tuple[str, str, str]] = []
        self.tick = 0


def loadtest_verdict(spec: dict[str, Any]) -> tuple[str | None, str]:
    """One tick of the LoadTest reconcile: (None, "") when accepted and its Jobs planned, else (reason,
    message) of Accepted=False."""
    h = LoadTestHarness(spec=spec)
    h.tick()
    accepted = next(c for c in h.body["status"]["conditions"] if c["type"] == "Accepted")
    if accepted["status"] == "True":
        parsed, _ = parse_spec(spec)
        assert parsed is not None
        jobs = [name for kind, name in h.kube.created if kind == "Job"]
        assert len(jobs) == parsed.load_generator.parallelism, (spec, jobs)
        return None, ""
    return str(accepted["reason"]), str(accepted.get("message") or "")


def capacity_verdict(spec: dict[str, Any]) -> tuple[str | None, str]:
    """One tick of the CapacityRecommendation reconcile: (None, "") when the search started (its first
    child LoadTest planned), else (reason, message) of Ready."""
    kube = capacity.FakeKube(capacity.deployment())
    h = CapacityHarness(kube, spec)
    h.reconcile()
    ready = h.ready()
    if ready["reason"] == "Searching" and kube.created:
        return None, ""
    assert ready["status"] == "False", (spec, ready)
    return str(ready["reason"]), str(ready.get("message") or "")


def expected_for_real(kind: str, spec: dict[str, Any], reason: str | None) -> str | None:
    """What the real operator must say of `spec` in an empty namespace (no Service, Deployment, Secret):
    a refusal of the spec itself is the same; a spec the in-memory cluster accepts misses its target."""
    if kind == "LoadTest":
        parsed, _ = parse_spec(spec)
        if parsed is None:
            return None
        if validate_spec(parsed):
            return reason
        return "ServiceNotFound" if parsed.target.service_ref is not None else None  # a URL would run
    parsed_cr, _ = parse_capacity_spec(spec)
    if parsed_cr is None or validate_capacity_spec(parsed_cr):
        return reason
    return "TargetUnavailable"


def fuzz(api: client.CustomObjectsApi, namespace: str, kind: str) -> Tally:
    tally = Tally(kind)
    verdict = loadtest_verdict if kind == "LoadTest" else capacity_verdict

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(specs(kind))
    def one(spec: dict[str, Any]) -> None:
        stored = dry_run(api, namespace, kind, spec)
        if isinstance(stored, ApiException):
            assert stored.status in (400, 422), (spec, stored.status, stored.body)
            assert stored.body, spec  # the API server says what is wrong
            tally.schema_rejected += 1
            stored_spec = None
        else:
            stored_spec = stored["spec"]
        # The operator never sees a spec the schema refused; it must survive one all the same.
        started = time.monotonic()
        reason, message = verdict(stored_spec if stored_spec is not None else spec)
        tally.slowest = max(tally.slowest, time.monotonic() - started)
        if stored_spec is None:
            return
        if reason is None:
            tally.accepted += 1
        else:
            assert message.strip(), (spec, reason)  # every refusal says what is wrong
            # The CRD and the operator's models agree: what the schema admits, the operator can read.
            assert not (kind == "LoadTest" and reason == "InvalidSpec"), (stored_spec, message)
            tally.refused[reason] += 1
        expected = expected_for_real(kind, stored_spec, reason)
        if expected is not None and expected not in tally.samples:
            tally.samples[expected] = stored_spec

    one()
    return tally


def test_fuzzed_specs_are_rejected_refused_or_planned_and_the_real_operator_agrees(
    cluster: Cluster, namespace: str, api: client.CustomObjectsApi, tmp_path: Path
) -> None:
    tallies = []
    for kind in ("LoadTest", "CapacityRecommendation"):
        started = time.monotonic()
        tally = fuzz(api, namespace, kind)
        seconds = time.monotonic() - started
        print(tally.line(seconds))
        total = tally.schema_rejected + sum(tally.refused.values()) + tally.accepted
        assert total == EXAMPLES
        # Every outcome was reached.
        assert tally.schema_rejected
        assert tally.refused
        assert tally.accepted
        assert tally.slowest < MAX_DECISION_SECONDS
        record(
            f"fuzz: {EXAMPLES} {kind} specs",
            "each rejected by the schema, refused with a reason, or planned; no crash, no hang",
            f"{tally.schema_rejected} schema / {sum(tally.refused.values())} refused "
            f"({len(tally.refused)} reasons) / {tally.accepted} planned; slowest {tally.slowest * 1000:.0f} ms",
            seconds,
        )
        tallies.append(tally)
    _real_sample(cluster, namespace, api, tmp_path, tallies)


def _real_sample(
    cluster: Cluster, namespace: str, api: client.CustomObjectsApi, tmp_path: Path, tallies: list[Tally]
) -> None:
    """Created for real, one spec per distinct expected reason: the running operator says the same."""
    operator = OperatorProcess(cluster, namespace, tmp_path)
    operator.start()
    created: list[tuple[str, str, str, float]] = []  # kind, name, expected reason, created at
    try:
        for tally, limit in zip(tallies, (SAMPLE_LOADTESTS, SAMPLE_CAPACITY), strict=True):
            for i, (expected, spec) in enumerate(sorted(tally.samples.items())[:limit]):
                name = f"{'lt' if tally.kind == 'LoadTest' else 'cr'}-{i}"
                body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": tally.kind, "metadata": {"name": name},
                        "spec": spec}  # fmt: skip
                api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[tally.kind], body)
                created.append((tally.kind, name, expected, time.monotonic()))
        agreed, slowest = 0, 0.0
        for kind, name, expected, at in created:
            type_ = "Accepted" if kind == "LoadTest" else "Ready"

            def said(kind: str = kind, name: str = name, type_: str = type_) -> dict[str, Any] | None:
                obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)
                conditions = (obj.get("status") or {}).get("conditions") or []
                return next((c for c in conditions if c["type"] == type_ and c["status"] == "False"), None)

            wait_until(lambda: said() is not None, timeout=60, what=f"{kind} {name}'s {type_} condition")
            slowest = max(slowest, time.monotonic() - at)
            condition = said()
            assert condition is not None
            assert condition["reason"] == expected, (name, condition)
            assert condition.get("message"), (name, condition)
            agreed += 1
        assert operator.proc is not None
        assert operator.proc.poll() is None  # the operator never crashed
    finally:
        operator.stop()
        print(f"\n==== operator log ====\n{operator.log_tail()}")
    reasons = sorted({e for _, _, e, _ in created})
    print(f"created for real: {len(created)} specs, the operator agreed on all ({', '.join(reasons)})")
    record(
        f"fuzz: {len(created)} specs created for real",
        "the running operator gives the same reason as the in-memory one",
        f"{agreed}/{len(created)} agree ({len(reasons)} reasons)",
        slowest,
    )


def test_the_fuzzer_reaches_valid_specs_the_cluster_accepts(
    api: client.CustomObjectsApi, namespace: str
) -> None:
    """The strategies' valid examples are valid (else the fuzz above would only ever test refusals)."""
    from tests.e2e.fuzz_specs import VALID_CAPACITY, VALID_LOADTEST

    for kind, spec in (("LoadTest", VALID_LOADTEST), ("CapacityRecommendation", VALID_CAPACITY)):
        assert not isinstance(dry_run(api, namespace, kind, spec), ApiException)
    assert loadtest_verdict(VALID_LOADTEST) == (None, "")
    assert capacity_verdict(VALID_CAPACITY) == (None, "")
    assert capacity_verdict(raw_spec()) == (None, "")
