"""Child LoadTests: deterministic names, ownership, labels, a valid LoadTest spec, and reading them back."""

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from loadtest_operator.api import CAPACITY_KIND, LoadMode, ResolvedWorkload, TokenDistribution, WorkloadSource
from loadtest_operator.capacity.children import (
    ChildState,
    build_child,
    child_name,
    children_selector,
    measurement_hash,
    read_child,
)
from loadtest_operator.capacity.deployment import DeploymentFacts
from loadtest_operator.capacity.workload import resolve_workload
from loadtest_operator.core.owner import Owner
from loadtest_operator.loadtest.validation import parse_spec, validate_spec
from tests.unit.capacity.specs import PARENT, make_spec

FACTS = DeploymentFacts(current_replicas=2, gpus_per_replica=1, tensor_parallel_size=1, gpu_model="NVIDIA-L4")


def workload() -> ResolvedWorkload:
    resolved = resolve_workload(make_spec())
    assert resolved is not None
    return resolved


def test_child_manifest() -> None:
    child = build_child(PARENT, make_spec(), workload(), 48, 1, FACTS)
    assert child["apiVersion"] == "llmload.io/v1alpha1"
    assert child["kind"] == "LoadTest"
    metadata = child["metadata"]
    assert metadata["namespace"] == "bench"
    assert metadata["name"].startswith("llama-next-month-")
    assert metadata["name"].endswith("-l48-r1")
    (owner,) = metadata["ownerReferences"]
    assert owner == {
        "apiVersion": "llmload.io/v1alpha1",
        "kind": "CapacityRecommendation",
        "name": PARENT.name,
        "uid": PARENT.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    labels = metadata["labels"]
    assert labels["llmload.io/capacity-recommendation"] == PARENT.name
    assert labels["llmload.io/capacity-recommendation-uid"] == PARENT.uid
    assert (labels["llmload.io/level"], labels["llmload.io/repeat"]) == ("48", "1")
    assert children_selector(PARENT) == f"llmload.io/capacity-recommendation-uid={PARENT.uid}"
    assert metadata["annotations"]["llmload.io/measured-replicas"] == "2"
    assert metadata["annotations"]["llmload.io/measured-gpu-model"] == "NVIDIA-L4"


def test_child_spec_is_a_valid_loadtest_of_one_level() -> None:
    child = build_child(PARENT, make_spec(), workload(), 48, 0, FACTS)
    spec, problems = parse_spec(child["spec"])
    assert problems == []
    assert spec is not None
    assert validate_spec(spec) == []
    assert spec.load.levels == [48]
    assert spec.load.mode is LoadMode.CONCURRENCY
    assert spec.load.requests_per_level == 200
    assert spec.slo is not None
    assert (spec.slo.ttft_milliseconds, spec.slo.percentile) == (500, 95)
    assert "deploymentRef" not in child["spec"]["target"]
    assert "goodputPercent" not in child["spec"]["slo"]
    # no empty strings or nulls go to the API server
    assert "None" not in str(child)
    assert "''" not in str(child)


def test_rate_children() -> None:
    spec = make_spec(
        workload={"peakRequestsPerSecond": 30, "inputTokens": {"mean": 9}, "outputTokens": {"mean": 9}}
    )
    resolved = resolve_workload(spec)
    assert resolved is not None
    child = build_child(PARENT, spec, resolved, 6, 0, FACTS)
    assert child["spec"]["load"]["mode"] == "Rate"


@given(
    name=st.from_regex(r"[a-z]([-a-z0-9]{0,250}[a-z0-9])?", fullmatch=True),
    level=st.integers(1, 100_000),
    repeat=st.integers(0, 9),
)
def test_names_fit_and_are_deterministic(name: str, level: int, repeat: int) -> None:
    parent = Owner(name=name, namespace="ns", uid="u", kind=CAPACITY_KIND)
    first = child_name(parent, "abc", level, repeat)
    assert len(first) <= 63
    assert first == child_name(parent, "abc", level, repeat)
    assert first[-1].isalnum()
    assert first != child_name(parent, "abd", level, repeat)
    assert first != child_name(
        Owner(name=name, namespace="ns", uid="v", kind=CAPACITY_KIND), "abc", level, repeat
    )


def test_measurement_hash_ignores_what_does_not_change_a_measurement() -> None:
    base = measurement_hash(make_spec(), workload())
    for same in (
        make_spec(headroomPercent=50),
        make_spec(cost={"pricePerGpuHour": "9.99"}),
        make_spec(repeats=3),
        make_spec(search={"maxLevels": 30}),
        make_spec(
            slo={"ttftMilliseconds": 500, "tpotMilliseconds": 50, "percentile": 95, "goodputPercent": 80}
        ),
    ):
        assert measurement_hash(same, workload()) == base
    changed = make_spec(slo={"ttftMilliseconds": 400, "tpotMilliseconds": 50, "percentile": 95})
    assert measurement_hash(changed, workload()) != base
    longer = workload().model_copy(update={"output_tokens": TokenDistribution(mean=1024)})
    assert measurement_hash(make_spec(), longer) != base
    also_peak = workload().model_copy(update={"peak": 9, "source": WorkloadSource.PROMETHEUS})
    assert measurement_hash(make_spec(), also_peak) == base


def finished(
    child: dict[str, Any], goodput: float | None, succeeded: str = "True", reason: str = "Completed"
) -> dict[str, Any]:
    level = int(child["metadata"]["labels"]["llmload.io/level"])
    status: dict[str, Any] = {
        "conditions": [
            {
                "type": "Succeeded",
                "status": succeeded,
                "reason": reason,
                "message": "x",
                "lastTransitionTime": "2026-11-23T05:00:00Z",
            }
        ]
    }
    if goodput is not None:
        status["levels"] = [
            {
                "level": level,
                "requests": 200,
                "successes": 200,
                "requestsPerSecond": 4.0,
                "outputTokensPerSecond": 2048.0,
                "totalTokensPerSecond": 3072.0,
                "goodput": {"count": int(goodput * 2), "perSecond": 1.0, "percent": goodput},
            }
        ]
    return {**child, "metadata": {**child["metadata"], "uid": "child-uid"}, "status": status}


def test_read_child_states() -> None:
    child = build_child(PARENT, make_spec(), workload(), 8, 0, FACTS)
    running = read_child(child)
    assert running is not None
    assert running.state is ChildState.RUNNING
    assert running.goodput_percent is None
    measured = read_child(finished(child, 97.5))
    assert measured is not None
    assert (measured.state, measured.level, measured.repeat, measured.goodput_percent) == (
        ChildState.MEASURED,
        8,
        0,
        97.5,
    )
    assert measured.facts == FACTS
    # a LoadTest whose criteria failed still measured its level
    criteria = read_child(finished(child, 50.0, succeeded="False", reason="CriteriaNotMet"))
    assert criteria is not None
    assert criteria.state is ChildState.MEASURED
    failed = read_child(finished(child, None, succeeded="False", reason="ShardFailed"))
    assert failed is not None
    assert failed.state is ChildState.FAILED
    assert "ShardFailed" in failed.message
    assert read_child({"metadata": {"name": "a-users-loadtest", "labels": {}}}) is None


def test_energy_by_child_reads_the_gpu_figures_of_finished_children() -> None:
    from loadtest_operator.capacity.children import energy_by_child

    with_gpu = {
        "metadata": {"name": "a"},
        "status": {"levels": [{"level": 8, "gpu": {"joulesPer1kOutputTokens": 512.5}}]},
    }
    without = {"metadata": {"name": "b"}, "status": {"levels": [{"level": 8}]}}
    running = {"metadata": {"name": "c"}, "status": {}}

    assert energy_by_child([with_gpu, without, running]) == {"a": 512.5}


def test_children_check_their_figures_with_the_parents_tolerance() -> None:
    assert (
        build_child(PARENT, make_spec(), workload(), 48, 0, FACTS)["spec"]["validation"]["tolerancePercent"]
        == 5
    )
    strict = make_spec(validation={"tolerancePercent": 1, "latencyToleranceMilliseconds": 0})
    child = build_child(PARENT, strict, workload(), 48, 0, FACTS)
    assert child["spec"]["validation"] == {"tolerancePercent": 1, "latencyToleranceMilliseconds": 0}
