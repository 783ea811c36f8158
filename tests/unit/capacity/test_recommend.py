"""The recommendation formula: a table of cases, rounding and headroom edges included."""

import json
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest_operator.api import LoadMode
from loadtest_operator.capacity.recommend import SizingInputs, deployment_patch, formula, recommend, size


def inputs(**overrides: object) -> SizingInputs:
    values: dict[str, object] = {
        "mode": LoadMode.CONCURRENCY,
        "peak": 500,
        "headroom_percent": 20,
        "knee": 96,
        "current_replicas": 2,
        "gpus_per_replica": 1,
        "output_tokens_per_second_at_knee": 2400.0,
        "price_per_gpu_hour": Decimal("2.50"),
        "currency": "USD",
    }
    values.update(overrides)
    return SizingInputs(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "replicas", "gpus", "cost"),
    [
        ({}, 13, 13, "32.50"),  # ceil(500 * 1.2 / 48) = ceil(12.5) = 13
        ({"headroom_percent": 0}, 11, 11, "27.50"),  # ceil(500 / 48) = ceil(10.42)
        ({"peak": 480, "headroom_percent": 0}, 10, 10, "25.00"),  # exactly 10: no extra replica
        ({"peak": 400, "headroom_percent": 20}, 10, 10, "25.00"),  # 480 / 48 exactly, headroom applied first
        ({"peak": 401, "headroom_percent": 20}, 11, 11, "27.50"),  # 481.2 / 48 just above 10
        ({"peak": 1, "headroom_percent": 0}, 1, 1, "2.50"),  # never fewer than one replica
        ({"headroom_percent": 100}, 21, 21, "52.50"),  # ceil(1000 / 48) = ceil(20.83)
        ({"gpus_per_replica": 4}, 13, 52, "130.00"),
        (
            {"knee": 100, "current_replicas": 3, "peak": 100, "headroom_percent": 0},
            3,
            3,
            "7.50",
        ),  # exact 100/3
        ({"price_per_gpu_hour": Decimal("1.005"), "gpus_per_replica": 1}, 13, 13, "13.07"),  # 13.065 half-up
        ({"price_per_gpu_hour": Decimal("0.333")}, 13, 13, "4.33"),  # 4.329
        ({"mode": LoadMode.RATE, "peak": 50, "knee": 12, "current_replicas": 1}, 5, 5, "12.50"),  # 60 / 12
    ],
)
def test_sizing_table(overrides: dict[str, object], replicas: int, gpus: int, cost: str) -> None:
    sizing = size(inputs(**overrides))
    assert sizing.replicas == replicas
    assert sizing.total_gpus == gpus
    assert str(sizing.cost_per_hour) == cost


def test_float_division_would_add_a_replica_where_exact_arithmetic_does_not() -> None:
    # knee 1 over 2 replicas, peak 25 with 10% headroom: 27.5 / 0.5 = 55 exactly, but in floats
    # 25 * 1.1 / 0.5 = 55.00000000000001 -> ceil 56. The formula's exact arithmetic says 55.
    assert math.ceil(25 * (1 + 10 / 100) / (1 / 2)) == 56
    assert size(inputs(knee=1, current_replicas=2, peak=25, headroom_percent=10)).replicas == 55


def test_cost_per_million_output_tokens() -> None:
    # 2400 tok/s at 96 users -> 25 tok/s per user -> 12,500 tok/s at the peak of 500;
    # 32.50 / (12,500 * 3600) * 1e6 = 0.72222... -> 0.7222
    sizing = size(inputs())
    assert sizing.output_tokens_per_second_at_peak == pytest.approx(12_500)
    assert sizing.cost_per_million_output_tokens == Decimal("0.7222")


