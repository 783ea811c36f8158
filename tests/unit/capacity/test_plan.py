"""One reconcile at a time against a simulated deployment: the search runs through child LoadTests to a
recommendation, resumes after a restart without repeating a level, and fails with actionable CapacityReason."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loadtest_operator.api import CapacityRecommendationSpec, CapacityRecommendationStatus, ConditionStatus
from loadtest_operator.api.conditions import CapacityReason
from loadtest_operator.api.wire import to_wire
from loadtest_operator.capacity.deployment import DeploymentFacts
from loadtest_operator.capacity.plan import Decision, Observed, decide
from loadtest_operator.capacity.slo import reported_percentile
from loadtest_operator.capacity.validation import validate_capacity_spec
from loadtest_operator.capacity.workload import resolve_workload
from loadtest_operator.core.patch import merge_patch
from loadtest_operator.core.problems import Problem
from tests.unit.capacity.specs import PARENT, make_spec

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
FACTS = DeploymentFacts(current_replicas=2, gpus_per_replica=1, tensor_parallel_size=1, gpu_model="NVIDIA-L4")
TOKENS_PER_USER = 25.0


def finish(child: dict[str, Any], knee: int, ttft_p99_bad: float = 900.0) -> dict[str, Any]:
    """The child as the LoadTest operator leaves it: one level measured against a server whose knee
    (through the Service, all replicas) is `knee`."""
    level = int(child["metadata"]["labels"]["llmload.io/level"])
    good = level <= knee
    return {
        **child,
        "metadata": {**child["metadata"], "uid": f"uid-{child['metadata']['name']}"},
        "status": {
            "conditions": [
                {
                    "type": "Succeeded",
                    "status": "True",
                    "reason": "Completed",
                    "lastTransitionTime": "2026-11-23T05:00:00Z",
                }
            ],
            "levels": [
                {
                    "level": level,
                    "requests": 200,
                    "successes": 200,
                    "requestsPerSecond": level / 10,
                    "outputTokensPerSecond": TOKENS_PER_USER * level,
                    "totalTokensPerSecond": 40.0 * level,
                    "ttft": {
                        "p50": 100.0,
                        "p90": 200.0,
                        "p95": 250.0 if good else ttft_p99_bad - 50,
                        "p99": 300.0 if good else ttft_p99_bad,
                    },
                    "tpot": {"p50": 10.0, "p90": 20.0, "p99": 30.0},
                    "goodput": {
                        "count": 200 if good else 100,
                        "perSecond": 1.0,
                        "percent": 100.0 if good else 50.0,
                    },
                }
            ],
        },
    }


def observe(
    spec: CapacityRecommendationSpec,
    children: list[dict[str, Any]],
    previous: CapacityRecommendationStatus | None = None,
    facts: DeploymentFacts | None = FACTS,
    **extra: Any,
) -> Observed:
    return Observed(
        parent=PARENT,
        generation=1,
        spec=spec,
        previous=previous or CapacityRecommendationStatus(),
        workload=extra.pop("workload", resolve_workload(spec)),
        children=children,
        facts=facts,
        now=T0,
        spec_problems=validate_capacity_spec(spec),
        **extra,
    )


def run_search(spec: CapacityRecommendationSpec, knee: int) -> tuple[Decision, list[dict[str, Any]], int]:
    """Reconcile until nothing more is created; every tick is also replayed (a restart) and must agree."""
    children: list[dict[str, Any]] = []
    status = CapacityRecommendationStatus()
    ticks = 0
    created: set[str] = set()
    while True:
        ticks += 1
        assert ticks < 200
        result = decide(observe(spec, children, status))
        replay = decide(observe(spec, children, status))
        assert replay.create == result.create  # a restarted operator decides the same
        status = result.status
        if not result.create:
            return result, children, ticks
        (manifest,) = result.create
        name = manifest["metadata"]["name"]
        assert name not in created, f"{name} created twice"
        created.add(name)
        assert result.ready_reason == CapacityReason.SEARCHING
        children.append(manifest)
        running = decide(observe(spec, children, status))
        assert running.create == []  # nothing new while a child runs: one measurement at a time
        assert running.ready_reason == CapacityReason.SEARCHING
        children[-1] = finish(manifest, knee)


def test_search_to_a_recommendation() -> None:
    spec = make_spec(search={"startLevel": 8})
    result, children, _ = run_search(spec, knee=96)
    status = result.status
    assert result.ready_reason == CapacityReason.RECOMMENDED
    assert status.measured is not None
    assert status.measured.knee_level == 96  # exact: one step of 1
    assert status.measured.max_concurrency_per_replica_at_slo == 48
    assert status.measured.knee_is_lower_bound is False
    assert status.measured.output_tokens_per_second_at_knee == TOKENS_PER_USER * 96
    rec = status.recommendation
    assert rec is not None
    assert (rec.replicas, rec.total_gpus, rec.cost_per_hour) == (13, 13, "32.50")
    assert "ceil(500 \u00d7 1.20 / 48) = 13" in rec.formula
    assert status.workload is not None
    assert status.workload.peak == 500
    assert status.target == "service/vllm:8000"
    assert status.children == [
        c["metadata"]["name"]
        for c in sorted(children, key=lambda c: int(c["metadata"]["labels"]["llmload.io/level"]))
    ]
    trace = {e.level: e.within_slo for e in status.search_trace or []}
    assert trace[96] is True
    assert trace[97] is False
    assert result.scale_to is None  # never scales unless asked
    assert result.event is not None
    assert result.event.reason == CapacityReason.RECOMMENDED


def test_repeats_give_an_interval_and_every_repeat_is_measured() -> None:
    result, children, _ = run_search(make_spec(repeats=2, search={"startLevel": 16}), knee=40)
    measured = result.status.measured
    assert measured is not None
    assert measured.knee_level == 40
    assert measured.repeats == 2
    assert measured.goodput_percent_interval is not None
    knee_children = [c for c in children if c["metadata"]["labels"]["llmload.io/level"] == "40"]
    assert len(knee_children) == 2


def test_restart_mid_search_resumes_without_repeating_a_level() -> None:
    spec = make_spec(search={"startLevel": 8})
    done, children, _ = run_search(spec, knee=96)
    # the operator restarts with half the children finished and status lost
    half = children[: len(children) // 2]
    resumed = decide(observe(spec, half, CapacityRecommendationStatus()))
    (manifest,) = resumed.create
    assert manifest["metadata"]["name"] == children[len(half)]["metadata"]["name"]
    # and with everything finished, it recommends straight away
    again = decide(observe(spec, children, CapacityRecommendationStatus()))
    assert again.create == []
    assert again.status.recommendation == done.status.recommendation


def test_peak_headroom_and_price_changes_only_recompute() -> None:
    spec = make_spec(search={"startLevel": 8})
    done, children, _ = run_search(spec, knee=96)
    cheaper = make_spec(
        search={"startLevel": 8}, headroomPercent=0, cost={"pricePerGpuHour": "1.00", "currency": "EUR"}
    )
    result = decide(observe(cheaper, children, done.status))
    assert result.create == []
    assert result.status.recommendation is not None
    assert (result.status.recommendation.replicas, result.status.recommendation.cost_per_hour) == (
        11,
        "11.00",
    )
    assert result.event is None  # still Ready=True Recommended: no new Event


def test_the_replicas_measured_are_used_after_the_deployment_is_scaled() -> None:
    spec = make_spec(search={"startLevel": 8}, scaleDeployment=True, maxReplicas=20)
    done, children, _ = run_search(spec, knee=96)
    assert done.scale_to == 13
    scaled = DeploymentFacts(
        current_replicas=13, gpus_per_replica=1, tensor_parallel_size=1, gpu_model="NVIDIA-L4"
    )
    after = decide(observe(spec, children, done.status, facts=scaled))
    assert after.status.recommendation == done.status.recommendation
    assert after.scale_to == 13


def test_slo_unreachable_names_the_metric() -> None:
    result, children, _ = run_search(make_spec(), knee=0)
    assert result.ready_reason == CapacityReason.SLO_UNREACHABLE
    assert len(children) == 1  # level 1 missed: nothing else to try
    ready = (result.status.conditions or [])[0]
    assert ready.status is ConditionStatus.FALSE
    assert "even level 1 misses the SLO" in ready.message
    assert "ttft p95 850 ms > 500 ms" in ready.message  # the SLO is at p95
    assert result.status.recommendation is None


def test_a_failed_child_stops_the_search_with_its_reason() -> None:
    spec = make_spec()
    first = decide(observe(spec, [])).create[0]
    failed = {
        **first,
        "status": {
            "conditions": [
                {
                    "type": "Succeeded",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes",
                    "lastTransitionTime": "2026-11-23T05:00:00Z",
                }
            ]
        },
    }
    result = decide(observe(spec, [failed]))
    assert result.create == []
    assert result.ready_reason == CapacityReason.CHILD_FAILED
    assert "Unschedulable: 0/1 nodes" in (result.status.conditions or [])[0].message


def test_invalid_spec_creates_nothing() -> None:
    spec = make_spec(levelDurationSeconds=60)
    result = decide(observe(spec, []))
    assert result.create == []
    assert result.ready_reason == CapacityReason.INVALID_SPEC
    assert result.event is not None
    assert result.event.type == "Warning"


def test_an_unsettled_deployment_blocks_new_measurements_only() -> None:
    spec = make_spec(search={"startLevel": 8})
    problem = Problem(
        CapacityReason.TARGET_UNAVAILABLE, "Deployment vllm is not settled", "spec.target.deploymentRef"
    )
    blocked = decide(observe(spec, [], target_problems=[problem]))
    assert blocked.create == []
    assert blocked.ready_reason == CapacityReason.TARGET_UNAVAILABLE
    # once the search is done, a rollout (e.g. the recommended scale-up) does not hide the recommendation
    done, children, _ = run_search(spec, knee=96)
    after = decide(observe(spec, children, done.status, target_problems=[problem]))
    assert after.ready_reason == CapacityReason.RECOMMENDED


def test_from_prometheus_waits_for_the_derived_workload() -> None:
    spec = make_spec(workload={"fromPrometheus": {"windowSeconds": 86_400}})
    waiting = decide(observe(spec, [], workload=None))
    assert waiting.create == []
    assert waiting.ready_reason == CapacityReason.SEARCHING
    down = Problem(CapacityReason.PROMETHEUS_UNAVAILABLE, "connection refused", "spec.prometheus")
    failing = decide(observe(spec, [], workload=None, target_problems=[down]))
    assert failing.ready_reason == CapacityReason.PROMETHEUS_UNAVAILABLE


def test_a_changed_measurement_starts_a_new_search_and_drops_old_figures() -> None:
    spec = make_spec(search={"startLevel": 8})
    done, children, _ = run_search(spec, knee=96)
    stricter = make_spec(search={"startLevel": 8}, slo={"ttftMilliseconds": 250, "percentile": 95})
    result = decide(observe(stricter, children, done.status))
    assert result.status.recommendation is None
    assert result.status.measured is None
    (manifest,) = result.create
    assert manifest["metadata"]["labels"]["llmload.io/level"] == "8"
    assert manifest["metadata"]["name"] not in {c["metadata"]["name"] for c in children}


def test_condition_transition_time_moves_only_on_status_change() -> None:
    spec = make_spec()
    first = decide(observe(spec, []))
    (manifest,) = first.create
    later = Observed(**{**observe(spec, [manifest], first.status).__dict__, "now": T0 + timedelta(minutes=5)})
    second = decide(later)
    assert (second.status.conditions or [])[0].last_transition_time == T0
    assert second.event is None


@pytest.mark.parametrize("knee", [1, 7, 64, 300])
def test_levels_measured_grow_logarithmically(knee: int) -> None:
    _, children, _ = run_search(make_spec(search={"maxLevels": 64}), knee=knee)
    assert len(children) <= 2 * knee.bit_length() + 2


def test_the_worked_example_in_the_docs_is_what_the_code_computes() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "capacity.md").read_text(encoding="utf-8")
    result, children, _ = run_search(make_spec(search={"startLevel": 8}), knee=96)
    assert len(children) == 11
    rec = result.status.recommendation
    assert rec is not None
    for part in rec.formula.split("; ")[:4]:
        assert part in docs
    assert rec.patch_command in docs


def test_status_patch_clears_what_a_new_search_withdraws() -> None:
    spec = make_spec(search={"startLevel": 8})
    done, children, _ = run_search(spec, knee=96)
    previous = to_wire(done.status)
    assert previous["recommendation"]["replicas"] == 13
    assert None not in previous.values()
    stricter = make_spec(search={"startLevel": 8}, slo={"ttftMilliseconds": 250, "percentile": 95})
    patch = merge_patch(previous, to_wire(decide(observe(stricter, children, done.status)).status))
    assert patch["recommendation"] is None
    assert patch["measured"] is None
    assert patch["conditions"][0]["reason"] == CapacityReason.SEARCHING


def test_a_miss_is_quoted_at_the_slos_percentile_or_a_stricter_reported_one() -> None:
    assert [reported_percentile(p)[1] for p in (50, 90, 95, 97, 99, 100)] == [
        "p50",
        "p90",
        "p95",
        "p99",
        "p99",
        "p99.9",
    ]
