"""The recommendation maths: one formula, applied the same way every time (docs/capacity.md).

    capacityPerReplica = knee / currentReplicas
    replicas           = ceil(peak * (1 + headroomPercent/100) / capacityPerReplica)     (at least 1)
    totalGpus          = replicas * gpusPerReplica
    costPerHour        = totalGpus * pricePerGpuHour                              (rounded to cents)
    outputTokensPerSecondAtPeak = outputTokensPerSecondAtKnee / knee * peak
    costPerMillionOutputTokens  = costPerHour / (outputTokensPerSecondAtPeak * 3600) * 1e6

`knee` is the highest load level (concurrency, or requests per second) measured within the SLO through
the Service, i.e. across all `currentReplicas` ready replicas at once; dividing by them assumes capacity
scales linearly with replicas (the Service spreads requests evenly, and nothing shared - network,
storage, a gateway - saturates first). Replica counts use exact rational arithmetic (no float rounding
can add or drop a replica); money uses Decimal.
"""

import json
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from loadtest_operator.api import LoadMode, Recommendation

TIMES = "\u00d7"
APPROX = "\u2248"
CENT = Decimal("0.01")
COST_PER_MILLION_QUANTUM = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class SizingInputs:
    mode: LoadMode
    peak: int
    headroom_percent: int
    knee: int
    current_replicas: int
    gpus_per_replica: int
    tensor_parallel_size: int = 1
    output_tokens_per_second_at_knee: float | None = None
    price_per_gpu_hour: Decimal | None = None
    currency: str | None = None
    energy_per_1k_output_tokens_joules: float | None = None
    knee_is_lower_bound: bool = False

    def __post_init__(self) -> None:
        if self.knee < 1:
            raise ValueError("no knee: nothing to size from (SloUnreachable)")
        if self.current_replicas < 1:
            raise ValueError("no ready replicas were measured")
        if self.peak < 1 or self.headroom_percent < 0 or self.gpus_per_replica < 0:
            raise ValueError("peak must be positive, headroom and GPUs not negative")


@dataclass(frozen=True, slots=True)
class Sizing:
    """The numbers of the formula, exact where they can be."""

    capacity_per_replica: Fraction
    sized_load: Fraction  # peak * (1 + headroom)
    replicas: int
    total_gpus: int
    cost_per_hour: Decimal | None
    output_tokens_per_second_at_peak: float | None
    cost_per_million_output_tokens: Decimal | None
    estimated_max_load: Fraction
    estimated_max_output_tokens_per_second: float | None


def size(inputs: SizingInputs) -> Sizing:
    """Apply the formula."""
    capacity = Fraction(inputs.knee, inputs.current_replicas)
    sized_load = inputs.peak * Fraction(100 + inputs.headroom_percent, 100)
    replicas = max(1, math.ceil(sized_load / capacity))
    total_gpus = replicas * inputs.gpus_per_replica
    exact_cost = None if inputs.price_per_gpu_hour is None else total_gpus * inputs.price_per_gpu_hour
    tokens_per_unit = (
        None
        if inputs.output_tokens_per_second_at_knee is None
        else inputs.output_tokens_per_second_at_knee / inputs.knee
    )
    at_peak = None if tokens_per_unit is None else tokens_per_unit * inputs.peak
    per_million = None
    if exact_cost is not None and at_peak is not None and at_peak > 0:
        per_million = (exact_cost * 1_000_000 / (Decimal(repr(at_peak)) * 3600)).quantize(
            COST_PER_MILLION_QUANTUM, rounding=ROUND_HALF_UP
        )
    max_load = replicas * capacity
    return Sizing(
        capacity_per_replica=capacity,
        sized_load=sized_load,
        replicas=replicas,
        total_gpus=total_gpus,
        cost_per_hour=None if exact_cost is None else exact_cost.quantize(CENT, rounding=ROUND_HALF_UP),
        output_tokens_per_second_at_peak=at_peak,
        cost_per_million_output_tokens=per_million,
        estimated_max_load=max_load,
        estimated_max_output_tokens_per_second=None
        if tokens_per_unit is None
        else tokens_per_unit * float(max_load),
    )