def test_no_price_no_cost_and_no_throughput_no_cost_per_token() -> None:
    assert size(inputs(price_per_gpu_hour=None)).cost_per_hour is None
    sizing = size(inputs(output_tokens_per_second_at_knee=None))
    assert sizing.cost_per_hour == Decimal("32.50")
    assert sizing.cost_per_million_output_tokens is None
    assert size(inputs(output_tokens_per_second_at_knee=0.0)).cost_per_million_output_tokens is None


def test_formula_shows_its_numbers() -> None:
    text = formula(inputs(), size(inputs()))
    assert "capacityPerReplica = knee / currentReplicas = 96 / 2 = 48" in text
    assert "replicas = ceil(peak \u00d7 (1 + headroomPercent/100) / capacityPerReplica) = " in text
    assert "ceil(500 \u00d7 1.20 / 48) = 13" in text
    assert "totalGpus = replicas \u00d7 gpusPerReplica = 13 \u00d7 1 = 13" in text
    assert "costPerHour = totalGpus \u00d7 pricePerGpuHour = 13 \u00d7 2.50 USD = 32.50 USD" in text
    assert "= 0.7222 USD" in text


@pytest.mark.parametrize(("headroom", "factor"), [(0, "1.00"), (5, "1.05"), (20, "1.20"), (150, "2.50")])
def test_formula_headroom_factor(headroom: int, factor: str) -> None:
    assert f"\u00d7 {factor} /" in formula(
        inputs(headroom_percent=headroom), size(inputs(headroom_percent=headroom))
    )


def test_formula_keeps_a_fractional_capacity_exact() -> None:
    case = inputs(knee=100, current_replicas=3, peak=100, headroom_percent=0)
    text = formula(case, size(case))
    assert "100 / 3 = (100/3) \u2248 33.33" in text
    assert "ceil(100 \u00d7 1.00 / (100/3)) = 3" in text


def test_recommendation_status_fields() -> None:
    rec = recommend(inputs(), namespace="bench", deployment="vllm", slo_text="ttft <= 500 ms")
    assert (rec.replicas, rec.total_gpus, rec.cost_per_hour, rec.currency) == (13, 13, "32.50", "USD")
    assert rec.cost_per_million_output_tokens == "0.7222"
    assert json.loads(rec.deployment_patch) == {"spec": {"replicas": 13}}
    assert rec.patch_command == (
        'kubectl -n bench patch deployment vllm --type merge -p \'{"spec":{"replicas":13}}\''
    )
    assert rec.estimated_max_load == 13 * 48
    assert rec.estimated_max_output_tokens_per_second == pytest.approx(13 * 48 * 25)
    assert "held 96 concurrent requests within the SLO (ttft <= 500 ms)" in rec.reasoning
    assert "linearly" in rec.reasoning
    assert "lower bound" not in rec.reasoning
    lower = recommend(inputs(knee_is_lower_bound=True), namespace="bench", deployment="vllm")
    assert "lower bound" in lower.reasoning


def test_deployment_patch_is_compact_json() -> None:
    assert deployment_patch(3) == '{"spec":{"replicas":3}}'


@pytest.mark.parametrize(
    "bad",
    [{"knee": 0}, {"current_replicas": 0}, {"peak": 0}, {"headroom_percent": -1}, {"gpus_per_replica": -1}],
)
def test_inputs_refuse_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"knee|replicas|peak"):
        inputs(**bad)


@given(
    peak=st.integers(1, 100_000),
    headroom=st.integers(0, 300),
    knee=st.integers(1, 10_000),
    current=st.integers(1, 64),
)
def test_replicas_are_the_smallest_count_that_holds_the_sized_peak(
    peak: int, headroom: int, knee: int, current: int
) -> None:
    sizing = size(inputs(peak=peak, headroom_percent=headroom, knee=knee, current_replicas=current))
    per_replica = Fraction(knee, current)
    sized = peak * Fraction(100 + headroom, 100)
    assert sizing.replicas * per_replica >= sized
    assert sizing.replicas == 1 or (sizing.replicas - 1) * per_replica < sized
