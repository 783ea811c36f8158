"""The client's figures checked against vLLM's own: `spec.validation` (how close they must be) and the
per-level and run-level results in status. The method is in docs/gpu-metrics.md ("Validation").
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from loadtest_operator.api.base import ApiModel

# Failed checks named in status.validation; the count says how many there were in all.
MAX_LISTED_FAILURES = 32

DEFAULT_TOLERANCE_PERCENT = 5
DEFAULT_LATENCY_TOLERANCE_MILLISECONDS = 5


class Validation(ApiModel):
    """How closely the load generator's figures must agree with vLLM's own metrics (from Prometheus) for
    each level's checks to pass."""

    tolerance_percent: int = Field(
        default=DEFAULT_TOLERANCE_PERCENT,
        ge=0,
        le=100,
        description="Largest difference between the client's and vLLM's figures, in percent: of vLLM's "
        "counts (completed requests, output and prompt tokens) and of the client's mean TTFT and "
        "end-to-end latency.",
    )
    latency_tolerance_milliseconds: int = Field(
        default=DEFAULT_LATENCY_TOLERANCE_MILLISECONDS,
        ge=0,
        le=60_000,
        description="A latency check also passes when the client's and vLLM's means are at most this many "
        "milliseconds apart (a network hop and the client's own reading of the socket are always part of "
        "the client's figure; 5 ms keeps a 1 ms difference on a 3 ms TTFT from failing).",
    )


class CheckName(StrEnum):
    """What a validation check compares, client figure against vLLM's."""

    TTFT_MEAN = "TtftMean"  # client mean TTFT vs vllm:time_to_first_token_seconds _sum/_count
    E2E_MEAN = "E2eMean"  # client mean E2E vs vllm:e2e_request_latency_seconds _sum/_count
    COMPLETED_REQUESTS = "CompletedRequests"  # client successes vs vllm:request_success_total (stop|length)
    OUTPUT_TOKENS = "OutputTokens"  # client usage.completion_tokens vs vllm:generation_tokens_total
    PROMPT_TOKENS = "PromptTokens"  # client usage.prompt_tokens vs vllm:prompt_tokens_total


class ValidationCheck(ApiModel):
    """One figure of one level, as the client measured it and as vLLM counted it."""

    name: CheckName = Field(
        description="TtftMean, E2eMean (ms), CompletedRequests (requests), OutputTokens or PromptTokens "
        "(tokens)."
    )
    passed: bool = Field(description="Whether the client's figure is within the tolerance of vLLM's.")
    client: float = Field(description="The load generator's figure.")
    server: float = Field(
        description="vLLM's figure: a mean from its histogram's sum and count, or a counter's increase() "
        "over the level's window (extrapolated to the window's edges by Prometheus)."
    )
    server_min: float | None = Field(
        default=None,
        description="Counters: the fewest vLLM can have counted in the window (from the first scrape in it "
        "to the last), an exact lower bound.",
    )
    server_max: float | None = Field(
        default=None,
        description="Counters: the most vLLM can have counted in the window (from the last scrape before it "
        "to the first after it), an exact upper bound; absent when Prometheus had no scrape after the "
        "level yet, or a counter reset.",
    )
    difference_percent: float | None = Field(
        default=None, description="(client - server) / server, percent (absent when server is 0)."
    )


class LevelValidation(ApiModel):
    """The checks of one level and the tolerance they were judged with."""

    tolerance_percent: int = Field(ge=0, description="spec.validation.tolerancePercent used.")
    latency_tolerance_milliseconds: int = Field(
        ge=0, description="spec.validation.latencyToleranceMilliseconds used."
    )
    checks: list[ValidationCheck] = Field(
        max_length=len(CheckName), description="Every check vLLM's series allowed."
    )
    failed: int = Field(ge=0, description="Checks that did not pass.")


class ValidationSummary(ApiModel):
    """The run's checks, counted (the ServerAgreement condition says the same in words)."""

    tolerance_percent: int = Field(ge=0, description="spec.validation.tolerancePercent used.")
    checks: int = Field(ge=0, description="Checks made, all levels.")
    failed: int = Field(ge=0, description="Checks that did not pass, all levels.")
    failed_checks: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None,
        max_length=MAX_LISTED_FAILURES,
        description=f'The failed checks as "level <n>: <name>", at most {MAX_LISTED_FAILURES}.',
    )