def _number(value: Fraction) -> str:
    """An exact rational for a formula: "48", or "(96/7)" when it is not whole."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"({value.numerator}/{value.denominator})"


def _approx(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{APPROX} {float(value):.2f}"


def _factor(headroom_percent: int) -> str:
    """1 + headroom/100 with two decimals, exactly: 20 -> "1.20", 5 -> "1.05", 150 -> "2.50"."""
    total = 100 + headroom_percent
    return f"{total // 100}.{total % 100:02d}"


def formula(inputs: SizingInputs, sizing: Sizing) -> str:
    """The formula with its numbers, e.g. `replicas = ceil(500 \u00d7 1.20 / 48) = 13` (with the sign)."""
    cap = sizing.capacity_per_replica
    parts = [
        f"capacityPerReplica = knee / currentReplicas = {inputs.knee} / {inputs.current_replicas} = "
        + (_number(cap) if cap.denominator == 1 else f"{_number(cap)} {_approx(cap)}"),
        f"replicas = ceil(peak {TIMES} (1 + headroomPercent/100) / capacityPerReplica) = "
        f"ceil({inputs.peak} {TIMES} {_factor(inputs.headroom_percent)} / {_number(cap)}) = {sizing.replicas}",
        f"totalGpus = replicas {TIMES} gpusPerReplica = {sizing.replicas} {TIMES} {inputs.gpus_per_replica} "
        f"= {sizing.total_gpus}",
    ]
    if sizing.cost_per_hour is not None and inputs.price_per_gpu_hour is not None:
        currency = f" {inputs.currency}" if inputs.currency else ""
        parts.append(
            f"costPerHour = totalGpus {TIMES} pricePerGpuHour = {sizing.total_gpus} {TIMES} "
            f"{inputs.price_per_gpu_hour}{currency} = {sizing.cost_per_hour}{currency}"
        )
        if sizing.cost_per_million_output_tokens is not None and sizing.output_tokens_per_second_at_peak:
            parts.append(
                f"costPerMillionOutputTokens = costPerHour / (outputTokensPerSecondAtPeak {TIMES} 3600) "
                f"{TIMES} 1e6 = {sizing.cost_per_hour} / ({sizing.output_tokens_per_second_at_peak:.1f} "
                f"{TIMES} 3600) {TIMES} 1e6 = {sizing.cost_per_million_output_tokens}{currency}"
            )
    return "; ".join(parts)


def _unit(mode: LoadMode) -> str:
    return "concurrent requests" if mode is LoadMode.CONCURRENCY else "requests per second"


def reasoning(
    inputs: SizingInputs, sizing: Sizing, *, slo_text: str = "", gpu_model: str | None = None
) -> str:
    """The recommendation in plain language."""
    unit = _unit(inputs.mode)
    gpus = f"{inputs.gpus_per_replica} {gpu_model or 'GPU'}" + ("" if inputs.gpus_per_replica == 1 else "s")
    replicas_word = "replica" if inputs.current_replicas == 1 else "replicas"
    within = f" within the SLO ({slo_text})" if slo_text else " within the SLO"
    text = [
        f"Measured through the Service, the {inputs.current_replicas} ready {replicas_word} "
        f"({gpus} each, tensor parallel size {inputs.tensor_parallel_size}) held {inputs.knee} {unit}"
        f"{within}; that is {_approx(sizing.capacity_per_replica)} {unit} per replica.",
    ]
    if inputs.knee_is_lower_bound:
        text.append(
            "No measured level missed the SLO, so this is a lower bound of the capacity and the "
            "recommendation errs on the side of more replicas."
        )
    text.append(
        f"A peak of {inputs.peak} {unit} with {inputs.headroom_percent}% headroom is "
        f"{_approx(sizing.sized_load)} {unit}, which needs {sizing.replicas} "
        f"{'replica' if sizing.replicas == 1 else 'replicas'} ({sizing.total_gpus} GPUs)."
    )
    if sizing.cost_per_hour is not None:
        currency = inputs.currency or ""
        cost = f"They cost {sizing.cost_per_hour} {currency} per hour".replace("  ", " ")
        if sizing.cost_per_million_output_tokens is not None:
            cost += (
                f", {sizing.cost_per_million_output_tokens} {currency} per million output tokens at the peak"
            )
        text.append(cost + ".")
    text.append(
        "This assumes capacity grows linearly with replicas: the Service spreads requests evenly and "
        "nothing shared saturates first."
    )
    return " ".join(text)


def deployment_patch(replicas: int) -> str:
    """A JSON merge patch setting the Deployment's replicas."""
    return json.dumps({"spec": {"replicas": replicas}}, separators=(",", ":"))


def recommend(
    inputs: SizingInputs,
    *,
    namespace: str,
    deployment: str,
    slo_text: str = "",
    gpu_model: str | None = None,
) -> Recommendation:
    """The status.recommendation of `inputs`."""
    sizing = size(inputs)
    patch = deployment_patch(sizing.replicas)
    return Recommendation(
        replicas=sizing.replicas,
        total_gpus=sizing.total_gpus,
        tensor_parallel_size=inputs.tensor_parallel_size,
        estimated_max_load=round(float(sizing.estimated_max_load), 3),
        estimated_output_tokens_per_second_at_peak=_round(sizing.output_tokens_per_second_at_peak),
        estimated_max_output_tokens_per_second=_round(sizing.estimated_max_output_tokens_per_second),
        formula=formula(inputs, sizing),
        reasoning=reasoning(inputs, sizing, slo_text=slo_text, gpu_model=gpu_model),
        cost_per_hour=None if sizing.cost_per_hour is None else str(sizing.cost_per_hour),
        cost_per_million_output_tokens=None
        if sizing.cost_per_million_output_tokens is None
        else str(sizing.cost_per_million_output_tokens),
        currency=inputs.currency if sizing.cost_per_hour is not None else None,
        energy_per_1k_tokens_joules=inputs.energy_per_1k_output_tokens_joules,
        deployment_patch=patch,
        patch_command=f"kubectl -n {namespace} patch deployment {deployment} --type merge -p '{patch}'",
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
